#!/usr/bin/env node
// The package's install script. A tarball made by `npm pack` carries prebuilt binaries for the
// platform it was packed on (prebuilds/linux-x64); when the addon there loads, nothing is
// compiled, so a client-only install needs neither a compiler nor the -dev packages, only the
// libfabric runtime. Otherwise it compiles the addon, the client library, iocatcher-client and
// the server with plain cmake (no cmake-js: Node's own headers), saying so first, and on failure
// prints one message naming what to install instead of CMake's output.
// IOC_FORCE_BUILD=1 compiles even when a prebuilt binary loads.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const tag = `${process.platform}-${process.arch}`;
const prebuilt = path.join(root, 'prebuilds', tag);
const buildDir = path.join(root, 'build');
const log = path.join(buildDir, 'install.log');
const DEBIAN_BUILD = 'cmake g++ make pkg-config libfabric-dev libpmem-dev';

const say = (line) => process.stderr.write(`iocatcher: ${line}\n`);
function fail(lines) {
  for (const l of lines) say(l);
  process.exit(1);
}

// Loads a .node file in a child process: a missing shared library must not crash this one.
function loads(file) {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  return { ok: r.status === 0, why: (r.stderr || '').split('\n').find((l) => /Error|cannot open/.test(l)) || '' };
}

if (process.platform !== 'linux') fail([`iocatcher runs on Linux only (userfaultfd, libfabric); this is ${process.platform}`]);

let prebuiltWhy = '';
if (process.env.IOC_FORCE_BUILD !== '1' && fs.existsSync(path.join(prebuilt, 'iocatcher.node'))) {
  const r = loads(path.join(prebuilt, 'iocatcher.node'));
  if (r.ok) {
    const d = spawnSync(path.join(prebuilt, 'iocatcher-serverd'), ['--version'], { encoding: 'utf8' });
    if (d.status !== 0) {
      say('the prebuilt server daemon does not start here (it needs the libfabric1 and libpmem1 runtime');
      say('packages); the client works. To compile the server: IOC_FORCE_BUILD=1 npm rebuild iocatcher');
    }
    process.exit(0);
  }
  prebuiltWhy = /libfabric/.test(r.why)
    ? 'the prebuilt addon needs the libfabric runtime (Debian package libfabric1)'
    : `the prebuilt addon does not load (${r.why.trim()})`;
}

function which(cmd) {
  return (process.env.PATH || '').split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));
}
const hint = prebuiltWhy ? [`${prebuiltWhy}; compiling instead.`] : [];
if (!which('cmake') || !which('c++')) {
  fail([...hint, `compiling needs cmake and a C++ compiler: apt-get install ${DEBIAN_BUILD}`]);
}
const nodeInclude = [path.resolve(process.execPath, '..', '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node']
  .find((d) => fs.existsSync(path.join(d, 'node_api.h')));
if (!nodeInclude) fail([...hint, `Node's C headers (node_api.h) not found next to ${process.execPath}: apt-get install libnode-dev`]);

fs.mkdirSync(buildDir, { recursive: true });
const out = fs.openSync(log, 'w');
for (const l of hint) say(l);
say(`compiling the native addon, client library and server (1-3 minutes; log: ${log})`);
// A consumer gets no test, fuzz or bench tools; `npm install` in a clone of the repository does.
const clone = fs.existsSync(path.join(root, '.git'));
const configure = ['-S', root, '-B', buildDir, `-DIOC_NODE_INCLUDE=${nodeInclude}`, `-DIOC_BUILD_TOOLS=${clone ? 'ON' : 'OFF'}`];
// Keep the generator of an existing build directory; else Ninja when there is one (as cmake-js).
if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt')) && which('ninja')) configure.push('-G', 'Ninja');
const steps = [configure, ['--build', buildDir, '--parallel', String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length))]];
for (const args of steps) {
  const r = spawnSync('cmake', args, { stdio: ['ignore', out, out] });
  if (r.status !== 0) {
    const text = fs.readFileSync(log, 'utf8');
    // Our CMakeLists.txt says what is missing on lines starting with "iocatcher:".
    // CMake wraps a message over indented lines, up to a blank line: join them back.
    const ours = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].trim().startsWith('iocatcher: ')) continue;
      let msg = lines[i].trim().slice(11);
      while (i + 1 < lines.length && /^\s+\S/.test(lines[i + 1]) && !lines[i + 1].trim().startsWith('iocatcher: ')) msg += ` ${lines[++i].trim()}`;
      if (!ours.includes(msg)) ours.push(msg);
    }
    const why = ours.length ? ours : [`the native build failed (see ${log}); it needs: apt-get install ${DEBIAN_BUILD}`];
    fail([...why, 'then: npm rebuild iocatcher']);
  }
}
fs.closeSync(out);
