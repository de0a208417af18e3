#!/usr/bin/env bash
# Issue #7 CI extras, run by scripts/test.sh after the mocha suite when CI=true or IOC_FULL_CI=1
# (or directly):
#   1. the libFuzzer run over the protocol decoder (scripts/fuzz.sh, FUZZ_SECONDS, default 60);
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build (IOC_SANITIZE=ON) into build-asan/
#      (+ dist-asan/), then under it: the native tests, a daemon under the live fuzzer with leak
#      detection on, and the end-to-end mocha suite (IOC_ASAN_SPEC, default: the whole suite);
#      every sanitizer report is written to a log directory, and any report fails the step.
#   3. the soak test when IOC_SOAK=1 (off by default);
#   4. the server-death rounds of test/server-death.test.ts, 20 of each (6 in the suite);
#   5. the randomized partition checker of test/partition.test.ts (IOC_LONG_FAULTS, on by default here);
#   6. the checkpoint-set crash rounds of test/checkpoint-crash.test.ts, 30 per case (IOC_LONG_CHECKPOINT_CRASH).
# First, the packaging tests (package.test.ts, examples-package.test.ts; the suite skips them) with
# an npm cache that starts empty, as on a new machine (the `npm ci` in a clean archive and the
# consumers' installs then fetch everything from the registry).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "ci-extra: packaging with an empty npm cache (the suite leaves these two to this pass)"
EMPTY_NPM_CACHE="$(mktemp -d /tmp/iocatcher-npm-cache-XXXXXX)"
IOC_SKIP_PACK_TEST= npm_config_cache="$EMPTY_NPM_CACHE" npx --no-install mocha --no-config --timeout 600000 \
  dist/test/package.test.js dist/test/examples-package.test.js
rm -rf "$EMPTY_NPM_CACHE"

echo "ci-extra: libFuzzer"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}" bash scripts/fuzz.sh

echo "ci-extra: sanitizer build (build-asan, dist-asan)"
npx --no-install cmake-js compile --out build-asan --CDIOC_SANITIZE=ON --CDIOC_BUILD_TOOLS=ON --log-level error >/tmp/iocatcher-asan-build.log 2>&1 || {
  tail -50 /tmp/iocatcher-asan-build.log >&2
  echo "ci-extra: sanitizer build failed" >&2
  exit 1
}
npx --no-install tsc -p tsconfig.json --outDir dist-asan

REPORTS="$(mktemp -d /tmp/iocatcher-sanitizer-XXXXXX)"
BIN=build-asan/Release
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$REPORTS/ubsan"
ASAN_BASE="log_path=$REPORTS/asan:detect_odr_violation=0:handle_sigbus=0"

echo "ci-extra: native tests under ASan/UBSan (leak detection on)"
ASAN_OPTIONS="$ASAN_BASE:detect_leaks=1" "$BIN/iocatcher-codec-test" >/dev/null
ASAN_OPTIONS="$ASAN_BASE:detect_leaks=1" "$BIN/iocatcher-router-test" >/dev/null
ASAN_OPTIONS="$ASAN_BASE:detect_leaks=1" "$BIN/iocatcher-fuzz-protocol" --random 200000 test/fuzz-corpus/protocol

echo "ci-extra: sanitized daemon under the live fuzzer (leak detection on at its exit)"
STORE="$(mktemp -d /tmp/iocatcher-asan-store-XXXXXX)"
PORT=$((30000 + RANDOM % 20000 / 2 * 2))
ASAN_OPTIONS="$ASAN_BASE:detect_leaks=1" "$BIN/iocatcher-serverd" --port "$PORT" --store "$STORE" 127.0.0.1 \
  >"$REPORTS/daemon.out" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do grep -q "ready on" "$REPORTS/daemon.out" && break; sleep 0.1; done
ASAN_OPTIONS="$ASAN_BASE:detect_leaks=1" "$BIN/iocatcher-live-fuzz" 127.0.0.1 "$PORT" fuzz --count 1000 --seed 3 --tcp-junk 100 | head -1
kill -TERM "$DAEMON"
wait "$DAEMON" || { echo "ci-extra: the sanitized daemon exited with $?" >&2; tail -20 "$REPORTS/daemon.out" >&2; exit 1; }
rm -rf "$STORE"

echo "ci-extra: end-to-end tests under ASan/UBSan"
# Node itself is not instrumented: the runtime is preloaded for the addon, and leak detection
# is off in node processes (node keeps memory at exit by design); daemons started by the tests
# inherit the same options.
LIBASAN="$(gcc -print-file-name=libasan.so)"
SPEC="${IOC_ASAN_SPEC:-dist-asan/test/**/*.test.js}"
set +e
# The RADOS file is left out here: LD_PRELOAD of the ASan runtime reaches the Ceph tools the test
# cluster is built with (python's rados binding aborts inside ASan's __cxa_throw interceptor);
# the RADOS tests run in the normal suite.
IOC_SKIP_RADOS=1 IOC_SANITIZED=1 IOC_BUILD_DIR="$PWD/build-asan" IOC_DIST_DIR="$PWD/dist-asan" LD_PRELOAD="$LIBASAN" \
  ASAN_OPTIONS="$ASAN_BASE:detect_leaks=0:verify_asan_link_order=0" \
  npx --no-install mocha --no-config --timeout 240000 "$SPEC" 2>&1 | tee "$REPORTS/mocha.out"
rc=${PIPESTATUS[0]}
set -e
# Reports are meant for the log files; one that reached the output instead counts too.
grep -E -A12 "runtime error:|ERROR: (Address|Leak)Sanitizer" "$REPORTS/mocha.out" >"$REPORTS/ubsan.output" || rm -f "$REPORTS/ubsan.output"
count=$(find "$REPORTS" -name 'asan*' -o -name 'ubsan*' | wc -l)
if [ "$count" -gt 0 ]; then
  for f in "$REPORTS"/asan* "$REPORTS"/ubsan*; do [ -f "$f" ] && { echo "== $f"; head -60 "$f"; }; done
  echo "ci-extra: $count sanitizer report(s)" >&2
  exit 1
fi
[ $rc -eq 0 ] || { echo "ci-extra: end-to-end tests failed under the sanitizers" >&2; exit $rc; }
echo "ci-extra: sanitizers: 0 reports"

if [ "${IOC_SOAK:-}" = 1 ]; then
  echo "ci-extra: soak"
  IOC_SOAK=1 npx --no-install mocha --no-config --timeout 0 dist/test/soak.test.js
fi

# Issue 26: the server SIGKILLed and restarted 20 times under each kind of caller (6 in the suite).
echo "ci-extra: server deaths under calling clients, 20 rounds"
IOC_DEATH_ROUNDS=20 npx --no-install mocha --no-config --exit --timeout 0 dist/test/server-death.test.js

# Issue 26: the randomized partition checker (iptables, root; 30 rounds of 1-30 s partitions,
# ~15 min). IOC_LONG_FAULTS=0 skips it; IOC_LONG_FAULTS_ROUNDS / _SEED change the run.
if [ "${IOC_LONG_FAULTS:-1}" = 1 ]; then
  echo "ci-extra: partitions (fencing), long randomized checker"
  IOC_LONG_FAULTS=1 npx --no-install mocha --no-config --exit --timeout 0 --grep "long randomized" dist/test/partition.test.js
fi

# Issue 23: checkpoint sets, 30 crash rounds per case (the application, the server with --nvdimm,
# the server without it, SIGKILLed at random moments across a checkpoint; 3 per case in the
# suite; ~12 min). IOC_LONG_CHECKPOINT_CRASH=0 skips it; IOC_CHECKPOINT_SEED replays a run.
if [ "${IOC_LONG_CHECKPOINT_CRASH:-1}" = 1 ]; then
  echo "ci-extra: checkpoint sets, 30 crash rounds per case"
  IOC_LONG_CHECKPOINT_CRASH=1 npx --no-install mocha --no-config --exit --timeout 0 dist/test/checkpoint-crash.test.js
fi
