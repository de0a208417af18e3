#!/usr/bin/env node
// Runs the native benchmark client (iocatcher-client-bench: build/Release, or the package's
// prebuilt binaries) with the same arguments. IOC_DIST_DIR selects another TypeScript build output.
const { spawnSync } = require('child_process');
const path = require('path');
const fs = require('fs');
const native = require(path.join(process.env.IOC_DIST_DIR || path.join(__dirname, '..', 'dist'), 'src', 'native'));
const bin = path.join(native.nativeBuildDir, 'iocatcher-client-bench');
if (process.argv.includes('--version')) {
  // Answered here too, so that it works before the native tool is built.
  process.stdout.write(`iocatcher-client ${native.packageVersion}\n`);
  process.exit(0);
}
if (!fs.existsSync(bin)) {
  process.stderr.write(`iocatcher-client: native tool not built (${bin}); ${native.buildAdvice()}\n`);
  process.exit(1);
}
const r = spawnSync(bin, process.argv.slice(2), { stdio: 'inherit' });
if (r.error) {
  process.stderr.write(`iocatcher-client: cannot run ${bin}: ${r.error.message}\n`);
  process.exit(1);
}
if (r.signal) process.stderr.write(`iocatcher-client: ${bin} ended by ${r.signal}\n`);
process.exit(r.status === null ? 1 : r.status);
