// End-to-end tests of the server and the TypeScript client against a real server process
// on 127.0.0.1 (libfabric + TCP side channel).
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { run } from './helpers/run';
import { IocClient, IocError } from '../src';
import { buildDir, pattern, repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';
import { hex16, rejectsWithCode } from './helpers/assertions';
import { backingStoreSuite } from './helpers/store-suite';
const MiB = 1 << 20;


describe('server + TypeScript client', function () {
  this.timeout(120000);
  let server: ServerHandle;
  let client: IocClient;

  before(async () => {
    server = await startServer();
    client = await IocClient.connect(server.host, server.port);
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  it('reports the provider', () => {
    assert.equal(client.providerName(), 'tcp;ofi_rxm');
  });

  it('answers ping, with and without inline data', async () => {
    await client.ping();
    await client.ping(32768);
  });

  const sizes: Array<[string, number, number]> = [
    ['1 B', 1, 0],
    ['4 KiB', 4096, 0],
    ['32 KiB (largest eager)', 32 * 1024, 0],
    ['32 KiB + 1 (smallest RMA)', 32 * 1024 + 1, 0],
    ['8 MiB', 8 * MiB, 0],
    ['100 MiB', 100 * MiB, 0],
    ['4 KiB at an unaligned offset', 4096, 8 * MiB - 1001],
    ['1 MiB across a segment boundary at an odd offset', MiB, 8 * MiB - 333],
    ['3 B at an odd offset', 3, 77777],
  ];
  sizes.forEach(([name, size, offset], i) => {
    it(`writes then reads back ${name} byte for byte`, async () => {
      const data = pattern(size, i + 1);
      assert.equal(await client.write(10, 100 + i, offset, data), size);
      const back = await client.read(10, 100 + i, offset, size);
      assert.equal(back.length, size);
      assert.ok(back.equals(data), 'data differs');
    });
  });

  it('reads never-written ranges as zeros', async () => {
    const fresh = await client.read(11, 1, 5000, 70000);
    assert.ok(fresh.every((b) => b === 0));
    await client.write(11, 2, 0, Buffer.from('abc'));
    const tail = await client.read(11, 2, 0, 64 * 1024);
    assert.equal(tail.subarray(0, 3).toString(), 'abc');
    assert.ok(tail.subarray(3).every((b) => b === 0), 'bytes after the written ones are zeros');
    const far = await client.read(11, 2, 100 * MiB, 4096);
    assert.ok(far.every((b) => b === 0));
  });

  it('creates an object in the store', async () => {
    await client.create(12, 1);
    const file = path.join(server.store, '000000000000000c-0000000000000001');
    assert.ok(fs.existsSync(file), 'object file exists');
  });

  it('accepts ids as bigint, including negative int64 halves', async () => {
    await client.write(-1n, (1n << 63n) - 1n, 0, Buffer.from('edge'));
    assert.equal((await client.read(-1, (1n << 63n) - 1n, 0, 4)).toString(), 'edge');
  });

  it('rejects bad arguments with EINVAL before sending', async () => {
    await rejectsWithCode(client.read(1.5, 1, 0, 4), 'EINVAL');
    await rejectsWithCode(client.read(1, 1, -1, 4), 'EINVAL');
    await rejectsWithCode(client.read(1n << 64n, 1, 0, 4), 'EINVAL');
    await rejectsWithCode(client.write(1, 1, 0, 'text' as unknown as Buffer), 'EINVAL');
  });

  it('rejects an offset whose end overflows', async () => {
    await rejectsWithCode(client.write(1, 1, (1n << 64n) - 2n, Buffer.alloc(10)), 'EINVAL');
  });

  describe('cow', () => {
    it('copies a whole object and leaves the source unchanged', async () => {
      const src = pattern(3 * MiB, 50);
      await client.write(20, 1, 0, src);
      await client.cow({ high: 20, low: 1 }, { high: 20, low: 2 });
      assert.ok((await client.read(20, 2, 0, src.length)).equals(src));
      await client.write(20, 2, 0, Buffer.from('changed'));
      assert.ok((await client.read(20, 1, 0, src.length)).equals(src), 'source unchanged');
    });

    it('refuses an existing destination unless allowExist, and an unknown source', async () => {
      await rejectsWithCode(client.cow({ high: 20, low: 1 }, { high: 20, low: 2 }), 'EEXIST');
      await client.cow({ high: 20, low: 1 }, { high: 20, low: 2 }, { allowExist: true });
      await rejectsWithCode(client.cow({ high: 20, low: 999 }, { high: 20, low: 3 }), 'ENOENT');
    });

    it('copies a range only, source unchanged', async () => {
      const src = pattern(2 * MiB, 51);
      await client.write(21, 1, 0, src);
      await client.write(21, 2, 0, Buffer.alloc(2 * MiB, 7));
      await client.cow({ high: 21, low: 1 }, { high: 21, low: 2 }, { allowExist: true, offset: 4096, size: 100000 });
      const dst = await client.read(21, 2, 0, 2 * MiB);
      assert.ok(dst.subarray(0, 4096).every((b) => b === 7));
      assert.ok(dst.subarray(4096, 104096).equals(src.subarray(4096, 104096)));
      assert.ok(dst.subarray(104096).every((b) => b === 7));
      assert.ok((await client.read(21, 1, 0, 2 * MiB)).equals(src));
    });
  });

  describe('range registration', () => {
    it('refuses write/write and write/read overlaps, allows read/read', async () => {
      const w = await client.registerRange(30, 1, 0, 1000, true);
      assert.ok(w >= 1);
      await rejectsWithCode(client.registerRange(30, 1, 500, 10, true), 'EBUSY');
      await rejectsWithCode(client.registerRange(30, 1, 999, 10, false), 'EBUSY');
      const other = await client.registerRange(30, 1, 1000, 10, true); // adjacent, no overlap
      const r1 = await client.registerRange(30, 2, 0, 100, false);
      const r2 = await client.registerRange(30, 2, 50, 100, false);
      assert.notEqual(r1, r2);
      await rejectsWithCode(client.registerRange(30, 2, 60, 1, true), 'EBUSY');
      await client.unregisterRange(w, 30, 1, 0, 1000, true);
      await client.unregisterRange(other, 30, 1, 1000, 10, true);
      await client.unregisterRange(r1, 30, 2, 0, 100, false);
      await client.unregisterRange(r2, 30, 2, 50, 100, false);
    });

    it('unregister needs an exact match', async () => {
      const id = await client.registerRange(31, 1, 0, 100, true);
      await rejectsWithCode(client.unregisterRange(id, 31, 1, 0, 99, true), 'ENOENT');
      await rejectsWithCode(client.unregisterRange(id, 31, 1, 0, 100, false), 'ENOENT');
      await rejectsWithCode(client.unregisterRange(id + 1000, 31, 1, 0, 100, true), 'ENOENT');
      await rejectsWithCode(client.unregisterRange(id, 31, 2, 0, 100, true), 'ENOENT');
      await client.unregisterRange(id, 31, 1, 0, 100, true);
      await rejectsWithCode(client.unregisterRange(id, 31, 1, 0, 100, true), 'ENOENT');
    });

    it("releases a killed client's ranges", async () => {
      // A separate process registers a write range, reports it, then is killed with SIGKILL.
      const script = `
        const { IocClient } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'src'))});
        (async () => {
          const c = await IocClient.connect('127.0.0.1', ${server.port});
          await c.registerRange(32, 1, 0, 4096, true);
          process.stdout.write('registered\\n');
          // The client stays reachable: a collected client closes, and its range is released.
          setInterval(() => { void c; }, 1000);
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('registered')) resolve(); });
        child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
      });
      await rejectsWithCode(client.registerRange(32, 1, 0, 10, true), 'EBUSY');
      child.kill('SIGKILL');
      const deadline = Date.now() + 10000;
      for (;;) {
        try {
          const id = await client.registerRange(32, 1, 0, 10, true);
          await client.unregisterRange(id, 32, 1, 0, 10, true);
          break;
        } catch (e) {
          assert.equal((e as IocError).code, 'EBUSY');
          if (Date.now() > deadline) throw new Error('the killed client range was never released');
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    });
  });

  it('refuses a wrong auth key (dropped: no reply) and accepts the right one', async () => {
    const probe = path.join(buildDir, 'iocatcher-proto-probe');
    const bad = await run(probe, ['127.0.0.1', String(server.port), 'bad-key']);
    // A wrong key proves nothing about the sender (anyone can name another client's ids): the
    // message is dropped and logged, never answered with BAD_AUTH; the probe's call times out.
    assert.match(bad.stdout, /status=-110\b/);
    assert.match(server.logs(), /bad credentials in CREATE from lf client id \d+ \(tcp client \d+\): dropped/);
    const good = await run(probe, ['127.0.0.1', String(server.port), 'good-key']);
    assert.match(good.stdout, /status=0\b/);
  });

  it('serves two clients at once', async () => {
    const second = await IocClient.connect(server.host, server.port);
    try {
      const a = pattern(5 * MiB, 60);
      const b = pattern(5 * MiB, 61);
      await Promise.all([client.write(40, 1, 0, a), second.write(40, 2, 0, b), client.write(40, 3, 0, b.subarray(0, 1000))]);
      const [ra, rb, cross] = await Promise.all([second.read(40, 1, 0, a.length), client.read(40, 2, 0, b.length), second.read(40, 3, 0, 1000)]);
      assert.ok(ra.equals(a));
      assert.ok(rb.equals(b));
      assert.ok(cross.equals(b.subarray(0, 1000)));
    } finally {
      second.close();
    }
  });

  it('runs many concurrent calls on one client (connection pool)', async () => {
    const ops = [];
    for (let i = 0; i < 16; i++) ops.push(client.write(41, i, i * 3, pattern(40000 + i, 70 + i)));
    await Promise.all(ops);
    const back = await Promise.all(Array.from({ length: 16 }, (_, i) => client.read(41, i, i * 3, 40000 + i)));
    back.forEach((b, i) => assert.ok(b.equals(pattern(40000 + i, 70 + i)), `object ${i}`));
  });

  it('fails calls on a closed client with EBADF', async () => {
    const c = await IocClient.connect(server.host, server.port);
    c.close();
    await rejectsWithCode(c.ping(), 'EBADF');
  });
});

describe('server persistence and failures', function () {
  this.timeout(120000);

  it('connect to a port with no server fails with ECONNREFUSED', async () => {
    await rejectsWithCode(IocClient.connect('127.0.0.1', 1), 'ECONNREFUSED');
  });

  it('flush, then a restarted server with the same --store reads the data back', async () => {
    const store = tmpDir('ioc-persist-');
    const data = pattern(9 * MiB + 123, 80);
    let server = await startServer({ store });
    let client = await IocClient.connect(server.host, server.port);
    await client.write(50, 1, 4096, data);
    const unflushed = Buffer.from('not flushed, but the clean shutdown keeps it');
    await client.write(50, 2, 0, unflushed);
    await client.flush(50, 1);
    const file = path.join(store, '0000000000000032-0000000000000001');
    assert.equal(fs.statSync(file).size, 4096 + data.length, 'flushed object file has the logical size');
    client.close();
    assert.equal(await server.stop(), 0);

    server = await startServer({ store });
    client = await IocClient.connect(server.host, server.port);
    try {
      const back = await client.read(50, 1, 4096, data.length);
      assert.ok(back.equals(data), 'flushed data after restart');
      assert.ok((await client.read(50, 1, 0, 4096)).every((b) => b === 0));
      assert.ok((await client.read(50, 2, 0, unflushed.length)).equals(unflushed));
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('range cow copies ranges that are not loaded in the cache', async () => {
    const store = tmpDir('ioc-cow-');
    const data = pattern(20 * MiB, 81);
    let server = await startServer({ store });
    let client = await IocClient.connect(server.host, server.port);
    await client.write(51, 1, 0, data);
    await client.flush(51, 1);
    client.close();
    await server.stop();
    server = await startServer({ store }); // nothing cached now
    client = await IocClient.connect(server.host, server.port);
    try {
      await client.cow({ high: 51, low: 1 }, { high: 51, low: 2 }, { offset: 3 * MiB, size: 10 * MiB });
      const dst = await client.read(51, 2, 0, 20 * MiB);
      assert.ok(dst.subarray(3 * MiB, 13 * MiB).equals(data.subarray(3 * MiB, 13 * MiB)));
      assert.ok(dst.subarray(0, 3 * MiB).every((b) => b === 0));
      assert.ok(dst.subarray(13 * MiB).every((b) => b === 0));
      await client.cow({ high: 51, low: 1 }, { high: 51, low: 3 });
      assert.ok((await client.read(51, 3, 0, 20 * MiB)).equals(data), 'full cow of an unloaded object');
      assert.ok((await client.read(51, 1, 0, 20 * MiB)).equals(data), 'source unchanged');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('a server killed mid-test makes pending calls fail with an error, not hang', async () => {
    const server = await startServer();
    const client = await IocClient.connect(server.host, server.port);
    try {
      await client.write(52, 1, 0, Buffer.alloc(1000, 1));
      const big = Buffer.alloc(64 * MiB, 3);
      const pending = Array.from({ length: 6 }, (_, i) => client.write(52, 2 + i, 0, big).then(() => 'ok', (e: IocError) => e.code));
      await new Promise((r) => setTimeout(r, 30));
      const t0 = Date.now();
      await server.kill();
      const results = await Promise.all(pending);
      assert.ok(results.some((r) => r !== 'ok'), `some calls were in flight: ${results}`);
      for (const r of results) if (r !== 'ok') assert.match(r, /ECONNRESET|ETIMEDOUT|EIO|ECONNREFUSED/);
      const err = await rejectsWithCode(client.ping(), /ECONNRESET|ECONNREFUSED|ETIMEDOUT/);
      assert.ok(err.message.length > 0);
      assert.ok(Date.now() - t0 < 60000);
    } finally {
      client.close();
    }
  });
});

// The same backing-store suite as test/rados.test.ts runs against RADOS.
backingStoreSuite('directory store', () => ({
  newStore: () => ({ store: tmpDir('ioc-suite-') }),
  stored: async (store, high, low) => {
    const file = path.join(store, `${hex16(high)}-${hex16(low)}`);
    return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
  },
}), 1000);
