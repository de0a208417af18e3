// The object namespace (OBJ_STAT, OBJ_LIST, OBJ_DELETE) against a real server on each store it
// has (test/namespace-server.test.ts: the directory store; test/rados.test.ts: RADOS), spoken
// raw through iocatcher-proto-probe (helpers/ns-probe.ts). Races with a delete are driven by the
// store gate (failpoint store.data_io=pause(GATE) holds the delete's remove on its store thread) and the
// daemon's request counters, never by timing.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../../src';
import { failpoints } from './failpoints';
import { waitFor, waitForLog } from './faults';
import { key, listAll, NsProbe, ObjStat } from './ns-probe';
import { freePort, httpGet } from './ops';
import { pattern, ServerHandle, startServer, StartOptions, tmpDir } from './server';
import { StoreFixture } from './store-suite';

const MiB = 1 << 20;
const ENOENT = -2, EBUSY = -16;

export interface NamespaceFixture extends StoreFixture {
  /** Put an object into the store as another tool would (not through a server). */
  put(store: string, high: number, low: number, data: Buffer): Promise<void>;
}

interface DaemonStats {
  requests: Record<string, number>;
  cache: { storeJobs: number };
}

async function daemonStats(metrics: string): Promise<DaemonStats> {
  const r = await httpGet(`http://${metrics}/stats`);
  if (r.status !== 200) throw new Error(`/stats: HTTP ${r.status}: ${r.body}`);
  return JSON.parse(r.body) as DaemonStats;
}

const requests = (s: DaemonStats, type: string): number => s.requests[type] ?? 0;

export function namespaceStoreSuite(name: string, fixture: () => NamespaceFixture, idBase: number): void {
  describe(`object namespace: ${name}`, function () {
    this.timeout(180000);
    // Each test its own high halves: the RADOS tests share one pool.
    let nextHigh = idBase;
    let H = idBase;
    beforeEach(() => {
      H = nextHigh;
      nextHigh += 10;
    });
    const servers: ServerHandle[] = [];
    const clients: IocClient[] = [];
    const probes: NsProbe[] = [];
    afterEach(async () => {
      for (const p of probes.splice(0)) await p.close();
      for (const c of clients.splice(0)) c.close();
      for (const s of servers.splice(0)) await s.stop();
    });
    const start = async (spec: { store: string; args?: string[]; env?: NodeJS.ProcessEnv }, extra: StartOptions = {}) => {
      const server = await startServer({ store: spec.store, args: [...(spec.args ?? []), ...(extra.args ?? [])],
        env: { ...spec.env, ...extra.env } });
      servers.push(server);
      return server;
    };
    const connect = async (server: ServerHandle) => {
      const c = await IocClient.connect(server.host, server.port);
      clients.push(c);
      return c;
    };
    const probe = async (server: ServerHandle) => {
      const p = await NsProbe.open(server.host, server.port);
      probes.push(p);
      return p;
    };
    const expectStat = (s: ObjStat | undefined, want: Partial<ObjStat>, what: string) => {
      assert.ok(s, `${what}: a stat`);
      for (const [k, v] of Object.entries(want)) assert.equal((s as unknown as Record<string, unknown>)[k], v, `${what}: ${k}`);
    };

    it('stat: absent (ENOENT with the reason), only cached, only stored, both; the figures', async () => {
      const spec = fixture().newStore();
      const server = await start(spec, { args: ['--write-behind', 'off', '--segment-size', '1MB'] });
      const client = await connect(server);
      const p = await probe(server);
      const absent = await p.stat(H, 1);
      assert.equal(absent.status, ENOENT);
      assert.match(absent.reason ?? '', /no such object in the cache or the store/);
      await client.write(H, 2, 10, pattern(3 * MiB, 2));  // cached only (no write-behind)
      expectStat((await p.stat(H, 2)).stat, { high: String(H), low: '2', size: 3 * MiB + 10, stored: false, storedBytes: 0,
        dirtyBytes: 3 * MiB, cachedBytes: 3 * MiB + 10 }, 'cached only');
      await fixture().put(spec.store, H, 3, pattern(5000, 3));  // stored only
      expectStat((await p.stat(H, 3)).stat, { size: 5000, stored: true, storedBytes: 5000, cachedBytes: 0, dirtyBytes: 0 }, 'stored only');
      await client.write(H, 4, 0, pattern(2 * MiB, 4));
      await client.flush(H, 4);
      await client.write(H, 4, 2 * MiB + 100, Buffer.from('tail'));  // beyond the stored end, not flushed
      expectStat((await p.stat(H, 4)).stat, { size: 2 * MiB + 104, stored: true, storedBytes: 2 * MiB, dirtyBytes: 4,
        cachedBytes: 2 * MiB + 104 }, 'stored, cached and partly dirty');
      await client.create(H, 5);
      expectStat((await p.stat(H, 5)).stat, { size: 0, stored: true, storedBytes: 0 }, 'created empty');
    });

    it('list: each object once (only cached, only stored, both), in pages, while objects are created and deleted; the high filter', async () => {
      const spec = fixture().newStore();
      const server = await start(spec, { args: ['--write-behind', 'off'] });
      const client = await connect(server);
      const p = await probe(server);
      const sizes = new Map<string, number>();
      const k = (low: number, high = H) => `${high}:${low}`;
      for (let i = 0; i < 150; i++) {  // stored only
        await fixture().put(spec.store, H, 1000 + i, pattern(10 + i, i));
        sizes.set(k(1000 + i), 10 + i);
      }
      for (let i = 0; i < 30; i++) {  // cached only
        await client.write(H, 2000 + i, 0, pattern(100 + i, i));
        sizes.set(k(2000 + i), 100 + i);
      }
      for (let i = 0; i < 20; i++) {  // both
        await client.write(H, 3000 + i, 0, pattern(200 + i, i));
        await client.flush(H, 3000 + i);
        sizes.set(k(3000 + i), 200 + i);
      }
      await client.write(H + 1, 1, 0, Buffer.from('other high half'));
      await fixture().put(spec.store, H + 1, 2, Buffer.from('other high half, stored'));

      // Unchanged: exactly these.
      const quiet = await listAll(p, 0, { high: H });
      assert.deepEqual(quiet.repeated, []);
      assert.deepEqual([...quiet.entries.keys()].sort(), [...sizes.keys()].sort());
      for (const [kk, e] of quiet.entries) assert.equal(e.size, sizes.get(kk), `${kk}: size`);
      assert.equal(quiet.entries.get(k(2005))!.stored, false);
      assert.equal(quiet.entries.get(k(3005))!.stored, true);
      assert.equal(quiet.entries.get(k(3005))!.cachedBytes, 205);
      const all = await listAll(p, 0);
      assert.ok(all.entries.has(k(1, H + 1)) && all.entries.has(k(2, H + 1)), 'without the filter, the other high half too');

      // Pages of 7 while objects come and go: whatever existed for the whole listing, once.
      const deleted = new Set<string>(), created = new Set<string>();
      let n = 0;
      const churn = await listAll(p, 7, {
        high: H,
        between: async (page) => {
          if (page > 40) return;
          const victims = [1000 + ((page * 37) % 150), 2000 + (page % 30), 3000 + (page % 20)];
          const victim = victims[page % 3];
          if (!deleted.has(k(victim))) {
            const r = await p.delete(H, victim);
            assert.equal(r.status, 0, `delete ${victim}: ${JSON.stringify(r)}`);
            deleted.add(k(victim));
          }
          await client.write(H, 5000 + n, 0, Buffer.from(`new ${n}`));
          created.add(k(5000 + n++));
          await fixture().put(spec.store, H, 5000 + n, Buffer.from(`new ${n}`));
          created.add(k(5000 + n++));
        },
      });
      assert.ok(churn.pages > 20, `${churn.pages} pages`);
      assert.deepEqual(churn.repeated, [], 'no phase returned an object twice');
      for (const kk of sizes.keys()) {
        if (deleted.has(kk)) continue;
        assert.ok(churn.entries.has(kk), `${kk} existed for the whole listing but was not listed`);
        assert.equal(churn.entries.get(kk)!.size, sizes.get(kk), `${kk}: size`);
      }
      for (const kk of churn.entries.keys()) assert.ok(sizes.has(kk) || created.has(kk), `${kk}: never existed`);
      assert.ok(deleted.size >= 10, `${deleted.size} deleted during the listing`);
      // And after: the live set exactly.
      const after = await listAll(p, 0, { high: H });
      const live = [...sizes.keys(), ...created].filter((kk) => !deleted.has(kk)).sort();
      assert.deepEqual([...after.entries.keys()].sort(), live);
    });

    it('delete: cached and stored objects go from the cache and the store; reads are zeros, a write recreates; ENOENT when absent', async () => {
      const spec = fixture().newStore();
      const server = await start(spec, { args: ['--write-behind', 'off', '--segment-size', '1MB'] });
      const client = await connect(server);
      const p = await probe(server);
      const data = pattern(3 * MiB + 7, 31);
      await client.write(H, 31, 0, data);
      await client.flush(H, 31);
      await client.write(H, 31, MiB, Buffer.from('dirty, not stored'));
      await fixture().put(spec.store, H, 32, pattern(4096, 32));
      await client.write(H, 33, 0, Buffer.from('only cached'));
      for (const low of [31, 32, 33]) {
        const r = await p.delete(H, low);
        assert.equal(r.status, 0, `delete ${low}: ${JSON.stringify(r)}`);
        assert.equal((await p.stat(H, low)).status, ENOENT, `stat ${low} after its delete`);
        assert.equal(await fixture().stored(spec.store, H, low), undefined, `${low}: not in the store`);
        assert.ok((await client.read(H, low, 0, 2 * MiB)).every((b) => b === 0), `${low}: reads as zeros`);
      }
      assert.equal((await p.delete(H, 31)).status, ENOENT, 'a second delete');
      assert.equal((await p.delete(H, 34)).status, ENOENT, 'a never-written object');
      const page = await listAll(p, 0, { high: H });
      assert.deepEqual([...page.entries.keys()], [], 'listed nowhere');
      await client.write(H, 31, 5, Buffer.from('again'));
      expectStat((await p.stat(H, 31)).stat, { size: 10, stored: false, dirtyBytes: 5 }, 'recreated by a write');
      const again = await client.read(H, 31, 0, MiB);
      assert.equal(again.subarray(5, 10).toString(), 'again');
      assert.ok(again.subarray(0, 5).every((b) => b === 0) && again.subarray(10).every((b) => b === 0), 'nothing of before');
      await client.flush(H, 31);
      assert.equal((await fixture().stored(spec.store, H, 31))!.length, 10, 'stored anew');
    });

    it('delete: EBUSY while a range of the object is registered (read or write); once unregistered it goes', async () => {
      const spec = fixture().newStore();
      const server = await start(spec);
      const client = await connect(server);
      const p = await probe(server);
      await client.write(H, 41, 0, Buffer.from('mapped'));
      for (const write of [true, false]) {
        const id = await client.registerRange(H, 41, 4096, 8192, write);
        const r = await p.delete(H, 41);
        assert.equal(r.status, EBUSY, `${write ? 'write' : 'read'} range: ${JSON.stringify(r)}`);
        assert.match(r.reason ?? '', /registered/);
        expectStat((await p.stat(H, 41)).stat, { size: 6 }, 'still there');
        await client.unregisterRange(id, H, 41, 4096, 8192, write);
      }
      assert.equal((await p.delete(H, 41)).status, 0);
    });

    it('delete vs other clients: requests arriving while its store remove is held see the object after it (zeros, recreated), never a mix', async () => {
      const spec = fixture().newStore();
      const gate = path.join(tmpDir('ioc-gate-'), 'hang');
      const metrics = `127.0.0.1:${await freePort()}`;
      const server = await start(spec, { args: ['--write-behind', 'off', '--segment-size', '1MB', '--metrics', metrics,
        '--stats-interval', '0'], env: failpoints({ 'store.data_io': `pause(${gate})` }) });
      const a = await connect(server), b = await connect(server), c = await connect(server);
      const deleter = await probe(server), statter = await probe(server);
      const SIZE = 3 * MiB + 5;
      const data = pattern(SIZE, 51);
      await a.write(H, 51, 0, data);
      await a.flush(H, 51);
      await a.write(H, 51, 2 * MiB, pattern(70000, 52));  // dirty over the stored bytes
      assert.ok((await b.read(H, 51, 0, 4096)).equals(data.subarray(0, 4096)), 'before the delete: the data');
      try {
        fs.writeFileSync(gate, '');
        const before = await daemonStats(metrics);
        const deleted = deleter.delete(H, 51);
        // The delete job holds the object (its remove waits at the gate): everything after waits.
        await waitFor(async () => {
          const s = await daemonStats(metrics);
          return requests(s, 'OBJ_DELETE') === requests(before, 'OBJ_DELETE') + 1 && s.cache.storeJobs === 1;
        }, 20000, 'the delete job');
        const read = b.read(H, 51, 0, SIZE);
        const small = c.read(H, 51, MiB, 100);
        const stat = statter.stat(H, 51);
        await waitFor(async () => {
          const s = await daemonStats(metrics);
          return requests(s, 'OBJ_READ') === requests(before, 'OBJ_READ') + 2 && requests(s, 'OBJ_STAT') === requests(before, 'OBJ_STAT') + 1;
        }, 20000, 'the reads and the stat to arrive');
        const written = a.write(H, 51, 100, Buffer.from('after'));
        await waitFor(async () => requests(await daemonStats(metrics), 'OBJ_WRITE') > requests(before, 'OBJ_WRITE'), 20000,
          'the write to arrive');
        fs.unlinkSync(gate);
        const r = await deleted;
        assert.equal(r.status, 0, JSON.stringify(r));
        const got = await read;
        assert.ok(got.subarray(0, 100).every((x) => x === 0) && got.subarray(105).every((x) => x === 0),
          'the large read sees the object after the delete');
        const mid = got.subarray(100, 105).toString();
        assert.ok(mid === 'after' || mid === '\0\0\0\0\0', `bytes 100..105: ${JSON.stringify(mid)}`);
        assert.ok((await small).every((x) => x === 0), 'the small read too');
        await written;
        const st = await stat;
        assert.ok(st.status === ENOENT || (st.status === 0 && st.stat!.size === 105 && !st.stat!.stored),
          `the stat: after the delete (${JSON.stringify(st)})`);
        expectStat((await statter.stat(H, 51)).stat, { size: 105, stored: false, dirtyBytes: 5 }, 'recreated by the write');
        assert.equal(await fixture().stored(spec.store, H, 51), undefined, 'nothing of before in the store');
      } finally {
        if (fs.existsSync(gate)) fs.unlinkSync(gate);
      }
    });

    it('delete waits for a store job on the object (a flush held at the store gate); the object is gone once both end', async () => {
      const spec = fixture().newStore();
      const gate = path.join(tmpDir('ioc-gate-'), 'hang');
      const metrics = `127.0.0.1:${await freePort()}`;
      const server = await start(spec, { args: ['--write-behind', 'off', '--metrics', metrics, '--stats-interval', '0'],
        env: failpoints({ 'store.data_io': `pause(${gate})` }) });
      const a = await connect(server);
      const p = await probe(server);
      await a.write(H, 61, 0, pattern(2 * MiB, 61));
      try {
        fs.writeFileSync(gate, '');
        const before = await daemonStats(metrics);
        const flushed = a.flush(H, 61);
        await waitFor(async () => (await daemonStats(metrics)).cache.storeJobs === 1, 20000, 'the flush job');
        const deleted = p.delete(H, 61);
        await waitFor(async () => requests(await daemonStats(metrics), 'OBJ_DELETE') === requests(before, 'OBJ_DELETE') + 1,
          20000, 'the delete to arrive');
        assert.equal((await daemonStats(metrics)).cache.storeJobs, 1, 'the delete waits (parked), no job of its own yet');
        fs.unlinkSync(gate);
        await flushed;
        assert.equal((await deleted).status, 0);
        assert.equal(await fixture().stored(spec.store, H, 61), undefined, 'the flush did not bring it back');
        assert.equal((await p.stat(H, 61)).status, ENOENT);
      } finally {
        if (fs.existsSync(gate)) fs.unlinkSync(gate);
      }
    });

    for (const durable of [false, true]) {
      it(`an acknowledged delete stays after SIGKILL and a restart${durable ? ' (--nvdimm: its dirty segments were in the pool)' : ''}`, async () => {
        const spec = fixture().newStore();
        const pool = tmpDir('ioc-pool-');
        const args = ['--write-behind', 'off', '--segment-size', '1MB', ...(durable ? ['--nvdimm', pool] : [])];
        let server = await start(spec, { args });
        let client = await connect(server);
        let p = await probe(server);
        await client.write(H, 71, 0, pattern(2 * MiB, 71));
        await client.flush(H, 71);
        await client.write(H, 71, 100, pattern(MiB, 72));  // dirty (in the pool with --nvdimm)
        await client.write(H, 72, 0, Buffer.from('kept'));  // a neighbour that stays
        assert.equal((await p.delete(H, 71)).status, 0);
        await server.kill();
        servers.splice(servers.indexOf(server), 1);
        server = await start(spec, { args });
        client = await connect(server);
        p = await probe(server);
        assert.equal((await p.stat(H, 71)).status, ENOENT);
        assert.ok(!(await listAll(p, 0, { high: H })).entries.has(`${H}:71`), 'not listed');
        assert.equal(await fixture().stored(spec.store, H, 71), undefined, 'not in the store');
        assert.ok((await client.read(H, 71, 0, 2 * MiB)).every((b) => b === 0), 'reads as zeros');
        if (durable) assert.equal((await client.read(H, 72, 0, 4)).toString(), 'kept', 'the neighbour came back from the pool');
      });
    }

    for (const durable of [false, true]) {
      it(`a delete cut off by SIGKILL leaves the object ${durable ? 'gone (--nvdimm: its tombstone completes it at restart)' : 'whole as the store had it'}`, async () => {
        const spec = fixture().newStore();
        const pool = tmpDir('ioc-pool-');
        const gate = path.join(tmpDir('ioc-gate-'), 'hang');
        const metrics = `127.0.0.1:${await freePort()}`;
        const args = ['--write-behind', 'off', '--segment-size', '1MB', ...(durable ? ['--nvdimm', pool] : [])];
        let server = await start(spec, { args: [...args, '--metrics', metrics, '--stats-interval', '0'],
          env: failpoints({ 'store.data_io': `pause(${gate})` }) });
        const client = await connect(server);
        const p = await probe(server);
        const data = pattern(2 * MiB, 81);
        await client.write(H, 81, 0, data);
        await client.flush(H, 81);
        if (durable) await client.write(H, 81, 10, Buffer.from('dirty in the pool'));
        try {
          fs.writeFileSync(gate, '');
          const before = await daemonStats(metrics);
          const deleted = p.delete(H, 81);
          await waitFor(async () => {
            const s = await daemonStats(metrics);
            return requests(s, 'OBJ_DELETE') === requests(before, 'OBJ_DELETE') + 1 && s.cache.storeJobs === 1;
          }, 20000, 'the delete job');
          await server.kill();
          servers.splice(servers.indexOf(server), 1);
          assert.notEqual((await deleted).status, 0, 'never acknowledged');
        } finally {
          if (fs.existsSync(gate)) fs.unlinkSync(gate);
        }
        server = await start(spec, { args });
        const c2 = await connect(server);
        const p2 = await probe(server);
        if (durable) {
          await waitForLog(server, /completed the delete of object .* cut off by a crash/, 1000);
          assert.equal((await p2.stat(H, 81)).status, ENOENT);
          assert.equal(await fixture().stored(spec.store, H, 81), undefined, 'not in the store');
          assert.ok((await c2.read(H, 81, 0, 2 * MiB)).every((b) => b === 0), 'none of its bytes, stored or pooled');
        } else {
          expectStat((await p2.stat(H, 81)).stat, { size: 2 * MiB, stored: true, storedBytes: 2 * MiB }, 'whole');
          assert.ok((await c2.read(H, 81, 0, 2 * MiB)).equals(data), 'the stored bytes, all of them');
        }
      });
    }
  });
}
