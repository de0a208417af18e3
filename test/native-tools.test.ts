// The native pieces tested from outside: the codec unit test, a C program compiled against the
// public header and shared library, the server CLI and the iocatcher-client benchmark tool.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { IocClient } from '../src';
import { run } from './helpers/run';
import { buildDir, repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';

describe('native tools', function () {
  this.timeout(120000);

  it('wire codec: every message type round-trips, truncated and oversized messages are rejected', async () => {
    const { stdout } = await run(path.join(buildDir, 'iocatcher-codec-test'));
    assert.match(stdout, /^(\d+) passed, 0 failed$/m);
    assert.doesNotMatch(stdout, /^FAIL/m);
    const passed = Number(/^(\d+) passed/m.exec(stdout)![1]);
    assert.ok(passed >= 80, `only ${passed} codec cases ran`);
  });

  describe('against a server', () => {
    let server: ServerHandle;
    before(async () => { server = await startServer(); });
    after(async () => { await server?.stop(); });

    it('a C program built against iocatcher-client.h and libiocatcher-client.so round-trips', async () => {
      const exe = path.join(tmpDir('ioc-c-'), 'roundtrip');
      const cc = spawnSync('cc', ['-std=c99', '-Wall', '-Werror', '-o', exe, path.join(repoRoot, 'test', 'c', 'roundtrip.c'),
        '-I', path.join(repoRoot, 'include'), '-L', buildDir, '-liocatcher-client', `-Wl,-rpath,${buildDir}`], { encoding: 'utf8' });
      assert.equal(cc.status, 0, cc.stderr);
      const { stdout } = await run(exe, ['127.0.0.1', String(server.port)]);
      assert.match(stdout, /provider: tcp;ofi_rxm/);
      assert.match(stdout, /c roundtrip ok/);
    });

    it('iocatcher-client prints ping-pong and bandwidth figures', async () => {
      const bin = path.join(repoRoot, 'bin', 'iocatcher-client.js');
      const ping = await run(process.execPath, [bin, '--port', String(server.port), '--mode', 'ping', '--count', '200', '127.0.0.1']);
      assert.match(ping.stdout, /^ping\s+size=0\s+count=200\s+\d+ ops\/s\s+[\d.]+ us\/op/m);
      const bw = await run(process.execPath, [bin, '--port', String(server.port), '--mode', 'all', '--size', '1M', '--count', '20', '--json', '127.0.0.1']);
      for (const mode of ['write', 'read']) {
        const line = bw.stdout.split('\n').find((l) => l.startsWith(`{"mode":"${mode}"`));
        assert.ok(line, `${mode} JSON line`);
        const r = JSON.parse(line!);
        assert.equal(r.size, 1 << 20);
        assert.equal(r.count, 20);
        assert.ok(r.GBps > 0 && r.opsPerSec > 0);
      }
    });

    it('iocatcher-client --fresh writes each operation to its own object, --sweep at increasing offsets', async () => {
      const bin = path.join(repoRoot, 'bin', 'iocatcher-client.js');
      const common = ['--port', String(server.port), '--size', '64K', '--count', '3', '--json'];
      const w = await run(process.execPath, [bin, ...common, '--mode', 'write', '--fresh', '--object', '0x7701:1', '127.0.0.1']);
      const r = JSON.parse(w.stdout.split('\n').find((l) => l.startsWith('{'))!);
      assert.ok(r.medianGBps > 0 && r.endEpochUs >= r.startEpochUs, w.stdout);
      await run(process.execPath, [bin, ...common, '--mode', 'write', '--sweep', '--total', '256K', '--object', '0x7702:1', '127.0.0.1']);
      const client = await IocClient.connect('127.0.0.1', server.port);
      try {
        const x = (b: Buffer) => b.every((v) => v === 0x78);
        for (const low of [1, 2, 3]) assert.ok(x(await client.read(0x7701, low, 0, 65536)), `object 0x7701:${low}`);
        assert.ok((await client.read(0x7701, 4, 0, 65536)).every((v) => v === 0), 'no fourth object');
        for (const off of [0, 65536, 131072]) assert.ok(x(await client.read(0x7702, 1, off, 65536)), `offset ${off}`);
        assert.ok((await client.read(0x7702, 1, 196608, 65536)).every((v) => v === 0), 'nothing past the third write');
      } finally {
        client.close();
      }
    });

    it('iocatcher-client reports a connection failure clearly', async () => {
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'iocatcher-client.js'), '--port', '1', '127.0.0.1'], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /cannot connect to 127\.0\.0\.1:1/);
    });
  });

  for (const provider of ['shm', 'net']) {
    it(`works over the ${provider} provider (eager and RMA sizes)`, async function () {
      const env = { FI_PROVIDER: provider };
      const server = await startServer({ env });
      try {
        assert.match(server.logs(), new RegExp(`provider=${provider}`));
        const exe = path.join(tmpDir('ioc-c-'), 'roundtrip');
        const cc = spawnSync('cc', ['-std=c99', '-o', exe, path.join(repoRoot, 'test', 'c', 'roundtrip.c'),
          '-I', path.join(repoRoot, 'include'), '-L', buildDir, '-liocatcher-client', `-Wl,-rpath,${buildDir}`], { encoding: 'utf8' });
        assert.equal(cc.status, 0, cc.stderr);
        const { stdout } = await run(exe, ['127.0.0.1', String(server.port)], { env: { ...process.env, ...env } });
        assert.match(stdout, new RegExp(`provider: ${provider}`));
        assert.match(stdout, /c roundtrip ok/);
      } finally {
        await server.stop();
      }
    });
  }

  describe('iocatcher-server CLI', () => {
    const cli = path.join(repoRoot, 'bin', 'iocatcher-server.js');
    it('--help documents every option', () => {
      const r = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
      assert.equal(r.status, 0);
      for (const opt of ['--nvdimm', '--no-consistency-check', '--no-auth', '--active-polling', '--verbose', '--port', '--store', '--provider', 'LISTEN_IP']) {
        assert.ok(r.stdout.includes(opt), `help mentions ${opt}`);
      }
    });
    for (const [args, msg] of [
      [[], /expected exactly one LISTEN_IP/],
      [['--port', 'abc', '127.0.0.1'], /invalid --port/],
      [['--bogus', '127.0.0.1'], /unknown option '--bogus'/],
      [['not-an-ip'], /must be an IPv4 address/],
      [['--segment-size', '12Q', '127.0.0.1'], /invalid size/],
    ] as Array<[string[], RegExp]>) {
      it(`rejects ${JSON.stringify(args)} with a clear error`, () => {
        const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
        assert.equal(r.status, 2);
        assert.match(r.stderr, msg);
      });
    }
    it('stops cleanly on SIGINT with exit code 0', async () => {
      const server = await startServer();
      assert.match(server.logs(), /provider=tcp;ofi_rxm/);
      assert.equal(await server.stop(), 0);
    });
  });
});
