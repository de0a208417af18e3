// The object namespace from the clients (TypeScript, C, ummap) against real servers: stat of
// absent, cached and stored objects, listings that objects are created in and deleted from
// meanwhile, delete against registered ranges, three servers (owned objects listed once, deletes
// reaching the owner), servers without the namespace (nothing sent: ENOSYS naming the server),
// and ummap of an existing object without a size.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient, ObjectStat, ummap } from '../src';
import { hex16, rejectsWithCode } from './helpers/assertions';
import { compileCTest, startAgain } from './helpers/faults';
import { failpoints } from './helpers/failpoints';
import { freePort, scrape } from './helpers/ops';
import { run } from './helpers/run';
import { pattern, ServerHandle, startServer, StartOptions, tmpDir } from './helpers/server';

const KiB = 1024;
const MiB = 1 << 20;
// Write-back only when asked: what is dirty stays dirty until the test flushes it.
const NO_WRITE_BEHIND = ['--write-behind', 'off'];

/** Every entry of a listing, in order. */
async function listAll(c: IocClient, opts: Parameters<IocClient['list']>[0] = {}): Promise<ObjectStat[]> {
  const out: ObjectStat[] = [];
  for await (const o of c.list(opts)) out.push(o);
  return out;
}

const key = (o: { high: bigint | number; low: bigint | number }) => `${o.high}:${o.low}`;

describe('object namespace: clients', function () {
  this.timeout(180000);
  const servers: ServerHandle[] = [];
  const clients: IocClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.stop();
  });
  async function server(opts: StartOptions = {}): Promise<ServerHandle> {
    const s = await startServer({ ...opts, args: [...NO_WRITE_BEHIND, ...(opts.args ?? [])] });
    servers.push(s);
    return s;
  }
  async function client(list: string): Promise<IocClient> {
    const c = await IocClient.connect(list);
    clients.push(c);
    return c;
  }

  it('stat: absent (ENOENT), written and cached (dirty), after flush and a restart stored only', async () => {
    let s = await server();
    let c = await client(s.address);
    const e = await rejectsWithCode(c.stat(40, 1), 'ENOENT');
    // The server's reason (or, without one, the client's words).
    assert.match(e.message, /^stat of object 40:1 on 127\.0\.0\.1:\d+: ENOENT \(-2\): (no such object|object 40:1 does not exist)/);
    const size = 3 * MiB + 123;
    await c.write(40, 1, 0, pattern(size, 1));
    const cached = await c.stat(40, 1);
    assert.equal(cached.high, 40n);
    assert.equal(cached.low, 1n);
    assert.equal(cached.size, size);
    assert.equal(cached.stored, false);
    assert.equal(cached.storedBytes, 0);
    assert.ok(cached.cachedBytes >= size, `cached ${cached.cachedBytes}`);
    assert.ok(cached.dirtyBytes >= size && cached.dirtyBytes <= cached.cachedBytes, `dirty ${cached.dirtyBytes}`);

    await c.flush(40, 1);
    const flushed = await c.stat(40, 1);
    assert.deepEqual([flushed.size, flushed.stored, flushed.storedBytes, flushed.dirtyBytes], [size, true, size, 0]);
    assert.ok(flushed.cachedBytes >= size);

    // A new server process on the same store: the object is in the store only.
    c.close();
    await s.stop();
    s = await startAgain(s, { args: NO_WRITE_BEHIND });
    servers.push(s);
    c = await client(s.address);
    assert.deepEqual(await c.stat(40, 1), { high: 40n, low: 1n, size, storedBytes: size, cachedBytes: 0, dirtyBytes: 0, stored: true });
    // Ids in every spelling the client takes.
    assert.equal((await c.stat('0x28', '1')).size, size);
    await rejectsWithCode(c.stat(40, 2 ** 60), 'EINVAL');
  });

  it('list: every object that exists for the whole listing appears once while others are created, deleted and stored meanwhile', async () => {
    let s = await server();
    let c = await client(s.address);
    const H = 41;
    // S: stored only (written, flushed, then the server restarted); A: cached, dirty; B: deleted
    // during the listing; A is flushed during it (so its objects show up in the store's phase
    // too, which the client must drop); N: created during it.
    const S = Array.from({ length: 10 }, (_, i) => 100 + i);
    const A = Array.from({ length: 12 }, (_, i) => 200 + i);
    const B = Array.from({ length: 12 }, (_, i) => 300 + i);
    for (const low of S) await c.write(H, low, 0, pattern(1000 + low, low));
    for (const low of S) await c.flush(H, low);
    c.close();
    await s.stop();
    s = await startAgain(s, { args: NO_WRITE_BEHIND });
    servers.push(s);
    c = await client(s.address);
    for (const low of [...A, ...B]) await c.write(H, low, 0, pattern(1000 + low, low));
    await c.write(H + 1, 1, 0, Buffer.from('another high half'));

    const seen: ObjectStat[] = [];
    let created = 0;
    const it = c.list({ high: H, pageSize: 3 });
    for await (const o of it) {
      seen.push(o);
      // Between pages (a page is fetched when the entries of the last one are used up).
      if (seen.length === 2) for (const low of A) await c.flush(H, low);
      // New objects sort after those listed so far: a few, or the listing would chase them forever.
      if (created < 12) {
        await c.write(H, 500 + created, 0, Buffer.from('new'));
        created++;
      }
      if (B.length > 0) await c.delete(H, B.shift()!);
    }
    const keys = seen.map(key);
    assert.equal(new Set(keys).size, keys.length, `no object twice: ${keys.join(' ')}`);
    for (const low of [...S, ...A]) assert.ok(keys.includes(`${H}:${low}`), `${H}:${low} listed`);
    for (const o of seen) {
      assert.equal(o.high, BigInt(H));
      const low = Number(o.low);
      assert.ok(S.includes(low) || A.includes(low) || (low >= 300 && low < 312) || (low >= 500 && low < 500 + created), `unexpected ${key(o)}`);
      if (S.includes(low)) assert.deepEqual([o.size, o.stored, o.storedBytes, o.cachedBytes], [1000 + low, true, 1000 + low, 0]);
      if (A.includes(low)) assert.equal(o.size, 1000 + low);
    }
    assert.ok(B.length === 0, 'the listing went on long enough to delete every B');

    // Without a filter: every object of the server, the other high half included; a listing
    // broken out of early ends its native listing (the client closes with none open).
    const all = (await listAll(c, { pageSize: 7 })).map(key);
    assert.equal(new Set(all).size, all.length);
    for (const k of [`${H + 1}:1`, ...S.map((l) => `${H}:${l}`), ...A.map((l) => `${H}:${l}`)]) assert.ok(all.includes(k), k);
    for (let low = 300; low < 312; low++) assert.ok(!all.includes(`${H}:${low}`), `deleted ${H}:${low} listed`);
    for await (const o of c.list({ pageSize: 1 })) {
      assert.ok(o);
      break;
    }
  });

  it('list: bad options are EINVAL; an aborted listing rejects with ABORT_ERR and the client still lists', async () => {
    const s = await server();
    const c = await client(s.address);
    for (let low = 1; low <= 5; low++) await c.write(42, low, 0, Buffer.from('x'));
    assert.throws(() => c.list({ pageSize: 0 }), (e: Error & { code?: string }) => e.code === 'EINVAL');
    assert.throws(() => c.list({ pageSize: 1.5 }), (e: Error & { code?: string }) => e.code === 'EINVAL');
    assert.throws(() => c.list({ high: 'x' }), (e: Error & { code?: string }) => e.code === 'EINVAL');
    const ac = new AbortController();
    ac.abort();
    assert.throws(() => c.list({ signal: ac.signal }), (e: Error & { code?: string }) => e.code === 'ABORT_ERR');
    const ac2 = new AbortController();
    const got: ObjectStat[] = [];
    await rejectsWithCode((async () => {
      for await (const o of c.list({ high: 42, pageSize: 2, signal: ac2.signal })) {
        got.push(o);
        if (got.length === 2) ac2.abort();
      }
    })(), 'ABORT_ERR');
    assert.equal(got.length, 2);
    assert.equal((await listAll(c, { high: 42 })).length, 5);
  });

  it('delete: EBUSY while a range is registered (by this client or another), then gone from cache and store; ENOENT after', async () => {
    const s = await server();
    const c = await client(s.address);
    const other = await client(s.address);
    await c.write(43, 1, 0, pattern(100 * KiB, 3));
    await c.flush(43, 1);
    assert.ok(fs.existsSync(path.join(s.store, `${hex16(43)}-${hex16(1)}`)), 'stored');
    const id = await other.registerRange(43, 1, 0, 4096, false);
    const busy = await rejectsWithCode(c.delete(43, 1), 'EBUSY');
    assert.match(busy.message, /^delete of object 43:1 on 127\.0\.0\.1:\d+: EBUSY/);
    assert.equal((await c.stat(43, 1)).size, 100 * KiB, 'a refused delete left the object');
    await other.unregisterRange(id, 43, 1, 0, 4096, false);
    const w = await c.registerRange(43, 1, 8192, 4096, true);
    await rejectsWithCode(c.delete(43, 1), 'EBUSY');
    await c.unregisterRange(w, 43, 1, 8192, 4096, true);
    await c.delete(43, 1);
    await rejectsWithCode(c.stat(43, 1), 'ENOENT');
    assert.ok(!fs.existsSync(path.join(s.store, `${hex16(43)}-${hex16(1)}`)), 'the stored copy is gone');
    const e = await rejectsWithCode(c.delete(43, 1), 'ENOENT');
    assert.match(e.message, /^delete of object 43:1 on 127\.0\.0\.1:\d+: ENOENT \(-2\): (no such object|object 43:1 does not exist)/);
    assert.ok((await c.read(43, 1, 0, 4096)).equals(Buffer.alloc(4096)), 'reads as never written');
  });

  for (const shared of [false, true]) {
    it(`three servers${shared ? ' sharing one store' : ' with their own stores'}: the listing gives every object once; stat and delete reach the owner`, async () => {
      const store = shared ? tmpDir('ioc-ns-shared-') : undefined;
      const trio = [await server({ store }), await server({ store }), await server({ store })];
      const c = await client(trio.map((s) => s.address).join(','));
      const H = 44;
      const lows = Array.from({ length: 30 }, (_, i) => i + 1);
      for (const low of lows) await c.write(H, low, 0, pattern(500 + low, low));
      for (const low of lows.filter((l) => l % 2 === 0)) await c.flush(H, low);
      const owners = new Set(lows.map((low) => c.serverOf(H, low)));
      assert.equal(owners.size, 3, 'objects on every server');
      const listed = await listAll(c, { high: H, pageSize: 4 });
      assert.deepEqual(listed.map((o) => Number(o.low)).sort((a, b) => a - b), lows);
      for (const o of listed) {
        assert.equal(o.size, 500 + Number(o.low));
        assert.equal(o.stored, Number(o.low) % 2 === 0);
      }
      // Each object lives on its owner: a client of that server alone sees it, the others not.
      const single = await Promise.all(trio.map((s) => client(s.address)));
      const victim = 4;  // stored
      const owner = trio.findIndex((s) => s.address === c.serverOf(H, victim));
      assert.equal((await single[owner].stat(H, victim)).storedBytes, 500 + victim);
      await c.delete(H, victim);
      await rejectsWithCode(single[owner].stat(H, victim), 'ENOENT');
      await rejectsWithCode(c.stat(H, victim), 'ENOENT');
      assert.ok(!fs.existsSync(path.join(trio[owner].store, `${hex16(H)}-${hex16(victim)}`)));
      const after = (await listAll(c, { high: H })).map((o) => Number(o.low)).sort((a, b) => a - b);
      assert.deepEqual(after, lows.filter((l) => l !== victim));
    });
  }

  // Nothing of the namespace is sent to a server that did not list it in its handshake.
  for (const [persona, env, words] of [
    ['an original server (failpoint server.original_errors: no server info)', failpoints({ 'server.original_errors': 'on' }), /is an original iocatcher server/],
    ['one of ours without the namespace bit (failpoint server.no_fencing: no clock, so no feature bits)', failpoints({ 'server.no_fencing': 'on' }), /is an iocatcher server without the namespace extension/],
  ] as Array<[string, NodeJS.ProcessEnv, RegExp]>) {
    it(`${persona}: stat, delete and list reject with ENOSYS naming the server, and none of them reaches it`, async () => {
      const metrics = `127.0.0.1:${await freePort()}`;
      const s = await server({ args: ['--metrics', metrics, '--stats-interval', '0', '--verbose=protocol'], env });
      const c = await client(s.address);
      await c.write(45, 1, 0, Buffer.from('data'));
      for (const call of [c.stat(45, 1), c.delete(45, 1), listAll(c)]) {
        const e = await rejectsWithCode(call, 'ENOSYS');
        assert.match(e.message, new RegExp(`on ${s.address.replace(/\./g, '\\.')}: ENOSYS \\(-38\\): ${s.address.replace(/\./g, '\\.')} ${words.source}`));
      }
      const { stdout } = await run(compileCTest('namespace'), [s.address, '145', 'refused']);
      assert.match(stdout, /c namespace ok/);
      for (const call of ['stat', 'delete', 'list']) assert.match(stdout, new RegExp(`^${call}: ${s.address.replace(/\./g, '\\.')} ${words.source}`, 'm'));
      // The object is untouched, and the server saw the data calls but none of the namespace.
      assert.equal((await c.read(45, 1, 0, 4)).toString(), 'data');
      const m = await scrape(metrics);
      assert.ok((m.get('ioc_requests_total{type="OBJ_WRITE"}') ?? 0) >= 2);
      const namespaceRequests = [...m.keys()].filter((k) => /^ioc_requests_total\{type="(OBJ_STAT|OBJ_LIST|OBJ_DELETE|UNKNOWN)"\}$/.test(k) && m.get(k)! > 0);
      assert.deepEqual(namespaceRequests, []);
      assert.doesNotMatch(s.logs(), /OBJ_STAT|OBJ_LIST|OBJ_DELETE|unknown type/);
    });
  }

  it('C: stat, list (short and long batches) and delete through test/c/namespace.c, one server and three', async () => {
    const exe = compileCTest('namespace');
    const one = await server();
    const { stdout } = await run(exe, [one.address, '46', 'full']);
    assert.match(stdout, /c namespace ok/);
    assert.match(stdout, /^busy reason: /m);
    const trio = [await server(), await server(), await server()];
    const r = await run(exe, [trio.map((s) => s.address).join(','), '47', 'full']);
    assert.match(r.stdout, /c namespace ok/);
  });

  it('errors carry the server\'s reason: TypeScript messages and ioc_client_last_error', async () => {
    const s = await server({ args: ['--max-object-size', '1MB'] });
    const c = await client(s.address);
    const e = await rejectsWithCode(c.read(48, 1, 2 * MiB, 4096), 'EFBIG');
    assert.match(e.message, /^read of bytes \[2097152, 2101248\) of object 48:1 on 127\.0\.0\.1:\d+: EFBIG \(-27\): \S.*max-object-size/);
    const eager = await rejectsWithCode(c.write(48, 1, 2 * MiB, Buffer.alloc(100)), 'EFBIG');  // sent from the JS thread
    assert.match(eager.message, /EFBIG \(-27\): \S.*max-object-size/);
    const { stdout } = await run(compileCTest('namespace'), [s.address, '48', 'efbig']);
    assert.match(stdout, /^reason: \S.*max-object-size/m);
  });

  it('ummap without a size maps an existing object whole (its stored size), from storageOffset; ENOENT for a new object', async () => {
    let s = await server();
    const c = await client(s.address);
    const size = 3 * MiB + 4567;
    await c.write(49, 1, 0, pattern(size, 9));
    await c.flush(49, 1);
    c.close();
    await s.stop();
    s = await startAgain(s, { args: NO_WRITE_BEHIND });
    servers.push(s);
    const m = ummap(49, 1, { server: s.address, segmentSize: MiB });
    try {
      assert.equal(m.size, size);
      assert.ok(Buffer.from(m.buffer).equals(pattern(size, 9)));
    } finally {
      await m.unmap();
    }
    const tail = ummap('ioc://49:1', { server: s.address, storageOffset: MiB });
    try {
      assert.equal(tail.size, size - MiB);
      assert.ok(Buffer.from(tail.buffer).equals(pattern(size, 9).subarray(MiB)));
    } finally {
      tail.unmapSync();
    }
    assert.throws(() => ummap(49, 2, undefined, { server: s.address }), (e: Error & { code?: string }) =>
      e.code === 'ENOENT' && /ioc:\/\/49:2@127\.0\.0\.1:\d+ does not exist: a new object needs a size/.test(e.message));
    assert.throws(() => ummap(49, 1, { server: s.address, storageOffset: 4 * MiB }), (e: Error & { code?: string }) =>
      e.code === 'EINVAL' && /holds 3150295 bytes: nothing to map from storage offset 4194304/.test(e.message));
    assert.throws(() => ummap('mem://1MB'), (e: Error & { code?: string }) => e.code === 'EINVAL' && /needs a size/.test(e.message));
    assert.throws(() => ummap(49, 1, 0, { server: s.address }), (e: Error & { code?: string }) => e.code === 'EINVAL');
    const orig = await server({ env: failpoints({ 'server.original_errors': 'on' }) });
    assert.throws(() => ummap(49, 1, { server: orig.address }), (e: Error & { code?: string }) =>
      e.code === 'ENOSYS' && /needs a size: .*is an original iocatcher server/.test(e.message));
  });
});
