// Issue 11, "never lose, corrupt or hang", store side: file descriptors of the directory store,
// per-object metadata, whole-object cow interrupted by a crash, and a --nvdimm pool on a full
// filesystem. Real servers, real files; crashes come from test hooks, never from timing.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { code, hex16 } from './helpers/assertions';
import { failpoints } from './helpers/failpoints';
import { fileLimit, mountSmallTmpfs, openFdCount } from './helpers/faults';
import { freePort, httpGet } from './helpers/ops';
import { pattern, ServerHandle, startServer, StartOptions, tmpDir } from './helpers/server';

const KiB = 1024;
const MiB = 1 << 20;

// Servers and clients of the current test, stopped after it.
const servers: ServerHandle[] = [];
const clients: IocClient[] = [];
async function start(opts: StartOptions): Promise<{ server: ServerHandle; client: IocClient }> {
  const server = await startServer(opts);
  servers.push(server);
  const client = await IocClient.connect(server.host, server.port);
  clients.push(client);
  return { server, client };
}
async function stopAll(): Promise<void> {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
}

async function readBackAll(client: IocClient, high: number, count: number, size: number, seed: (i: number) => number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const got = await client.read(high, i, 0, size);
    if (!got.equals(pattern(size, seed(i)))) assert.fail(`object (${high}, ${i}) differs from what was written`);
  }
}

describe('integrity: more objects than file descriptors', function () {
  this.timeout(120000);
  afterEach(stopAll);
  const LIMIT = 128;  // descriptors of the whole server process
  const OBJECTS = 1000;
  const SIZE = 4 * KiB;

  it('flushed objects read back byte for byte after a restart; descriptors stay bounded; clients still connect', async () => {
    const store = tmpDir('ioc-fds-');
    // The default --max-clients leaves 256 descriptors for the rest: at this limit, name a few.
    const opts = { store, args: ['--segment-size', '64KB', '--cache-size', '4MB', '--max-clients', '4'], runUnder: fileLimit(LIMIT) };
    let { server, client } = await start(opts);
    for (let i = 0; i < OBJECTS; i++) {
      assert.equal(await client.write(730, i, 0, pattern(SIZE, i + 1)), SIZE);
      await client.flush(730, i);
    }
    const fds = openFdCount(server.pid);
    assert.ok(fds < LIMIT - 16, `the server holds ${fds} descriptors of ${LIMIT}`);
    const second = await IocClient.connect(server.host, server.port);
    clients.push(second);
    await second.ping();
    await stopAll();
    ({ server, client } = await start(opts));
    await readBackAll(client, 730, OBJECTS, SIZE, (i) => i + 1);
    assert.ok(openFdCount(server.pid) < LIMIT - 16);
  });

  for (const nvdimm of [false, true]) {
    it(`a SIGTERM shutdown ${nvdimm ? 'with' : 'without'} --nvdimm writes every dirty object back`, async () => {
      const store = tmpDir('ioc-fds-');
      // All of them stay dirty in the cache (no write-behind) until the shutdown writes them back.
      const args = ['--segment-size', '64KB', '--cache-size', '128MB', '--write-behind', 'off', ...(nvdimm ? ['--nvdimm', tmpDir('ioc-pool-')] : [])];
      const opts = { store, args, runUnder: fileLimit(LIMIT) };
      // Each write to a pool on this disk waits for an msync: fewer, still twice the process's limit.
      const count = nvdimm ? 2 * LIMIT : OBJECTS;
      let { server, client } = await start(opts);
      for (let i = 0; i < count; i++) assert.equal(await client.write(731, i, 0, pattern(SIZE, i + 7)), SIZE);
      client.close();
      clients.splice(0);
      servers.splice(0);
      assert.equal(await server.stop(), 0, 'a clean shutdown');
      assert.doesNotMatch(server.logs(), /flush at shutdown failed/);
      ({ server, client } = await start(opts));
      await readBackAll(client, 731, count, SIZE, (i) => i + 7);
    });
  }

  it('an object file the store cannot open is an error, never zeros, and is served once it opens again', async () => {
    const store = tmpDir('ioc-open-');
    const data = pattern(64 * KiB, 9);
    let { client } = await start({ store });
    await client.write(735, 1, 0, data);
    await client.flush(735, 1);
    await stopAll();
    const file = path.join(store, `${hex16(735)}-${hex16(1)}`);
    fs.renameSync(file, `${file}.away`);
    fs.mkdirSync(file);  // open(O_RDWR) fails with EISDIR (root ignores permission bits)
    ({ client } = await start({ store }));
    assert.equal(await code(client.read(735, 1, 0, data.length)), 'EISDIR');
    assert.equal(await code(client.write(735, 1, 0, Buffer.from('x'))), 'EISDIR');
    fs.rmdirSync(file);
    fs.renameSync(`${file}.away`, file);
    assert.ok((await client.read(735, 1, 0, data.length)).equals(data), 'asked again: the stored bytes');
  });

  it('reads of thousands of absent objects leave the tracked-object count where it was', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    // No write-behind: an object waiting for its background drain keeps its entry until it ran.
    const { client } = await start({
      args: ['--metrics', metrics, '--segment-size', '64KB', '--cache-size', '4MB', '--stats-interval', '0', '--write-behind', 'off'],
    });
    const cache = async () => JSON.parse((await httpGet(`http://${metrics}/stats`)).body).cache as { objects: number; segments: number };
    await client.write(732, 0, 0, Buffer.from('present'));
    await client.flush(732, 0);
    const before = (await cache()).objects;
    assert.equal(typeof before, 'number');
    const zeros = Buffer.alloc(SIZE);
    for (let i = 1; i <= 3000; i++) assert.ok((await client.read(733, i, 0, SIZE)).equals(zeros));
    const afterReads = await cache();
    assert.equal(afterReads.objects, before, `no metadata left per absent object: ${JSON.stringify(afterReads)}`);
    // Objects written and flushed past the cache size: entries go with their last segment.
    for (let i = 0; i < 300; i++) {
      await client.write(734, i, 0, pattern(64 * KiB, i + 3));
      await client.flush(734, i);
    }
    const after = await cache();
    assert.ok(after.objects <= after.segments + 1, `${after.objects} objects tracked for ${after.segments} cached segments`);
    await readBackAll(client, 734, 300, 64 * KiB, (i) => i + 3);
    assert.equal((await client.read(732, 0, 0, 7)).toString(), 'present');
  });
});

describe('integrity: whole-object cow interrupted by a crash', function () {
  this.timeout(60000);
  afterEach(stopAll);

  it('SIGKILL mid-copy leaves the destination entirely old; a cow afterwards makes it entirely the source', async () => {
    const store = tmpDir('ioc-cow-');
    const SIZE = 6 * MiB;
    const source = pattern(SIZE, 21), old = pattern(SIZE, 22);
    let { server, client } = await start({ store, env: failpoints({ 'store.copy_kill_at_bytes': `value(${2 * MiB})` }) });
    client.setTimeout(10000);
    await client.write(740, 1, 0, source);
    await client.write(740, 2, 0, old);
    await client.flush(740, 1);
    await client.flush(740, 2);
    assert.notEqual(await code(client.cow({ high: 740, low: 1 }, { high: 740, low: 2 }, { allowExist: true })), 'ok');
    await server.exited;
    assert.match(server.logs(), /test hook: copy killed after copying \d+ bytes/);
    assert.ok(fs.readdirSync(store).some((n) => n.startsWith('.cow-')), 'the interrupted copy left its temporary');
    await stopAll();

    ({ server, client } = await start({ store }));
    assert.ok((await client.read(740, 2, 0, SIZE)).equals(old), 'the destination holds its old content');
    assert.deepEqual(fs.readdirSync(store).filter((n) => n.startsWith('.cow-')), [], 'temporaries removed at start');
    assert.match(server.logs(), /removed 1 unfinished copies/);
    await client.cow({ high: 740, low: 1 }, { high: 740, low: 2 }, { allowExist: true });
    assert.ok((await client.read(740, 2, 0, SIZE)).equals(source), 'the destination holds the source');
    await stopAll();
    ({ client } = await start({ store }));
    assert.ok((await client.read(740, 2, 0, SIZE)).equals(source), 'and still after a restart');
    assert.ok((await client.read(740, 1, 0, SIZE)).equals(source), 'the source is unchanged');
  });
});

describe('integrity: --nvdimm pool on a full filesystem', function () {
  this.timeout(120000);
  afterEach(stopAll);
  let pool: { dir: string; unmount: () => void } | undefined;
  before(function () {
    const m = mountSmallTmpfs(24);
    if ('skip' in m) {
      console.log(`      skipped: ${m.skip}`);
      this.skip();
    }
    pool = m as { dir: string; unmount: () => void };
  });
  after(async () => {
    await stopAll();
    pool?.unmount();
  });

  it('no SIGBUS: writes past the pool filesystem spill, one needing more room gets ENOSPC, acknowledged data survives SIGKILL', async () => {
    const store = tmpDir('ioc-full-');
    // 1 MiB segments in a 24 MiB filesystem: about 22 slots fit, the cache would take 64.
    // No write-behind: the last writes are still dirty in the pool when the server is killed.
    const opts = {
      store,
      args: ['--nvdimm', path.join(pool!.dir, 'a'), '--segment-size', '1MB', '--cache-size', '64MB', '--max-transfer', '64MB',
        '--write-behind', 'off', '--prefault', 'off'],  // slots get their blocks when handed out
    };
    let { server, client } = await start(opts);
    for (let i = 0; i < 40; i++) assert.equal(await client.write(750, i, 0, pattern(MiB, i + 5)), MiB, `write ${i}`);
    // 32 segments pinned at once by one request cannot all have blocks.
    assert.equal(await code(client.write(751, 0, 0, pattern(32 * MiB, 1))), 'ENOSPC');
    await client.ping();
    await readBackAll(client, 750, 40, MiB, (i) => i + 5);
    assert.ok((await client.read(751, 0, 0, MiB)).equals(Buffer.alloc(MiB)), 'nothing of the refused write');
    // Dirty in the pool only when the server dies.
    for (let i = 40; i < 50; i++) assert.equal(await client.write(750, i, 0, pattern(MiB, i + 5)), MiB);
    await server.kill();
    assert.doesNotMatch(server.logs(), /SIGBUS/);
    await stopAll();
    ({ server, client } = await start(opts));
    const recovered = /recovered (\d+) dirty segments/.exec(server.logs());
    assert.ok(recovered && Number(recovered[1]) > 0, 'the restart recovered dirty segments from the pool');
    await readBackAll(client, 750, 50, MiB, (i) => i + 5);
  });

  it('a pool filesystem filled by another file: a write needing a new slot gets ENOSPC, and succeeds once there is room', async () => {
    fs.rmSync(path.join(pool!.dir, 'a'), { recursive: true, force: true });  // the previous test's pool
    // No prefault: a slot gets its blocks when handed out (a prefaulted pool reserves them at start).
    const { client } = await start({ args: ['--nvdimm', path.join(pool!.dir, 'b'), '--segment-size', '1MB', '--cache-size', '64MB', '--prefault', 'off'] });
    const filler = path.join(pool!.dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(MiB));
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC', 'the filler fills the file system');
    } finally {
      fs.closeSync(fd);
    }
    const data = pattern(MiB, 41);
    assert.equal(await code(client.write(752, 0, 0, data)), 'ENOSPC');
    await client.ping();
    fs.rmSync(filler);
    assert.equal(await client.write(752, 0, 0, data), MiB);
    assert.ok((await client.read(752, 0, 0, MiB)).equals(data));
  });
});
