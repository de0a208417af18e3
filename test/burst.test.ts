// Issue 12, the burst path's correctness (its speed is in `npm run bench`): huge writes and
// reads byte for byte, recycled cache memory (--prefault keeps dropped segments' pages and does
// not zero them for whole-segment overwrites) never showing a dropped segment's bytes, and
// acknowledged writes surviving SIGKILL with write-behind and group commit (--nvdimm) on.
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { failpoints } from './helpers/failpoints';
import { waitForLog, withBound } from './helpers/faults';
import { pattern, startServer, tmpDir } from './helpers/server';

const MiB = 1 << 20;
const distSrc = path.resolve(__dirname, '..', 'src');

function expectZerosExcept(buf: Buffer, keep: Array<{ at: number; data: Buffer }>, what: string): void {
  const expected = Buffer.alloc(buf.length);
  for (const k of keep) k.data.copy(expected, k.at);
  if (buf.equals(expected)) return;
  let i = 0;
  while (buf[i] === expected[i]) i++;
  assert.fail(`${what}: first difference at byte ${i}: ${buf[i]} instead of ${expected[i]}`);
}

describe('burst path: huge transfers, recycled cache memory, group commit', function () {
  this.timeout(180000);

  it('256 MiB writes and reads byte for byte: a cold write (in place into fresh segments) and a rewrite (staged)', async () => {
    const server = await startServer({ args: ['--prefault', '256MB'] });
    const client = await IocClient.connect(server.host, server.port);
    try {
      const size = 256 * MiB;
      const first = pattern(size, 41);
      await client.write(0x1200, 1, 0, first);
      assert.ok((await client.read(0x1200, 1, 0, size)).equals(first), 'the cold 256 MiB write reads back');
      // The segments are dirty now: the rewrite lands in a staging buffer, then in the cache.
      const second = pattern(size, 42);
      await client.write(0x1200, 1, 0, second);
      assert.ok((await client.read(0x1200, 1, 0, size)).equals(second), 'the 256 MiB rewrite reads back');
      await client.flush(0x1200, 1);
      const stored = fs.readFileSync(path.join(server.store, '0000000000001200-0000000000000001'));
      assert.ok(stored.equals(second), 'the store holds the rewrite');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('recycled slots: a partial write into one reads zeros around its bytes, a read of an absent object reads zeros, a failed whole-segment overwrite leaves nothing behind', async () => {
    // A 4-segment cache whose memory is all kept (prefaulted, recycled without zeroing): each
    // new segment below takes a slot that held another object's bytes. In-place writes: the
    // 4 MiB write of 0x1300:1 (1st), the four 1 MiB writes of 0x1300:3 (2nd-5th), then the held
    // one (6th).
    const server = await startServer({
      args: ['--cache-size', '4MB', '--segment-size', '1MB', '--prefault', '4MB', '--write-behind', 'off'],
      env: failpoints({ 'server.hold_inplace_write': 'after(6)' }),
    });
    const client = await IocClient.connect(server.host, server.port);
    try {
      const old = pattern(4 * MiB, 51);
      await client.write(0x1300, 1, 0, old);
      await client.flush(0x1300, 1);  // clean: dropped (not spilled) when room is needed
      // Eager writes to fresh segments of another object: each takes a slot of the old object.
      const small = [0, 1, 2, 3].map((i) => ({ at: i * MiB + 1000 * (i + 1), data: pattern(30000, 60 + i) }));
      for (const s of small) await client.write(0x1300, 2, s.at, s.data);
      expectZerosExcept(await client.read(0x1300, 2, 0, 4 * MiB), small, 'partial writes into recycled slots');
      await client.flush(0x1300, 2);
      // Whole-segment overwrites into recycled slots (not zeroed first) read back as written.
      const whole = pattern(4 * MiB, 52);
      for (let i = 0; i < 4; i++) await client.write(0x1300, 3, i * MiB, whole.subarray(i * MiB, (i + 1) * MiB));
      assert.ok((await client.read(0x1300, 3, 0, 4 * MiB)).equals(whole), 'whole-segment overwrites');
      await client.flush(0x1300, 3);
      // A whole-segment overwrite of a fresh object, held until its writer dies.
      const script = `
        const { IocClient } = require(${JSON.stringify(distSrc)});
        (async () => {
          const c = await IocClient.connect('127.0.0.1', ${server.port});
          await c.write(0x1300, 5, 0, Buffer.alloc(${MiB}, 0x77));
          process.stdout.write('acknowledged\\n');  // never: the hook holds this write
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const writer = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let writerOut = '';
      writer.stdout!.on('data', (d: Buffer) => { writerOut += d.toString(); });
      await waitForLog(server, /test hook: in-place write of tcp client \d+ held/, 20000);
      writer.kill('SIGKILL');
      await new Promise((r) => writer.on('exit', r));
      await waitForLog(server, /in-place write of 1 segment\(s\) did not complete/, 20000);
      assert.equal(writerOut, '');
      expectZerosExcept(await withBound(client.read(0x1300, 5, 0, MiB), 20000, 'the read'), [], 'after the failed overwrite');
      // The earlier objects, now out of the cache, come back from the store.
      assert.ok((await client.read(0x1300, 1, 0, 4 * MiB)).equals(old), 'the first object from the store');
      assert.ok((await client.read(0x1300, 3, 0, 4 * MiB)).equals(whole), 'the third object from the store');
      expectZerosExcept(await client.read(0x1300, 4, 0, 2 * MiB), [], 'an absent object');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('--nvdimm with write-behind and group commit: writes acknowledged together from several connections survive SIGKILL', async () => {
    const pool = tmpDir('ioc-pool-');
    const store = tmpDir('ioc-store-');
    const args = ['--nvdimm', pool, '--segment-size', '1MB', '--cache-size', '64MB'];  // write-behind on (default)
    let server = await startServer({ store, args });
    const expected = new Map<string, Buffer>();
    try {
      const clients = await Promise.all([0, 1, 2, 3].map(() => IocClient.connect(server.host, server.port)));
      try {
        // Rounds of writes in flight at once (eager and RMA sizes, 4 clients): their
        // acknowledgements share persists; every one of them must be in the pool.
        for (let round = 0; round < 8; round++) {
          const writes: Array<Promise<unknown>> = [];
          clients.forEach((c, i) => {
            for (let k = 0; k < 4; k++) {
              const size = k % 2 ? 4000 + k : 300 * 1024 + 17 * k;
              const data = pattern(size, round * 100 + i * 10 + k);
              const low = i * 4 + k, at = round * 2 * MiB + 5;
              writes.push(c.write(0x1400, low, at, data));
              expected.set(`${low}@${at}`, data);
            }
          });
          await Promise.all(writes);
        }
      } finally {
        for (const c of clients) c.close();
      }
      await server.kill();
      server = await startServer({ store, args });
      const client = await IocClient.connect(server.host, server.port);
      try {
        for (const [key, data] of expected) {
          const [low, at] = key.split('@').map(Number);
          assert.ok((await client.read(0x1400, low, at, data.length)).equals(data), `object ${low} at ${at} after SIGKILL`);
        }
      } finally {
        client.close();
      }
    } finally {
      await server.stop();
      fs.rmSync(pool, { recursive: true, force: true });
    }
  });
});
