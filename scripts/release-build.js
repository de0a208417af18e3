#!/usr/bin/env node
// The release build: the addon, the client library, iocatcher-client and the server compiled as
// a consumer's `npm install` compiles them (scripts/install.js: plain cmake, Node's own headers,
// IOC_BUILD_TOOLS=OFF), so with no failpoint, no test export and no tool in them. Into
// build-release/ (or the folder given as the first argument); incremental.
// Used by scripts/prepack.js (the prebuilt binaries of a package) and test/release-build.test.ts.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const buildDir = path.resolve(process.argv[2] || path.join(root, 'build-release'));
const nodeInclude = [path.resolve(process.execPath, '..', '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node']
  .find((d) => fs.existsSync(path.join(d, 'node_api.h')));
if (!nodeInclude) {
  process.stderr.write(`iocatcher release build: Node's C headers (node_api.h) not found next to ${process.execPath}\n`);
  process.exit(1);
}
const which = (cmd) => (process.env.PATH || '').split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));
const configure = ['-S', root, '-B', buildDir, `-DIOC_NODE_INCLUDE=${nodeInclude}`, '-DIOC_BUILD_TOOLS=OFF', '-DCMAKE_BUILD_TYPE=Release'];
if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt')) && which('ninja')) configure.push('-G', 'Ninja');
const jobs = String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length));
for (const args of [configure, ['--build', buildDir, '--parallel', jobs]]) {
  const r = spawnSync('cmake', args, { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout}${r.stderr}iocatcher release build: cmake ${args.join(' ')} failed\n`);
    process.exit(1);
  }
}
process.stdout.write(`${path.join(buildDir, 'Release')}\n`);
