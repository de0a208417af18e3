// The RADOS backing store and several cache servers, against a real single-node Ceph cluster
// (one monitor, one memstore OSD) that this file starts once on 127.0.0.1 and stops at the end.
import { strict as assert } from 'assert';
import { execFile, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { ummap } from '../src/ummap';
import { CephCluster, cephUnavailableReason, startCephCluster } from './helpers/ceph';
import { buildDir, pattern, repoRoot, ServerHandle, startServer, tmpDir, serversWithClients } from './helpers/server';
import { hex16, rejectsWithCode } from './helpers/assertions';
import { backingStoreSuite, StoreFixture } from './helpers/store-suite';
import { namespaceStoreSuite } from './helpers/namespace-suite';

const MiB = 1 << 20;
const radosName = (high: number | bigint, low: number | bigint) => `ioc.${hex16(high)}.${hex16(low)}`;


function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot, 'bin', 'iocatcher-server.js'), ...args],
      { timeout: 60000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: stdout + stderr });
      });
  });
}

describe('RADOS backing store on a real Ceph cluster', function () {
  this.timeout(180000);
  let cluster: CephCluster | undefined;

  before(async function () {
    const reason = process.env.IOC_SKIP_RADOS === '1' ? 'IOC_SKIP_RADOS=1' : cephUnavailableReason();
    if (reason) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    cluster = await startCephCluster({ pool: 'iocatcher' });
    console.log(`      ceph cluster (1 mon, 1 memstore osd) usable ${cluster.startSeconds.toFixed(1)} s after start`);
  });
  after(async () => {
    await cluster?.stop();
  });
  // A failed test also prints what the cluster said (its health, its fullness, the OSD's log
  // tail): a stall in Ceph shows there, not in our servers' logs.
  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || !cluster) return;
    const say = async (what: string, p: Promise<string>) => process.stderr.write(`--- ${what}\n${await p.catch((e: Error) => e.message)}\n`);
    await say('ceph health detail', cluster.ceph(['health', 'detail'], 10000));
    await say('ceph df', cluster.ceph(['df'], 10000));
    const log = path.join(cluster.dir, 'log', 'osd.0.log');
    const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-40).join('\n') : '(none)';
    process.stderr.write(`--- osd.0.log, last 40 lines\n${lines}\n`);
  });

  const rados = (): StoreFixture => ({
    newStore: () => ({ store: `rados://${cluster!.pool}`, args: ['--ceph-conf', cluster!.conf] }),
    stored: async (_store, high, low) => {
      const file = path.join(tmpDir('ioc-rget-'), 'obj');
      try {
        await cluster!.rados(['-p', cluster!.pool, 'get', radosName(high, low), file]);
      } catch (e) {
        if (/No such file|ENOENT/.test((e as Error).message)) return undefined;
        throw e;
      }
      return fs.readFileSync(file);
    },
  });

  backingStoreSuite('RADOS', rados, 2000);
  namespaceStoreSuite('RADOS', () => ({
    ...rados(),
    put: async (_store, high, low, data) => {
      const file = path.join(tmpDir('ioc-rput-'), 'obj');
      fs.writeFileSync(file, data);
      await cluster!.rados(['-p', cluster!.pool, 'put', radosName(high, low), file]);
    },
  }), 2500);

  describe('rados store', () => {
    const startWithClient = serversWithClients();
    const start = (extra: { env?: NodeJS.ProcessEnv; noConf?: boolean } = {}) =>
      startWithClient({ store: `rados://${cluster!.pool}`, args: extra.noConf ? [] : ['--ceph-conf', cluster!.conf], env: extra.env });

    it('names each object ioc.<HIGH>.<LOW> in the pool (16 hex digits, int64 halves as unsigned)', async () => {
      const { client } = await start();
      const data = pattern(100000, 3001);
      await client.write(0x1234, -1, 10, data);
      await client.flush(0x1234, -1);
      const name = radosName(0x1234, -1);
      assert.equal(name, 'ioc.0000000000001234.ffffffffffffffff');
      const ls = await cluster!.rados(['-p', cluster!.pool, 'ls']);
      assert.ok(ls.split('\n').includes(name), `rados ls lists ${name}`);
      assert.ok(!/ioc-write-check/.test(ls), 'the start check removed its probe object');
      const stat = await cluster!.rados(['-p', cluster!.pool, 'stat', name]);
      assert.match(stat, /size 100010\b/);
    });

    it('serves an object that another tool put in the pool under that name', async () => {
      const file = path.join(tmpDir('ioc-rput-'), 'obj');
      const data = pattern(3 * MiB + 17, 3002);
      fs.writeFileSync(file, data);
      await cluster!.rados(['-p', cluster!.pool, 'put', radosName(2100, 1), file]);
      const { client } = await start();
      assert.ok((await client.read(2100, 1, 0, data.length)).equals(data));
      assert.ok((await client.read(2100, 1, data.length, 4096)).every((b) => b === 0), 'past the end: zeros');
    });

    it('honours CEPH_CONF when no --ceph-conf is given', async () => {
      const { client } = await start({ noConf: true, env: { CEPH_CONF: cluster!.conf } });
      await client.write(2101, 1, 0, Buffer.from('via CEPH_CONF'));
      await client.flush(2101, 1);
      assert.match(await cluster!.rados(['-p', cluster!.pool, 'stat', radosName(2101, 1)]), /size 13\b/);
    });

    it('refuses a missing pool, an unreadable configuration and a bad URI with clear errors', async () => {
      const port = String(24000 + Math.floor(Math.random() * 10000) * 2);
      let r = await runCli(['--port', port, '--store', 'rados://no-such-pool', '--ceph-conf', cluster!.conf, '127.0.0.1']);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /pool 'no-such-pool' does not exist/);
      r = await runCli(['--port', port, '--store', `rados://${cluster!.pool}`, '--ceph-conf', '/nonexistent/ceph.conf', '127.0.0.1']);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /cannot read the Ceph configuration \/nonexistent\/ceph\.conf/);
      r = await runCli(['--port', port, '--store', 'rados://', '127.0.0.1']);
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, /rados:\/\/POOL/);
    });

    it('spills through a small cache: evicted segments go to RADOS and read back byte for byte', async () => {
      const { client } = await startWithClient({
        store: `rados://${cluster!.pool}`, args: ['--ceph-conf', cluster!.conf, '--cache-size', '16MB', '--segment-size', '1MB'],
      });
      const data = pattern(80 * MiB + 4321, 3004);
      for (let off = 0; off < data.length; off += 8 * MiB) {
        await client.write(2150, 1, off, data.subarray(off, Math.min(data.length, off + 8 * MiB)));
      }
      // Most of the object was spilled (the cache holds 16 MiB): reading it back reads RADOS.
      for (let off = 0; off < data.length; off += 8 * MiB) {
        const n = Math.min(8 * MiB, data.length - off);
        assert.ok((await client.read(2150, 1, off, n)).equals(data.subarray(off, off + n)), `at ${off}`);
      }
      await client.flush(2150, 1);
      assert.match(await cluster!.rados(['-p', cluster!.pool, 'stat', radosName(2150, 1)]), new RegExp(`size ${data.length}\\b`));
    });

    it('an object beyond the cluster\'s osd_max_object_size fails its flush with EFBIG', async () => {
      await cluster!.ceph(['tell', 'osd.0', 'injectargs', '--osd_max_object_size=4194304']);
      try {
        const { server, client } = await start();
        await client.write(2160, 1, 0, pattern(6 * MiB, 3005));
        await rejectsWithCode(client.flush(2160, 1), /EFBIG/);
        assert.match(server.logs(), /osd_max_object_size/);
      } finally {
        await cluster!.ceph(['tell', 'osd.0', 'injectargs', `--osd_max_object_size=${1 << 30}`]);
      }
    });

    it('moves 256 MiB to RADOS and back (figures printed)', async () => {
      let { server, client } = await start();
      const size = 256 * MiB;
      const data = pattern(size, 3003);
      let t = process.hrtime.bigint();
      await client.write(2200, 1, 0, data);
      const tWrite = Number(process.hrtime.bigint() - t) / 1e9;
      t = process.hrtime.bigint();
      await client.flush(2200, 1);
      const tFlush = Number(process.hrtime.bigint() - t) / 1e9;
      client.close();
      await server.stop();
      ({ server, client } = await start());
      t = process.hrtime.bigint();
      const back = await client.read(2200, 1, 0, size);
      const tRead = Number(process.hrtime.bigint() - t) / 1e9;
      assert.ok(back.equals(data), '256 MiB byte for byte');
      const mbs = (s: number) => (size / 1e6 / s).toFixed(0);
      console.log(`      256 MiB: client write to cache ${mbs(tWrite)} MB/s, flush to RADOS ${mbs(tFlush)} MB/s, ` +
        `cold read from RADOS (restarted server) ${mbs(tRead)} MB/s`);
    });
  });

  describe('three cache servers sharing the cluster', () => {
    const servers: ServerHandle[] = [];
    const clients: IocClient[] = [];
    after(async () => {
      for (const c of clients.splice(0)) c.close();
      for (const s of servers.splice(0)) await s.stop();
    });
    const connect = async (list: string | string[]) => {
      const c = await IocClient.connect(list);
      clients.push(c);
      return c;
    };
    const ids = Array.from({ length: 12 }, (_, i) => i + 1);
    const HIGH = 2300;
    const dataOf = (low: number) => pattern(MiB + low * 1001, 3100 + low);

    it('spreads objects over all three servers; every client agrees and reads them byte for byte', async () => {
      for (let i = 0; i < 3; i++) {
        servers.push(await startServer({ store: `rados://${cluster!.pool}`, args: ['--ceph-conf', cluster!.conf, '--write-behind', 'off'] }));
      }
      const list = servers.map((s) => s.address).join(',');
      const a = await connect(list);
      assert.deepEqual(a.servers(), servers.map((s) => s.address));
      // The servers' ports are random, so twelve objects leave one server empty about once in 40
      // runs: add, for a server none of them maps to, the first id above them that does (the
      // placement must reach every server within 1000 ids).
      for (const s of servers) {
        if (ids.some((low) => a.serverOf(HIGH, low) === s.address)) continue;
        const low = Array.from({ length: 1000 }, (_, i) => 13 + i).find((l) => a.serverOf(HIGH, l) === s.address);
        assert.ok(low !== undefined, `no object id of 13-1012 maps to ${s.address}`);
        ids.push(low);
      }
      await Promise.all(ids.map((low) => a.write(HIGH, low, 0, dataOf(low))));
      // Where each object lives: nothing is in RADOS yet (not flushed), and the owner, asked
      // directly, has the data. (Non-owners are not asked: a server keeps what it caches, so one
      // that read an object it does not own would later serve that stale copy on failover.)
      const owners = new Map<number, string>(ids.map((low) => [low, a.serverOf(HIGH, low)]));
      const perServer = servers.map((s) => ids.filter((low) => owners.get(low) === s.address));
      perServer.forEach((held, i) => assert.ok(held.length > 0, `server ${i} holds some objects (${perServer.map((h) => h.length)})`));
      const inPool = (await cluster!.rados(['-p', cluster!.pool, 'ls'])).split('\n');
      for (const low of ids) assert.ok(!inPool.includes(radosName(HIGH, low)), `object ${low} is not in RADOS before a flush`);
      for (const s of servers) {
        const direct = await connect(s.address);
        for (const low of perServer[servers.indexOf(s)]) {
          assert.ok((await direct.read(HIGH, low, 0, dataOf(low).length)).equals(dataOf(low)), `owner ${s.address} of ${low}`);
        }
      }
      // Other clients, listing the servers in another order or as an array, route the same way.
      const b = await connect([servers[2].address, servers[0].address, servers[1].address]);
      for (const low of ids) {
        assert.equal(b.serverOf(HIGH, low), owners.get(low));
        assert.ok((await b.read(HIGH, low, 0, dataOf(low).length)).equals(dataOf(low)), `object ${low} via client b`);
      }
      // cow between objects of different servers: the client has the source's server write it
      // back first, then the destination's server copies it from the shared store.
      const srcLow = ids[0];
      let dstLow = 5000;  // clear of ids (1-12, and 13-1012 for an added one)
      while (a.serverOf(HIGH, dstLow) === owners.get(srcLow)) dstLow++;
      await a.cow({ high: HIGH, low: srcLow }, { high: HIGH, low: dstLow });
      assert.ok((await b.read(HIGH, dstLow, 0, dataOf(srcLow).length)).equals(dataOf(srcLow)), 'cow across servers');
      // ummap through the C client with the same list.
      const m = ummap(HIGH, 5, dataOf(5).length, { server: list, segmentSize: MiB, readOnly: true });
      try {
        assert.ok(Buffer.from(m.buffer).equals(dataOf(5)), 'ummap of object 5 over the server list');
      } finally {
        m.unmapSync();
      }
    });

    it('the C API takes the list too: the C round-trip program (create, I/O, ranges, cow) runs on the three', async () => {
      const exe = path.join(tmpDir('ioc-c-'), 'roundtrip');
      const cc = spawnSync('cc', ['-std=c99', '-Wall', '-Werror', '-o', exe, path.join(repoRoot, 'test', 'c', 'roundtrip.c'),
        '-I', path.join(repoRoot, 'include'), '-L', buildDir, '-liocatcher-client', `-Wl,-rpath,${buildDir}`], { encoding: 'utf8' });
      assert.equal(cc.status, 0, cc.stderr);
      const out = await new Promise<string>((resolve, reject) => execFile(exe, [servers.map((s) => s.address).join(','), '8556'],
        { timeout: 60000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}${stderr}`)) : resolve(stdout))));
      assert.match(out, /c roundtrip ok/);
    });

    it('after a flush, a killed server\'s objects are served by the next server in rendezvous order', async () => {
      const a = clients[0];
      for (const low of ids) await a.flush(HIGH, low);
      const victim = servers.findIndex((s) => ids.some((low) => a.serverOf(HIGH, low) === s.address));
      const lost = ids.filter((low) => a.serverOf(HIGH, low) === servers[victim].address);
      assert.ok(lost.length > 0);
      await servers[victim].kill();
      // The existing client (whose connections to the victim break) and a new one.
      for (const c of [a, await connect(servers.map((s) => s.address).join(','))]) {
        for (const low of ids) {
          assert.ok((await c.read(HIGH, low, 0, dataOf(low).length)).equals(dataOf(low)), `object ${low} after the kill`);
        }
      }
      // Writes are not redirected: they fail while the owner is down.
      await rejectsWithCode(a.write(HIGH, lost[0], 0, Buffer.from('x')), /ECONNREFUSED|ECONNRESET/);
      const alive = ids.filter((low) => !lost.includes(low));
      await a.write(HIGH, alive[0], 0, Buffer.from('still writable'));
      assert.equal((await a.read(HIGH, alive[0], 0, 14)).toString(), 'still writable');
    });
  });
});
