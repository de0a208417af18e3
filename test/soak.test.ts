// Issue #7 soak test (off by default; IOC_SOAK=1 turns it on, IOC_SOAK_SECONDS sets its length,
// default 180): 8 clients doing mixed reads, writes, flushes, cows and range registrations on
// overlapping objects. Range registrations serialise conflicting accesses, so an in-process model
// of every object knows what each read must return; at the end every object's checksum is
// compared with the model's.
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { IocClient, IocError } from '../src';
import { pattern, ServerHandle, startServer } from './helpers/server';

const enabled = process.env.IOC_SOAK === '1';
const SECONDS = Number(process.env.IOC_SOAK_SECONDS ?? 180);
const CLIENTS = 8;
const SHARED = 4;
const OBJ_SIZE = 16 << 20;

(enabled ? describe : describe.skip)('soak (IOC_SOAK=1)', function () {
  this.timeout((SECONDS + 300) * 1000);
  let server: ServerHandle;
  before(async () => { server = await startServer({ args: ['--segment-size', '1MB', '--cache-size', '64MB'] }); });
  after(async () => { await server?.stop(); });

  it(`8 clients, mixed operations for ${SECONDS} s, checksums match at the end`, async () => {
    const model = new Map<string, Buffer>();
    const key = (h: number, l: number) => `${h}:${l}`;
    for (let i = 0; i < SHARED; i++) model.set(key(95, i), Buffer.alloc(OBJ_SIZE));
    for (let i = 0; i < CLIENTS; i++) model.set(key(96, i), Buffer.alloc(OBJ_SIZE));
    const stats = { writes: 0, reads: 0, flushes: 0, cows: 0, ranges: 0, conflicts: 0, mismatches: 0, bytes: 0 };
    const deadline = Date.now() + SECONDS * 1000;
    let seed = 1000;

    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => IocClient.connect(server.host, server.port)));
    const rnd = (n: number) => Math.floor(Math.random() * n);
    const range = () => {
      const len = [1 + rnd(4096), 1 + rnd(32768), 32769 + rnd(1 << 20)][rnd(3)];
      const off = rnd(OBJ_SIZE - len);
      return { off, len };
    };
    async function withRange<T>(c: IocClient, h: number, l: number, off: number, len: number, write: boolean,
      fn: () => Promise<T>): Promise<T | undefined> {
      let id: number;
      try {
        id = await c.registerRange(h, l, off, len, write);
      } catch (e) {
        if ((e as IocError).code === 'EBUSY') { stats.conflicts++; return undefined; }
        throw e;
      }
      try { return await fn(); } finally { await c.unregisterRange(id, h, l, off, len, write); }
    }

    await Promise.all(clients.map(async (c, ci) => {
      while (Date.now() < deadline) {
        const op = rnd(100);
        const obj = rnd(SHARED);
        const { off, len } = range();
        if (op < 35) {
          const data = pattern(len, seed++);
          await withRange(c, 95, obj, off, len, true, async () => {
            assert.equal(await c.write(95, obj, off, data), len);
            data.copy(model.get(key(95, obj))!, off);
            stats.writes++;
            stats.bytes += len;
          });
        } else if (op < 70) {
          const h = rnd(4) ? 95 : 96;
          const l = h === 95 ? obj : ci;
          await withRange(c, h, l, off, len, false, async () => {
            const back = await c.read(h, l, off, len);
            if (!back.equals(model.get(key(h, l))!.subarray(off, off + len))) stats.mismatches++;
            stats.reads++;
            stats.bytes += len;
          });
        } else if (op < 80) {
          await c.flush(95, obj, rnd(2) ? 0 : off, rnd(2) ? 0 : len);
          stats.flushes++;
        } else if (op < 90) {
          // Range cow from a shared object into this client's own object.
          await withRange(c, 95, obj, off, len, false, async () => {
            await withRange(c, 96, ci, off, len, true, async () => {
              await c.cow({ high: 95, low: obj }, { high: 96, low: ci }, { allowExist: true, offset: off, size: len });
              model.get(key(95, obj))!.copy(model.get(key(96, ci))!, off, off, off + len);
              stats.cows++;
            });
          });
        } else {
          // Registration semantics: read/read is fine, write against anything conflicts.
          const a = await withRange(c, 95, obj, off, len, false, async () => {
            stats.ranges++;
            return true;
          });
          if (a === undefined) continue;
        }
      }
    }));

    for (const [k, expected] of model) {
      const [h, l] = k.split(':').map(Number);
      const back = await clients[0].read(h, l, 0, OBJ_SIZE);
      const sum = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      if (sum(back) !== sum(expected)) stats.mismatches++;
    }
    for (const c of clients) c.close();
    const ops = stats.writes + stats.reads + stats.flushes + stats.cows + stats.ranges;
    console.log(`      soak: ${SECONDS} s, ${CLIENTS} clients, ops=${ops} (writes ${stats.writes}, reads ${stats.reads}, ` +
      `flushes ${stats.flushes}, cows ${stats.cows}, range checks ${stats.ranges}), range conflicts ${stats.conflicts}, ` +
      `${(stats.bytes / 2 ** 30).toFixed(2)} GiB moved, checksummed objects ${model.size}, mismatches=${stats.mismatches}`);
    assert.equal(stats.mismatches, 0);
  });
});
