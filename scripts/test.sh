#!/usr/bin/env bash
# The test command: installs what is missing, builds, then runs the whole mocha suite
# (real server processes on 127.0.0.1, real userfaultfd, real files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx --no-install mocha "$@"
# The API reference must build without warnings (typedoc.json: treatWarningsAsErrors).
npx --no-install typedoc --logLevel Warn
