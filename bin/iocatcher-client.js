#!/usr/bin/env node
// Runs the native benchmark client (build/Release/iocatcher-client-bench) with the same arguments.
const { spawnSync } = require('child_process');
const path = require('path');
const fs = require('fs');
const dir = path.join(process.env.IOC_BUILD_DIR || path.join(__dirname, '..', 'build'), 'Release');
const bin = path.join(dir, 'iocatcher-client-bench');
if (!fs.existsSync(bin)) {
  process.stderr.write(`iocatcher-client: native tool not built (${bin}); run: npm run build\n`);
  process.exit(1);
}
const r = spawnSync(bin, process.argv.slice(2), { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
