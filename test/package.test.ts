// Packaging: the npm tarball of a clean checkout installs into a fresh project with its prebuilt
// binaries (no compiler); the C library, header and pkg-config file install with cmake --install.
// Both are then used for a real round trip against a server.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { testOnlyStringsIn } from './helpers/release';
import { run } from './helpers/run';
import { buildDir, repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';

// The npm pack test starts from a clean `git archive` of HEAD and runs the README's setup in it
// (a full native build: ~2-3 min on 2 cores), then npm pack makes the release build of the
// prebuilt binaries (~2 min more); not in the sanitizer pass (the same builds again).
// IOC_SKIP_PACK_TEST=1 skips it.
const packEnabled = !process.env.IOC_SANITIZED && !process.env.IOC_SKIP_PACK_TEST;

describe('packaging', function () {
  this.timeout(600000);
  let server: ServerHandle;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  it('cmake --install puts the library, header and pkg-config file under a prefix that a C program builds against', async () => {
    const prefix = tmpDir('ioc-prefix-');
    const inst = spawnSync('cmake', ['--install', path.dirname(buildDir), '--prefix', prefix], { encoding: 'utf8' });
    assert.equal(inst.status, 0, inst.stderr);
    const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'iocatcher-client'], {
      encoding: 'utf8', env: { ...process.env, PKG_CONFIG_PATH: fs.readdirSync(prefix).includes('lib') ? path.join(prefix, 'lib', 'pkgconfig') : '' },
    });
    assert.equal(pc.status, 0, pc.stderr);
    assert.match(pc.stdout, /-liocatcher-client/);
    const exe = path.join(prefix, 'roundtrip');
    const flags = pc.stdout.trim().split(/\s+/);
    const libdir = flags.find((f) => f.startsWith('-L'))!.slice(2);
    const cc = spawnSync('cc', ['-o', exe, path.join(repoRoot, 'test', 'c', 'roundtrip.c'), ...flags, `-Wl,-rpath,${libdir}`], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const { stdout } = await run(exe, ['127.0.0.1', String(server.port)]);
    assert.match(stdout, /c roundtrip ok/);
  });

  (packEnabled ? it : it.skip)('npm pack of a clean git archive after the README setup: the tarball installs with an empty npm cache without compiling; its prebuilt binaries are release builds (no failpoints); ESM, CJS and strict-TS consumers work; internals are not importable', async function () {
    this.timeout(1200000);
    const dir = tmpDir('ioc-pack-');
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    // HEAD as a fresh clone has it: no build/, dist/ or node_modules/.
    const archive = spawnSync('bash', ['-c', `git -C "${repoRoot}" archive --format=tar HEAD | tar -x -C "${src}"`], { encoding: 'utf8' });
    assert.equal(archive.status, 0, archive.stderr);
    await run('bash', ['scripts/setup.sh'], { cwd: src, env: { ...process.env, IOC_SETUP_CEPH: '0' }, timeout: 540000 });
    const packed = await run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: src });
    const tarball = path.join(dir, packed.stdout.trim().split('\n').pop()!);
    const listing = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
    for (const f of ['LICENSE', 'prebuilds/linux-x64/iocatcher.node', 'prebuilds/linux-x64/iocatcher-serverd', 'src/index.ts', 'dist/src/index.js.map']) {
      assert.ok(listing.includes(`package/${f}`), `tarball holds ${f}`);
    }
    assert.ok(!listing.some((f) => /^package\/(dist\/(test|bench)|test|bench)\//.test(f)), 'no tests or benches in the tarball');
    const license = spawnSync('tar', ['xzfO', tarball, 'package/LICENSE'], { encoding: 'utf8' }).stdout;
    assert.match(license, /Apache License\s+Version 2\.0/);

    // The consumer: installed as a new user's machine would, from the registry with an npm cache
    // of its own that starts empty (whatever this machine's cache holds), and nothing compiled.
    const app = path.join(dir, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'ioc-consumer', version: '1.0.0', private: true }));
    const emptyCache = tmpDir('ioc-npm-cache-');
    await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: app, timeout: 300000, env: { ...process.env, npm_config_cache: emptyCache } });
    const pkgDir = path.join(app, 'node_modules', 'iocatcher');
    // Whether npm ran the install script or not (npm 11 asks to approve install scripts), the
    // script finds the prebuilt addon loadable and compiles nothing.
    const install = spawnSync(process.execPath, [path.join(pkgDir, 'scripts', 'install.js')], { cwd: pkgDir, encoding: 'utf8' });
    assert.equal(install.status, 0, install.stderr);
    assert.ok(!fs.existsSync(path.join(pkgDir, 'build', 'Release', 'iocatcher.node')), 'nothing compiled');
    assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'cmake-js')), 'no cmake-js in a consumer');
    // The prebuilt binaries are the release build: no failpoint, no test export in them.
    for (const f of ['iocatcher.node', 'iocatcher-serverd', 'libiocatcher-client.so.0']) {
      assert.deepEqual(testOnlyStringsIn(path.join(pkgDir, 'prebuilds', 'linux-x64', f)), [], `prebuilt ${f}`);
    }
    const installed = fs.readdirSync(path.join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
    assert.ok(installed.length < 30, `few dependencies: ${installed.join(' ')}`);

    const roundtrip = (tag: string) => `
      const c = await IocClient.connect('127.0.0.1', ${server.port});
      const data = Buffer.from('${tag} from the installed package '.repeat(3000));
      await c.write(0x9ac, ${tag.length}, 0, data);
      const back = await c.read(0x9ac, ${tag.length}, 0, data.length);
      c.close();
      console.log(back.equals(data) ? '${tag} roundtrip ok ' + version : 'MISMATCH');`;
    fs.writeFileSync(path.join(app, 'cjs.cjs'), `
      const { IocClient, version } = require('iocatcher');
      (async () => {${roundtrip('cjs')}
        try { require('iocatcher/dist/src/native'); console.log('deep import loaded'); } catch (e) { console.log('deep import: ' + e.code); }
      })().catch((e) => { console.error(e); process.exit(1); });`);
    fs.writeFileSync(path.join(app, 'esm.mjs'), `
      import { IocClient, version } from 'iocatcher';
      ${roundtrip('esm')}
      try { await import('iocatcher/dist/src/native.js'); console.log('deep import loaded'); } catch (e) { console.log('deep import: ' + e.code); }`);
    const version = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
    for (const [file, tag] of [['cjs.cjs', 'cjs'], ['esm.mjs', 'esm']]) {
      const { stdout } = await run(process.execPath, [file], { cwd: app });
      assert.match(stdout, new RegExp(`${tag} roundtrip ok ${version.replace(/\./g, '\\.')}`));
      assert.match(stdout, /deep import: ERR_PACKAGE_PATH_NOT_EXPORTED/);
    }

    // Strict TypeScript (node16 resolution: the exports map's types), with the repo's compiler.
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const tsconfig = (files: string[]) => JSON.stringify({
      compilerOptions: { strict: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', outDir: 'out', skipLibCheck: false,
        typeRoots: [path.join(repoRoot, 'node_modules', '@types')], types: ['node'] },
      files,
    });
    fs.writeFileSync(path.join(app, 'strict.ts'), `
      import { IocClient, IocError, parseSize, version } from 'iocatcher';
      const size: number = parseSize('1.5MiB');
      (async () => {${roundtrip('tsc')}
        try { parseSize('1XB'); } catch (e) { if (e instanceof IocError) console.log('typed error ' + e.code + ' ' + size); }
      })().catch((e: unknown) => { console.error(e); process.exit(1); });`);
    fs.writeFileSync(path.join(app, 'tsconfig.json'), tsconfig(['strict.ts']));
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app });
    const ts = await run(process.execPath, [path.join('out', 'strict.js')], { cwd: app });
    assert.match(ts.stdout, /tsc roundtrip ok/);
    assert.match(ts.stdout, /typed error EINVAL 1572864/);
    fs.writeFileSync(path.join(app, 'deep.ts'), `import { addon } from 'iocatcher/dist/src/native';\nconsole.log(addon);\n`);
    fs.writeFileSync(path.join(app, 'tsconfig.deep.json'), tsconfig(['deep.ts']));
    const deep = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.deep.json'], { cwd: app, encoding: 'utf8' });
    assert.notEqual(deep.status, 0, 'a deep import does not compile');
    assert.match(deep.stdout, /iocatcher\/dist\/src\/native/);

    // The commands of the package run from the prebuilt binaries.
    const bin = (name: string) => path.join(app, 'node_modules', '.bin', name);
    for (const name of ['iocatcher-server', 'iocatcher-client', 'iocatcher']) {
      assert.equal((await run(bin(name), ['--version'], { cwd: app })).stdout, `${name} ${version}\n`);
    }
    const ping = await run(bin('iocatcher-client'), ['--mode', 'ping', '--count', '20', '--port', String(server.port), '127.0.0.1'], { cwd: app });
    assert.match(ping.stdout, /^ping\s+size=0\s+count=20/m);

    // Without a loadable addon, the advice works in a consumer (not "npm run build").
    const noAddon = spawnSync(process.execPath, ['-e', `require('iocatcher').IocClient.connect('127.0.0.1').catch((e) => { console.log(e.code + ': ' + e.message); })`],
      { cwd: app, encoding: 'utf8', env: { ...process.env, IOC_BUILD_DIR: path.join(dir, 'nowhere') } });
    assert.match(noAddon.stdout, /^ENOADDON: .*npm rebuild iocatcher/);

    // Compiling where a system library is missing: one message naming the Debian package.
    const copy = path.join(dir, 'copy');
    fs.cpSync(pkgDir, copy, { recursive: true });
    const missing = spawnSync(process.execPath, [path.join(copy, 'scripts', 'install.js')],
      { cwd: copy, encoding: 'utf8', env: { ...process.env, IOC_FORCE_BUILD: '1', PKG_CONFIG_LIBDIR: path.join(dir, 'no-pkgconfig') } });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /iocatcher: libfabric .*not found: install the Debian package libfabric-dev \(apt-get install libfabric-dev\)/);
    assert.equal(missing.stderr.split('libfabric-dev (apt-get').length - 1, 1, 'said once');
    assert.doesNotMatch(missing.stderr, /CMake Error|pkg_check_modules/);
  });
});
