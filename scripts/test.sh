#!/usr/bin/env bash
# The test command: installs what is missing, builds, then runs the whole mocha suite
# (real server processes on 127.0.0.1, real userfaultfd, real files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Clients print why a connection failed or was dropped (the tests make some fail on purpose),
# so that a failing test's log says what the client saw.
export IOC_CLIENT_DEBUG="${IOC_CLIENT_DEBUG:-1}"
# No test file among the arguments: the whole suite (.mocharc.json names no spec, so that
# `npx mocha dist/test/FILE.test.js` runs that file alone).
# The two packaging tests (npm pack of a clean archive, examples/ in a project of their own;
# ~4 min together) run in the CI extra pass, with an empty npm cache (scripts/ci-extra.sh).
export IOC_SKIP_PACK_TEST="${IOC_SKIP_PACK_TEST:-1}"
case " $* " in *.js\ *) ;; *) set -- 'dist/test/**/*.test.js' "$@" ;; esac
npx --no-install mocha "$@"
# The API reference must build without warnings (typedoc.json: treatWarningsAsErrors).
npx --no-install typedoc --logLevel Warn
# Issue #7: libFuzzer run + ASan/UBSan build and tests (scripts/ci-extra.sh, ~5 min on 2
# cores): in CI (CI=true) or with IOC_FULL_CI=1.
if [ "${CI:-}" = true ] || [ "${IOC_FULL_CI:-}" = 1 ]; then
  bash scripts/ci-extra.sh
fi
