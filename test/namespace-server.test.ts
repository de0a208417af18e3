// The object namespace, server side (OBJ_STAT, OBJ_LIST, OBJ_DELETE spoken raw through
// iocatcher-proto-probe): the shared suite on the directory store (RADOS runs it in
// test/rados.test.ts), and what is the directory store's own: which names are objects, and
// listing positions (readdir positions) that hold while thousands of files come and go.
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { hex16 } from './helpers/assertions';
import { namespaceStoreSuite, NamespaceFixture } from './helpers/namespace-suite';
import { listAll, NsProbe } from './helpers/ns-probe';
import { startServer, tmpDir } from './helpers/server';

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
