#!/usr/bin/env bash
# libFuzzer run over the wire codec (native/tools/fuzz_protocol.cc), bounded in time.
#   FUZZ_SECONDS (default 60)  how long to fuzz
# Needs clang with libFuzzer (Debian 12: clang-14 + libclang-rt-14-dev; installed when missing).
# Builds into build-fuzz/, keeps the evolving corpus in build-fuzz/corpus, starts from the seed
# and regression inputs in test/fuzz-corpus/protocol. A crash leaves build-fuzz/crash-<sha1>:
# copy it into test/fuzz-corpus/protocol/ so that it becomes a regression input (the
# iocatcher-fuzz-protocol replay in test/fuzz.test.ts runs every file there).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_FUZZ="${FUZZ_SECONDS:-60}"
CXX_FUZZ=""
for c in clang++ clang++-14 clang++-15 clang++-16; do
  if command -v "$c" >/dev/null; then CXX_FUZZ="$c"; break; fi
done
probe() {
  [ -n "$CXX_FUZZ" ] || return 1
  local d; d="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}\n' > "$d/p.cc"
  "$CXX_FUZZ" -fsanitize=fuzzer "$d/p.cc" -o "$d/p" >/dev/null 2>&1; local rc=$?
  rm -rf "$d"; return $rc
}
if ! probe; then
  echo "fuzz: installing clang-14 + libclang-rt-14-dev (libFuzzer)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
  CXX_FUZZ=clang++-14
fi
mkdir -p build-fuzz/corpus
"$CXX_FUZZ" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Inative native/tools/fuzz_protocol.cc native/fabric/protocol.cc -o build-fuzz/fuzz_protocol
echo "fuzz: running the protocol decoder fuzzer for ${SECONDS_TO_FUZZ}s"
set +e
build-fuzz/fuzz_protocol -max_total_time="$SECONDS_TO_FUZZ" -print_final_stats=1 -artifact_prefix=build-fuzz/ \
  -max_len=40000 build-fuzz/corpus test/fuzz-corpus/protocol >build-fuzz/fuzz.log 2>&1
rc=$?
set -e
grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|^Done' build-fuzz/fuzz.log || true
if [ $rc -ne 0 ]; then
  tail -60 build-fuzz/fuzz.log
  echo "fuzz: FAILED (exit $rc); crashing inputs: $(ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* 2>/dev/null | tr '\n' ' ')" >&2
  exit 1
fi
echo "fuzz: no crash in ${SECONDS_TO_FUZZ}s"
