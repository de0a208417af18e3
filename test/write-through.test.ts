// Small writes into segments that only the store holds (a version made by a server-side copy,
// or an object stored before a restart) go straight to the store: no whole-segment load. What
// must hold: the bytes read back (at once, after a flush and a restart) are exactly the writes
// over the old bytes; nothing of the segments is loaded into the cache for them; a write that
// spans cached and uncached data, writes queued behind each other (one store job) and a durable
// memory (writes stay in it) keep working as before.
import { strict as assert } from 'assert';
import * as path from 'path';
import { IocClient } from '../src';
import { startAgain } from './helpers/faults';
import { pattern, startServer, tmpDir, tracked } from './helpers/server';

const MiB = 1 << 20;
const SEG = 8 * MiB;

describe('write-through of small writes into store-only segments', function () {
  this.timeout(180000);
  const { servers, clients, connect, stopped } = tracked();
  async function readAll(c: IocClient, high: number, low: number, size: number): Promise<Buffer> {
    const out = Buffer.alloc(size);
    for (let off = 0; off < size; off += SEG) await c.readInto(high, low, off, out.subarray(off, Math.min(size, off + SEG)));
    return out;
  }

  it('page writes into a copied version: read back exactly, nothing loaded, stored after a flush and a restart', async () => {
    const s = await startServer({ args: ['--write-behind', 'off'] });
    servers.push(s);
    const c = await connect(s);
    const size = 3 * SEG + 12345;
    const expected = pattern(size, 71);
    await c.write(70, 1, 0, expected);
    await c.flush(70, 1);
    await c.cow({ high: 70n, low: 1n }, { high: 70n, low: 2n });
    assert.equal((await c.stat(70, 2)).cachedBytes, 0, 'the copy is in the store only');

    // Scattered pages (and unaligned pieces), the last one in the partial last segment; 64 of
    // them at once so that writes queue behind each other.
    const writes: Array<[number, Buffer]> = [];
    for (let i = 0; i < 64; i++) writes.push([((i * 7919) % (size / 4096 - 1)) * 4096 + (i % 3) * 100, pattern(4096 - (i % 5) * 300, 100 + i)]);
    writes.push([size - 700, pattern(700, 999)]);
    await Promise.all(writes.map(([off, b]) => c.write(70, 2, off, b)));
    for (const [off, b] of writes) b.copy(expected, off);  // distinct pages: the order among them does not matter
    assert.equal((await c.stat(70, 2)).cachedBytes, 0, 'no segment was loaded for the page writes');
    assert.ok((await readAll(c, 70, 2, size)).equals(expected), 'read back at once');

    // Two overlapping writes, one after the other: the later one's bytes win.
    const stale = await startAgain(await stopped(s));
    servers.push(stale);
    const c2 = await connect(stale);
    assert.equal((await c2.stat(70, 2)).cachedBytes, 0, 'after a restart the object is store-only again');
    const a = pattern(6000, 5), b = pattern(6000, 6);
    await c2.write(70, 2, SEG + 1000, a);
    await c2.write(70, 2, SEG + 4000, b);
    a.copy(expected, SEG + 1000);
    b.copy(expected, SEG + 4000);
    // A write across a segment boundary takes the cache's path (loads its segments).
    const across = pattern(9000, 7);
    await c2.write(70, 2, 2 * SEG - 4500, across);
    across.copy(expected, 2 * SEG - 4500);
    assert.ok((await readAll(c2, 70, 2, size)).equals(expected), 'overlapping writes and a write across segments');
    await c2.flush(70, 2);
    c2.close();
    clients.splice(clients.indexOf(c2), 1);
    const again = await startAgain(await stopped(stale));
    servers.push(again);
    const c3 = await connect(again);
    assert.ok((await readAll(c3, 70, 2, size)).equals(expected), 'in the store after a flush and a restart');
    assert.equal((await c3.stat(70, 2)).size, size);
  });

  it('with a durable memory (--nvdimm) small writes stay in the cache', async () => {
    const pool = path.join(tmpDir('ioc-wt-pool-'), 'pool');
    const s = await startServer({ args: ['--write-behind', 'off', '--nvdimm', pool, '--cache-size', '64MB'] });
    servers.push(s);
    const c = await connect(s);
    await c.write(71, 1, 0, pattern(SEG + 100, 1));
    await c.flush(71, 1);
    await c.cow({ high: 71n, low: 1n }, { high: 71n, low: 2n });
    await c.write(71, 2, 4096, pattern(4096, 2));
    assert.equal((await c.stat(71, 2)).cachedBytes, SEG, 'the segment was loaded and holds the write');
  });
});
