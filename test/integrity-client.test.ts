// Issue 11 ("never lose, corrupt or hang"), client side: a reply is matched to its request (forged
// messages cannot shift a victim's replies), compatibility with servers that do not echo.
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as path from 'path';
import { IocClient } from '../src';
import { failpoints } from './helpers/failpoints';
import { compileCTest, restartServer, waitFor } from './helpers/faults';
import { rejectsWithCode } from './helpers/assertions';
import { run } from './helpers/run';
import { buildDir, pattern, ServerHandle, serversWithClients, startServer } from './helpers/server';

const KiB = 1024;

/** Object i of a test: 4 KiB (eager) when i is even, 40 KiB (RMA) when odd; distinct bytes. */
const objectSize = (i: number) => (i % 2 ? 40 * KiB : 4 * KiB);
const objectBytes = (i: number) => pattern(objectSize(i), 1000 + i);

async function writeObjects(client: IocClient, high: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) assert.equal(await client.write(high, i, 0, objectBytes(i)), objectSize(i));
}

/** Reads object (high, i) for i in order, `parallel` calls at a time; each must be its own bytes. */
async function readAndCheck(client: IocClient, high: number, order: number[], parallel: number): Promise<number> {
  let next = 0, done = 0;
  const worker = async () => {
    while (next < order.length) {
      const i = order[next++];
      const got = await client.read(high, i, 0, objectSize(i));
      assert.ok(got.equals(objectBytes(i)), `read of object ${i} returned other bytes`);
      done++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return done;
}

const shuffled = (n: number, rounds: number) =>
  Array.from({ length: n * rounds }, (_, k) => (k * 7 + Math.floor(k / n)) % n);


describe('integrity (client): replies matched to their requests', function () {
  this.timeout(120000);
  const start = serversWithClients();

  it('forged messages with a victim\'s lf and TCP ids and a wrong key: dropped, the victim reads its own bytes', async () => {
    const { server, client } = await start();
    const objects = 24;
    await writeObjects(client, 11, objects);
    await readAndCheck(client, 11, shuffled(objects, 1), 4);  // four pooled connections
    // The attacker sprays every lf id in 1..8 and TCP id in 0..8 (the victim's are among them:
    // ids are sequential, TCP ids from 0 as the original's) with a wrong key while the victim
    // keeps reading, four calls at a time.
    const attacker = spawn(path.join(buildDir, 'iocatcher-live-fuzz'),
      ['127.0.0.1', String(server.port), 'forge', '--ids', '8', '--rounds', '12'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    attacker.stdout.on('data', (d) => { out += d; });
    attacker.stderr.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => attacker.on('exit', resolve));
    let attackOver = false;
    void exited.then(() => { attackOver = true; });
    let reads = 0;
    while (!attackOver || reads < 400) reads += await readAndCheck(client, 11, shuffled(objects, 2), 4);
    assert.equal(await exited, 0, out);
    const sent = 8 * 9 * 12;
    assert.match(out, new RegExp(`^forged sent=${sent} replies=0$`, 'm'), 'no reply to a forged message, to anyone');
    assert.match(out, /^alive=1$/m);
    // Every forged message is logged as dropped (the log reaches us through a pipe: wait for it).
    const dropped = () => (server.logs().match(/ from lf client id \d+ \(tcp client \d+\): dropped/g) ?? []).length;
    await waitFor(() => dropped() >= sent, 10000, `${sent} 'dropped' log lines (have ${dropped()})`);
    assert.doesNotMatch(server.logs(), /: BAD_AUTH/);
    assert.ok(reads >= 400);
    await client.ping();
  });

  it('a stale reply (every reply sent twice) is discarded: TS and C clients get their own answers', async () => {
    const { server, client } = await start({ env: failpoints({ 'server.duplicate_replies': 'on' }) });
    const objects = 16;
    await writeObjects(client, 12, objects);
    assert.equal(await readAndCheck(client, 12, shuffled(objects, 6), 1), objects * 6);
    assert.equal(await readAndCheck(client, 12, shuffled(objects, 6), 4), objects * 6);
    await client.create(12, 100);
    await client.flush(12, 1);
    const id = await client.registerRange(12, 2, 0, 100, true);
    assert.ok(id >= 1);
    await client.unregisterRange(id, 12, 2, 0, 100, true);
    await client.ping(16);
    // The C client, alone on one connection: each duplicate is seen and discarded before the
    // next call's reply (one connection delivers in order), counted on stderr.
    const exe = compileCTest('distinct_reads');
    const { stdout, stderr } = await run(exe, ['127.0.0.1', String(server.port), '16', '8'],
      { env: { ...process.env, IOC_CLIENT_DEBUG: '1' } });
    assert.match(stdout, /^reads=128 mismatches=0 errors=0$/m);
    const discarded = (stderr.match(/discarded a READ_WRITE_ACK/g) ?? []).length;
    assert.ok(discarded >= 16 + 128 - 1, `${discarded} duplicates discarded, expected one per call but maybe the last`);
  });

  // server.no_echo: ignores the trailer and never echoes, as the original server.
  // server.no_trailer: refuses it (-EINVAL, trailing bytes), as iocatcher-ts servers before it:
  // each connection then sends its request again without, and no trailer from then on.
  for (const persona of ['server.no_echo', 'server.no_trailer']) {
    it(`a server that does not echo (${persona}): TS and C clients work as before`, async () => {
      const { server, client } = await start({ env: failpoints({ [persona]: 'on' }) });
      await writeObjects(client, 13, 8);
      assert.equal(await readAndCheck(client, 13, shuffled(8, 4), 4), 32);
      await client.create(13, 100);
      await client.flush(13, 1);
      await client.cow({ high: 13, low: 1 }, { high: 13, low: 200 });
      assert.ok((await client.read(13, 200, 0, objectSize(1))).equals(objectBytes(1)));
      const id = await client.registerRange(13, 2, 0, 100, true);
      await client.unregisterRange(id, 13, 2, 0, 100, true);
      await client.ping(100);
      const { stdout } = await run(compileCTest('roundtrip'), ['127.0.0.1', String(server.port)]);
      assert.match(stdout, /c roundtrip ok/);
      const d = await run(compileCTest('distinct_reads'), ['127.0.0.1', String(server.port), '8', '4']);
      assert.match(d.stdout, /^reads=32 mismatches=0 errors=0$/m);
    });
  }
});

describe('integrity (client): stale pooled connections after a server restart', function () {
  this.timeout(120000);
  const servers: ServerHandle[] = [];
  const clients: IocClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.stop();
  });

  /** A client with `pooled` connections to a server whose objects 0..7 hold known bytes, flushed. */
  async function pooledClientThenRestart(pooled: number): Promise<{ client: IocClient; server: ServerHandle }> {
    const first = await startServer();
    servers.push(first);
    const client = await IocClient.connect(first.host, first.port);
    clients.push(client);
    await writeObjects(client, 21, 8);
    for (let i = 0; i < 8; i++) await client.flush(21, i);
    // Large reads run on worker threads, each on a connection of its own: the pool grows.
    await Promise.all(Array.from({ length: pooled }, (_, k) => client.read(21, 1, 0, objectSize(1) + k)));
    servers.pop();
    const server = await restartServer(first);
    servers.push(server);
    return { client, server };
  }

  const idempotent: Array<[string, (c: IocClient) => Promise<void>]> = [
    ['read (eager)', async (c) => assert.ok((await c.read(21, 0, 0, objectSize(0))).equals(objectBytes(0)))],
    ['read (RMA)', async (c) => assert.ok((await c.read(21, 1, 0, objectSize(1))).equals(objectBytes(1)))],
    ['write (eager), then read back', async (c) => {
      assert.equal(await c.write(21, 2, 0, objectBytes(4)), objectSize(4));
      assert.ok((await c.read(21, 2, 0, objectSize(4))).equals(objectBytes(4)));
    }],
    ['write (RMA), then read back', async (c) => {
      assert.equal(await c.write(21, 3, 0, objectBytes(5)), objectSize(5));
      assert.ok((await c.read(21, 3, 0, objectSize(5))).equals(objectBytes(5)));
    }],
    ['ping', (c) => c.ping(8)],
    ['flush', (c) => c.flush(21, 1)],
    ['create', (c) => c.create(21, 50)],
    ['cow with allowExist', async (c) => {
      await c.cow({ high: 21, low: 1 }, { high: 21, low: 60 }, { allowExist: true });
      assert.ok((await c.read(21, 60, 0, objectSize(1))).equals(objectBytes(1)));
    }],
    ['stat', async (c) => assert.equal((await c.stat(21, 1)).storedBytes, objectSize(1))],
    ['list', async (c) => {
      const lows: number[] = [];
      for await (const o of c.list({ high: 21 })) lows.push(Number(o.low));
      assert.deepEqual(lows.sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7]);
    }],
    // The stale connection's try never reached the new server: the retry deletes.
    ['delete', async (c) => {
      await c.delete(21, 5);
      await rejectsWithCode(c.stat(21, 5), 'ENOENT');
    }],
  ];
  for (const [name, call] of idempotent) {
    it(`${name}: succeeds on the first try after a restart (retried once on a fresh connection)`, async () => {
      const { client } = await pooledClientThenRestart(4);
      await call(client);
    });
  }

  it('range register (not idempotent) is not retried: the stale connection\'s ECONNRESET, then the next call works', async () => {
    const { client } = await pooledClientThenRestart(4);
    // The stale connection's call fails (the old server said FATAL_ERROR and closed the side
    // channel; the new one drops its unknown credentials): never sent twice.
    await rejectsWithCode(client.registerRange(21, 7, 0, 100, true), 'ECONNRESET');
    let id = 0;
    for (let attempt = 0; attempt < 8 && id === 0; attempt++) {  // the other stale ones fail the same way
      id = await client.registerRange(21, 7, 0, 100, true).catch((e) => {
        assert.equal(e.code, 'ECONNRESET');
        return 0;
      });
    }
    assert.ok(id >= 1);
    await client.unregisterRange(id, 21, 7, 0, 100, true);
  });
});
