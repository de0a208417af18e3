// Packaging: the npm tarball installs into a fresh project and builds its native parts from
// source; the C library, header and pkg-config file install with cmake --install. Both are then
// used for a real round trip against a server.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { run } from './helpers/run';
import { buildDir, repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';

// The tarball install compiles everything (~1-2 min on 2 cores): on in CI, or with IOC_PACK_TEST=1;
// not in the sanitizer pass, whose tarball build would be the same uninstrumented one again.
const packEnabled = (!!process.env.CI || !!process.env.IOC_PACK_TEST) && !process.env.IOC_SANITIZED;

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

  (packEnabled ? it : it.skip)('npm pack tarball installs in a fresh project, builds from source and talks to a server', async () => {
    const dir = tmpDir('ioc-pack-');
    const packed = await run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: repoRoot, maxBuffer: 1 << 24 });
    const tarball = path.join(dir, packed.stdout.trim().split('\n').pop()!);
    assert.ok(fs.existsSync(tarball), `tarball ${tarball}`);
    const app = path.join(dir, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'ioc-consumer', version: '1.0.0', private: true }));
    await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, maxBuffer: 1 << 26, timeout: 540000 });
    assert.ok(fs.existsSync(path.join(app, 'node_modules', 'iocatcher', 'build', 'Release', 'iocatcher.node')), 'native addon built from source');
    const script = `
      const { IocClient } = require('iocatcher');
      (async () => {
        const c = await IocClient.connect('127.0.0.1', ${server.port});
        const data = Buffer.from('from the installed package '.repeat(3000));
        await c.write(0x9ac, 1, 0, data);
        const back = await c.read(0x9ac, 1, 0, data.length);
        c.close();
        console.log(back.equals(data) ? 'package roundtrip ok' : 'MISMATCH');
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: app });
    assert.match(stdout, /package roundtrip ok/);
  });
});
