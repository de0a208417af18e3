// Scattered small writes travel gathered (OBJ_WRITE_PIECES, an extension): a mapping's write-back
// of scattered dirty pages sends 8 pages per message instead of one message per page, into a
// copied version (pages straight to the store) as into cached segments; the bytes read back
// exactly, also after a flush and a restart. A server without the extension gets one OBJ_WRITE
// per page, nothing it does not know. The C API call itself: test/c/write_pieces.c.
import { strict as assert } from 'assert';
import { ummap } from '../src';
import { compileCTest, startAgain } from './helpers/faults';
import { failpoints } from './helpers/failpoints';
import { delta, freePort, scrape } from './helpers/ops';
import { run } from './helpers/run';
import { pattern, ServerHandle, startServer, tracked } from './helpers/server';

const MiB = 1 << 20;
const PAGE = 4096;
const WRITES = 'ioc_requests_total{type="OBJ_WRITE"}';
const GATHERED = 'ioc_requests_total{type="OBJ_WRITE_PIECES"}';

describe('gathered writes of scattered pages (OBJ_WRITE_PIECES)', function () {
  this.timeout(180000);
  const { servers, connect, stopped } = tracked();
  async function server(env: NodeJS.ProcessEnv = {}): Promise<{ s: ServerHandle; metrics: string }> {
    const metrics = `127.0.0.1:${await freePort()}`;
    const s = await startServer({ args: ['--write-behind', 'off', '--metrics', metrics, '--stats-interval', '0'], env });
    servers.push(s);
    return { s, metrics };
  }

  // 100 pages, none next to another (each its own dirty run), one byte changed in each, through a
  // mapping of a copied version (store-only: the first touch reads its segment) and then of
  // cached segments; the write-back's messages counted on the server.
  async function scatteredPages(env: NodeJS.ProcessEnv, gathered: boolean) {
    const { s, metrics } = await server(env);
    const c = await connect(s);
    const size = 24 * MiB + 12345;
    const expected = pattern(size, 81);
    await c.write(80, 1, 0, expected);
    await c.flush(80, 1);
    await c.cow({ high: 80n, low: 1n }, { high: 80n, low: 2n });
    const pages = Array.from({ length: 100 }, (_, i) => ((i * 61) % Math.floor(size / PAGE / 2)) * 2 * PAGE);
    assert.equal(new Set(pages).size, pages.length);
    const m = ummap(80, 2, size, { server: s.address, segmentSize: MiB });
    const view = new Uint8Array(m.buffer);
    for (const [i, at] of pages.entries()) {
      view[at + (i % PAGE)] ^= 0xff;
      expected[at + (i % PAGE)] ^= 0xff;
    }
    const before = await scrape(metrics);
    await m.sync();
    const after = await scrape(metrics);
    await m.unmap();
    if (gathered) {
      assert.equal(delta(before, after, GATHERED), Math.ceil(pages.length / 8), 'one message per 8 pages');
      assert.equal(delta(before, after, WRITES), 0, 'no page alone');
    } else {
      assert.equal(delta(before, after, GATHERED), 0, 'nothing the server does not know');
      assert.equal(delta(before, after, WRITES), pages.length, 'one write per page');
    }
    assert.doesNotMatch(s.logs(), /malformed|refused/, 'every message taken as it was sent (trailer and deadline too)');
    const back = Buffer.alloc(size);
    await c.readInto(80, 2, 0, back);
    assert.ok(back.equals(expected), 'read back at once');
    await c.flush(80, 2);
    const again = await startAgain(await stopped(s), { env });
    servers.push(again);
    const c2 = await connect(again);
    back.fill(0);
    await c2.readInto(80, 2, 0, back);
    assert.ok(back.equals(expected), 'in the store after a flush and a restart');
  }

  it('a mapping\'s scattered dirty pages: 8 pages per OBJ_WRITE_PIECES, none alone; read back exactly, also after a flush and a restart', async () => {
    await scatteredPages({}, true);
  });

  it('a server without the extension (failpoint server.no_fencing: no feature bits) gets one OBJ_WRITE per page, same bytes', async () => {
    await scatteredPages(failpoints({ 'server.no_fencing': 'on' }), false);
  });

  it('C: ioc_client_obj_write_pieces with small, empty, unaligned and large pieces reads back byte for byte; bad arguments are -EINVAL', async () => {
    const { s, metrics } = await server();
    const exe = compileCTest('write_pieces');
    const before = await scrape(metrics);
    const { stdout } = await run(exe, [s.host, String(s.port), '1']);
    assert.match(stdout, /c write_pieces ok/);
    const after = await scrape(metrics);
    assert.ok(delta(before, after, GATHERED) >= 2, 'the small pieces went gathered');
    assert.equal(delta(before, after, WRITES), 1, 'the 100 KiB piece alone');
    assert.doesNotMatch(s.logs(), /malformed|refused/, 'every message taken as it was sent (trailer and deadline too)');
    const original = await server(failpoints({ 'server.no_fencing': 'on' }));
    assert.match((await run(exe, [original.s.host, String(original.s.port), '2'])).stdout, /c write_pieces ok/);
  });
});
