#!/usr/bin/env bash
# Installs what iocatcher needs, when missing: Debian packages, npm dependencies, the native
# build (cmake-js) and the TypeScript build. Safe to run again: each step is skipped or incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

pkgs=(libfabric-dev libfabric-bin libpmem-dev cmake pkg-config g++ make librados-dev)
# The fault tests: network partitions (iptables), a store on a frozen file system (mkfs.ext4,
# fsfreeze), a daemon under an unprivileged uid (setpriv).
pkgs+=(iptables e2fsprogs util-linux)
# The RADOS tests start a throw-away Ceph cluster (one monitor, one memstore OSD) from Debian's
# packages: about 50 packages, ~25 s to install once downloaded. IOC_SETUP_CEPH=0 skips them
# (the RADOS tests then skip, saying why).
if [ "${IOC_SETUP_CEPH:-1}" != 0 ]; then pkgs+=(ceph-mon ceph-osd ceph-common); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null; then
  echo "setup: Node.js (>= 20) is required" >&2
  exit 1
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  # --ignore-scripts: the package's own install script (scripts/install.js, the consumer build)
  # would compile once more what the next step compiles with the tools.
  npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
fi

echo "setup: building TypeScript and native code (cmake-js)"
npx --no-install tsc -p tsconfig.json
# The daemon's option header and the docs' option reference, from the option table (compiled
# just above) when it changed: the native build uses the header.
node scripts/gen-options.js
# IOC_BUILD_TOOLS: a test build: the test, fuzz and benchmark tools, the failpoints and the
# addon's test exports too (a consumer's npm install and the prebuilt binaries have none).
npx --no-install cmake-js compile --log-level error --CDIOC_BUILD_TOOLS=ON >/tmp/iocatcher-native-build.log 2>&1 || {
  cat /tmp/iocatcher-native-build.log >&2
  echo "setup: native build failed" >&2
  exit 1
}
