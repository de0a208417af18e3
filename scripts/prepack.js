#!/usr/bin/env node
// npm pack / npm publish: builds the shipped TypeScript (tsconfig.build.json: src and examples,
// not the tests or benches), makes the release build of the native binaries
// (scripts/release-build.js: no failpoints or test exports, unlike the test build that setup.sh
// makes in build/) and copies them into prebuilds/<platform>-<arch>, which scripts/install.js
// uses instead of compiling. Run after the README's setup (bash scripts/setup.sh).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const release = path.join(root, 'build-release', 'Release');
const dest = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
// The client-bench tool finds the library by its soname next to itself (RPATH $ORIGIN).
const files = ['iocatcher.node', 'iocatcher-serverd', 'iocatcher-client-bench', 'libiocatcher-client.so.0'];

const built = spawnSync(process.execPath, [path.join(__dirname, 'release-build.js')], { stdio: ['ignore', 'ignore', 'inherit'] });
if (built.status !== 0) process.exit(built.status ?? 1);
const missing = files.filter((f) => !fs.existsSync(path.join(release, f)));
if (missing.length) {
  process.stderr.write(`iocatcher prepack: ${missing.join(', ')} not built in ${release}\n`);
  process.exit(1);
}
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
fs.mkdirSync(dest, { recursive: true });
for (const f of files) {
  // copyFileSync follows the soname symlink: the tarball holds the library itself.
  fs.copyFileSync(path.join(release, f), path.join(dest, f));
  fs.chmodSync(path.join(dest, f), 0o755);
}
