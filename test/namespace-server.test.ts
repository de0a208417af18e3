// The object namespace, server side (OBJ_STAT, OBJ_LIST, OBJ_DELETE spoken raw through
// iocatcher-proto-probe): the shared suite on the directory store (RADOS runs it in
// test/rados.test.ts), and what is the directory store's own: which names are objects, and
// listing positions (readdir positions) that hold while thousands of files come and go.
import { strict as assert } from 'assert';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { hex16 } from './helpers/assertions';
import { failpoints } from './helpers/failpoints';
import { waitFor, waitForLog } from './helpers/faults';
import { namespaceStoreSuite, NamespaceFixture } from './helpers/namespace-suite';
import { listAll, NsProbe } from './helpers/ns-probe';
import { freePort, httpGet } from './helpers/ops';
import { pattern, startServer, tmpDir } from './helpers/server';

const MiB = 1 << 20;
const distSrc = path.resolve(__dirname, '..', 'src');

const fileOf = (store: string, high: number, low: number) => path.join(store, `${hex16(high)}-${hex16(low)}`);

const directory = (): NamespaceFixture => ({
  newStore: () => ({ store: tmpDir('ioc-ns-store-') }),
  stored: async (store, high, low) => (fs.existsSync(fileOf(store, high, low)) ? fs.readFileSync(fileOf(store, high, low)) : undefined),
  put: async (store, high, low, data) => fs.writeFileSync(fileOf(store, high, low), data),
});

namespaceStoreSuite('directory store', directory, 3000);

describe('object namespace: the directory store\'s own', function () {
  this.timeout(180000);
  const EINVAL = -22;

  it('names other than HIGH-LOW are not objects; pages are bounded (626 by default, maxEntries below); a made-up cursor is EINVAL', async () => {
    const store = tmpDir('ioc-ns-store-');
    for (let i = 0; i < 700; i++) fs.writeFileSync(fileOf(store, 3500, i), Buffer.alloc(i % 7));
    for (const junk of ['.cow-0000000000000dac-0000000000000001.abcdef', '.ioc-write-check-123.XyZ', 'README',
      '0000000000000DAC-0000000000000001', '0000000000000dac-000000000000001', 'zz00000000000dac-0000000000000001'])
      fs.writeFileSync(path.join(store, junk), 'not an object');
    fs.mkdirSync(path.join(store, `${hex16(3500)}-${hex16(9999)}`));  // a directory with an object's name
    const server = await startServer({ store });
    const p = await NsProbe.open(server.host, server.port);
    try {
      const first = await p.list('', 0);
      assert.equal(first.status, 0);
      assert.equal(first.page!.entries.length, 626, 'MAX_ENTRIES by default');
      const small = await p.list('', 5);
      assert.equal(small.page!.entries.length, 5);
      const all = await listAll(p, 0);
      assert.deepEqual(all.repeated, []);
      assert.equal(all.entries.size, 700, 'exactly the 700 objects');
      for (const [k, e] of all.entries) assert.equal(e.size, Number(k.split(':')[1]) % 7, `${k}: size`);
      for (const bad of ['x', 'c:12', 's:not-hex', 's:ffffffffffffffffff', 'c:000000000000000g0000000000000000']) {
        const r = await p.list(bad, 0);
        assert.equal(r.status, EINVAL, `${bad}: ${JSON.stringify(r)}`);
        assert.match(r.reason ?? '', /not a list cursor/);
      }
    } finally {
      await p.close();
      await server.stop();
    }
  });

  it('a delete waits for an in-place write holding the object (its writer held mid-transfer); once the writer dies it goes, nothing of the failed write left', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    // The second in-place write (the first is the object's initial write) is held until its client goes.
    const server = await startServer({ args: ['--segment-size', '1MB', '--write-behind', 'off', '--metrics', metrics,
      '--stats-interval', '0'], env: failpoints({ 'server.hold_inplace_write': 'after(2)' }) });
    const client = await IocClient.connect(server.host, server.port);
    const p = await NsProbe.open(server.host, server.port);
    const stats = async () => JSON.parse((await httpGet(`http://${metrics}/stats`)).body) as
      { requests: Record<string, number>; cache: { storeJobs: number } };
    try {
      await client.write(3700, 1, 0, pattern(4 * MiB, 1));
      await client.flush(3700, 1);  // clean segments: the next large write lands in place
      const file = path.join(tmpDir('ioc-new-'), 'new.bin');
      fs.writeFileSync(file, pattern(4 * MiB, 2));
      const script = `
        const { IocClient } = require(${JSON.stringify(distSrc)});
        (async () => {
          const c = await IocClient.connect('127.0.0.1', ${server.port});
          await c.write(3700, 1, 0, require('fs').readFileSync(process.argv[1]));
          process.stdout.write('acknowledged\\n');  // never: the hook holds this write
        })().catch((e) => { console.error(e.message); process.exit(1); });`;
      const writer = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'ignore'] });
      let writerOut = '';
      writer.stdout!.on('data', (d: Buffer) => { writerOut += d.toString(); });
      await waitForLog(server, /test hook: in-place write of tcp client \d+ held/, 20000);
      const deleted = p.delete(3700, 1);
      await waitFor(async () => ((await stats()).requests.OBJ_DELETE ?? 0) === 1, 20000, 'the delete to arrive');
      assert.equal((await stats()).cache.storeJobs, 0, 'the delete waits: no store job yet');
      writer.kill('SIGKILL');
      await new Promise((r) => writer.on('exit', r));
      const r = await deleted;
      assert.equal(r.status, 0, JSON.stringify(r));
      assert.equal(writerOut, '', 'the held write was never acknowledged');
      assert.equal((await p.stat(3700, 1)).status, -2);
      assert.ok(!fs.existsSync(fileOf(server.store, 3700, 1)), 'not in the store');
      assert.ok((await client.read(3700, 1, 0, 4 * MiB)).every((b) => b === 0), 'reads as zeros');
    } finally {
      client.close();
      await p.close();
      await server.stop();
    }
  });

  it('a delete the store refuses (an immutable file: EPERM) fails with the store\'s reason, and the object stays whole, cached bytes too', async () => {
    const store = tmpDir('ioc-ns-store-');
    const server = await startServer({ store, args: ['--write-behind', 'off'] });
    const client = await IocClient.connect(server.host, server.port);
    const p = await NsProbe.open(server.host, server.port);
    const file = fileOf(store, 3800, 1);
    try {
      const data = pattern(100000, 38);
      await client.write(3800, 1, 0, data);
      await client.flush(3800, 1);
      await client.write(3800, 1, 10, Buffer.from('dirty'));
      data.write('dirty', 10);
      execFileSync('chattr', ['+i', file]);
      const r = await p.delete(3800, 1);
      assert.equal(r.status, -1, JSON.stringify(r));
      assert.equal(r.reason, `store dir://${store}: Operation not permitted`);
      const sr = await p.stat(3800, 1);
      const st = sr.stat!;
      assert.ok(st, JSON.stringify(sr));
      assert.ok(st.stored && st.storedBytes === 100000 && st.dirtyBytes === 5, JSON.stringify(st));
      assert.ok((await client.read(3800, 1, 0, 100000)).equals(data), 'every byte as before');
      execFileSync('chattr', ['-i', file]);
      assert.equal((await p.delete(3800, 1)).status, 0, 'once the store lets it');
      assert.ok(!fs.existsSync(file));
    } finally {
      if (fs.existsSync(file)) execFileSync('chattr', ['-i', file]);
      client.close();
      await p.close();
      await server.stop();
    }
  });

  it('store positions are readdir positions: a listing of 3000 files in pages of 50 loses and repeats nothing while 1500 files come and go', async function () {
    // On ext4 they are hash positions (each resumes at the hash of the next name, whatever else
    // changed); checked here on the filesystem the tests' stores are on.
    const store = tmpDir('ioc-ns-store-');
    const fsType = execFileSync('stat', ['-f', '-c', '%T', store]).toString().trim();
    console.log(`      store filesystem: ${fsType}`);
    for (let i = 0; i < 3000; i++) fs.writeFileSync(fileOf(store, 3600, i), '');
    const server = await startServer({ store });
    const p = await NsProbe.open(server.host, server.port);
    try {
      const removed = new Set<number>();
      let next = 100000;
      const listing = await listAll(p, 50, {
        between: async (page) => {
          for (let j = 0; j < 25; j++) {
            fs.writeFileSync(fileOf(store, 3600, next++), '');
            const victim = (page * 211 + j * 17) % 3000;
            if (!removed.has(victim) && fs.existsSync(fileOf(store, 3600, victim))) {
              fs.unlinkSync(fileOf(store, 3600, victim));
              removed.add(victim);
            }
          }
        },
      });
      assert.deepEqual(listing.repeated, [], 'no object listed twice');
      let missing = 0;
      for (let i = 0; i < 3000; i++) if (!removed.has(i) && !listing.entries.has(`3600:${i}`)) missing++;
      assert.equal(missing, 0, `${missing} objects present for the whole listing were not listed`);
      assert.ok(removed.size > 500, `${removed.size} removed during the listing`);
    } finally {
      await p.close();
      await server.stop();
    }
  });
});
