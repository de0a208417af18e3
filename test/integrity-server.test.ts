// Issue 11, data integrity on the server's write path: a writer dying in the middle of an
// in-place transfer beside another writer, a hung store, a full store under a small cache,
// and a shutdown bounded by --shutdown-timeout. Races are driven by server failpoints
// (server.hold_inplace_write, store.data_io=pause(GATE)), never by sleeps.
import { strict as assert } from 'assert';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient, IocError } from '../src';
import { hex16 } from './helpers/assertions';
import { failpoints } from './helpers/failpoints';
import { pattern, startServer, tmpDir } from './helpers/server';
import { waitFor, waitForLog, withBound } from './helpers/faults';

const MiB = 1 << 20;
const distSrc = path.resolve(__dirname, '..', 'src');

describe('integrity: server write path', function () {
  this.timeout(120000);

  it('a writer killed during an in-place write: another client\'s writes to the same segments wait, are acknowledged and kept; the dead writer\'s bytes are gone', async () => {
    const server = await startServer({ args: ['--segment-size', '1MB'], env: failpoints({ 'server.hold_inplace_write': 'after(2)' }) });  // the first in-place write is ours
    const client = await IocClient.connect(server.host, server.port);
    const SIZE = 4 * MiB;
    const oldData = pattern(SIZE, 11);
    try {
      await client.write(111, 1, 0, oldData);
      await client.flush(111, 1);  // clean segments: the next large write lands in place
      const file = path.join(tmpDir('ioc-new-'), 'new.bin');
      fs.writeFileSync(file, pattern(SIZE, 12));
      const script = `
        const { IocClient } = require(${JSON.stringify(distSrc)});
        (async () => {
          const c = await IocClient.connect('127.0.0.1', ${server.port});
          await c.write(111, 1, 0, require('fs').readFileSync(process.argv[1]));
          process.stdout.write('acknowledged\\n');  // never: the hook holds this write
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const writer = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
      let writerOut = '';
      writer.stdout!.on('data', (d: Buffer) => { writerOut += d.toString(); });
      await waitForLog(server, /test hook: in-place write of tcp client \d+ held/, 20000);
      // Another client writes into the held segments: eager (4 KiB) and RMA (64 KiB), and reads.
      const other = await IocClient.connect(server.host, server.port);
      const small = pattern(4096, 13), large = pattern(64 * 1024, 14);
      const writes = Promise.all([other.write(111, 1, MiB + 100, small), client.write(111, 1, 2 * MiB + 7, large)]);
      const read = other.read(111, 1, 3 * MiB, 4096);
      writer.kill('SIGKILL');
      await new Promise((r) => writer.on('exit', r));
      await withBound(writes, 20000, 'the waiting writes');
      const expected = Buffer.from(oldData);
      small.copy(expected, MiB + 100);
      large.copy(expected, 2 * MiB + 7);
      assert.ok((await withBound(read, 20000, 'the waiting read')).equals(oldData.subarray(3 * MiB, 3 * MiB + 4096)));
      const back = await client.read(111, 1, 0, SIZE);
      assert.equal(writerOut, '', 'the held write was never acknowledged');
      for (let s = 0; s < SIZE / MiB; s++)
        assert.ok(back.subarray(s * MiB, (s + 1) * MiB).equals(expected.subarray(s * MiB, (s + 1) * MiB)), `segment ${s} differs`);
      assert.match(server.logs(), /in-place write of 4 segment\(s\) did not complete/);
      // What the cache serves is what it stores.
      await client.flush(111, 1);
      const stored = fs.readFileSync(path.join(server.store, `${hex16(111)}-${hex16(1)}`));
      assert.ok(stored.subarray(0, SIZE).equals(expected));
      other.close();
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('a hung store stalls only the requests that need it: cached reads, pings, new clients and new objects are served; the flush completes once the store answers; the log names the slow job', async () => {
    const gate = path.join(tmpDir('ioc-gate-'), 'hang');
    const server = await startServer({ args: ['--segment-size', '1MB', '--slow-store-warning', '1'],
      env: failpoints({ 'store.data_io': `pause(${gate})` }) });
    const a = await IocClient.connect(server.host, server.port);
    const data = pattern(2 * MiB, 21);
    try {
      await a.write(121, 1, 0, data);
      fs.writeFileSync(gate, '');
      const flushed = a.flush(121, 1);
      // Served while the store hangs (each bounded: a stalled loop would never answer).
      const b = await withBound(IocClient.connect(server.host, server.port), 10000, 'a new client');
      assert.ok((await withBound(b.read(121, 1, 0, 2 * MiB), 10000, 'a cached read')).equals(data));
      await withBound(b.ping(), 10000, 'a ping');
      const fresh = pattern(64 * 1024, 22);
      await withBound(b.write(122, 1, 0, fresh), 10000, 'a write to a new object');
      assert.ok((await withBound(b.read(122, 1, 0, fresh.length), 10000, 'its read')).equals(fresh));
      // The held job is in the log while it waits (the gate stays until the line is there), then its end.
      await waitForLog(server, /cache\] a (flush|write-behind drain) of object 0+79-0+1 \(121:1\) has run for \d+ s: the store is slow/, 20000);
      fs.unlinkSync(gate);
      await withBound(flushed, 20000, 'the flush once the store answers');
      await waitForLog(server, /cache\] the slow (flush|write-behind drain) of object 0+79-0+1 \(121:1\) ended after [\d.]+ s \(done\)/, 20000);
      const stored = fs.readFileSync(path.join(server.store, `${hex16(121)}-${hex16(1)}`));
      assert.ok(stored.equals(data));
      b.close();
    } finally {
      if (fs.existsSync(gate)) fs.unlinkSync(gate);
      a.close();
      await server.stop();
    }
  });

  it('cow runs on the store threads: with a hung store other clients are served; the copy keeps cached dirty bytes of both sides', async () => {
    const gate = path.join(tmpDir('ioc-gate-'), 'hang');
    const server = await startServer({ args: ['--segment-size', '1MB', '--write-behind', 'off'], env: failpoints({ 'store.data_io': `pause(${gate})` }) });
    const a = await IocClient.connect(server.host, server.port);
    const SIZE = 3 * MiB;
    const src = pattern(SIZE, 61), dst = pattern(SIZE, 62);
    try {
      await a.write(161, 1, 0, src);  // dirty in the cache only (no write-behind)
      await a.write(161, 2, 0, dst);
      fs.writeFileSync(gate, '');
      const from = MiB + 100, len = MiB + 5;
      const copied = a.cow({ high: 161, low: 1 }, { high: 161, low: 2 }, { allowExist: true, offset: from, size: len });
      const b = await IocClient.connect(server.host, server.port);
      await withBound(b.ping(), 10000, 'a ping during the cow');
      assert.ok((await withBound(b.read(161, 1, 0, SIZE), 10000, 'a cached read of the source')).equals(src));
      const dstRead = b.read(161, 2, 0, SIZE);  // waits for the cow
      fs.unlinkSync(gate);
      await withBound(copied, 20000, 'the cow once the store answers');
      const expected = Buffer.from(dst);
      src.copy(expected, from, from, from + len);
      assert.ok((await withBound(dstRead, 20000, 'the destination read')).equals(expected), 'range cow');
      await a.cow({ high: 161, low: 1 }, { high: 161, low: 3 });
      assert.ok((await a.read(161, 3, 0, SIZE)).equals(src), 'whole cow of a source with only cached data');
      await a.flush(161, 2);
      const stored = fs.readFileSync(path.join(server.store, `${hex16(161)}-${hex16(2)}`));
      assert.ok(stored.equals(expected), 'the store holds the same');
      b.close();
    } finally {
      if (fs.existsSync(gate)) fs.unlinkSync(gate);
      a.close();
      await server.stop();
    }
  });

  for (const durable of [false, true]) it(`SIGTERM with a hung store ends within --shutdown-timeout and names what did not reach the store${durable ? ' (kept in the --nvdimm pool, served after a restart)' : ''}`, async () => {
    const gate = path.join(tmpDir('ioc-gate-'), 'hang');
    const store = tmpDir('ioc-store-');
    const pool = tmpDir('ioc-pool-');
    const args = ['--segment-size', '1MB', '--shutdown-timeout', '2', '--write-behind', 'off', ...(durable ? ['--nvdimm', pool] : [])];
    const server = await startServer({ store, args, env: failpoints({ 'store.data_io': `pause(${gate})` }) });
    const data = pattern(MiB + 5, 31);
    try {
      const c = await IocClient.connect(server.host, server.port);
      await c.write(131, 7, 0, data);
      c.close();
      fs.writeFileSync(gate, '');
      const started = Date.now();
      const code = await server.stop();
      assert.ok(Date.now() - started < 12000, `shutdown took ${Date.now() - started} ms`);
      assert.equal(code, 1);
      assert.match(server.logs(), new RegExp(`object 0000000000000083-0000000000000007 \\(131:7\\): ${MiB + 5} dirty bytes not in the store \\(${durable ? 'kept in the --nvdimm pool, written after a restart' : 'LOST'}\\)`));
      assert.match(server.logs(), /shutdown: the store dir:\/\/\S+ did not finish within 2000 ms: 1 objects/);
    } finally {
      if (fs.existsSync(gate)) fs.unlinkSync(gate);
      await server.stop();
    }
    if (!durable) return;
    const again = await startServer({ store, args });
    try {
      const c = await IocClient.connect(again.host, again.port);
      assert.ok((await c.read(131, 7, 0, data.length)).equals(data));
      c.close();
    } finally {
      await again.stop();
    }
  });

  it('--nvdimm with write-behind: dirty segments recovered after a SIGKILL start for the store at once, without a flush', async () => {
    const gate = path.join(tmpDir('ioc-gate-'), 'hang');
    const store = tmpDir('ioc-store-');
    const pool = tmpDir('ioc-pool-');
    const args = ['--segment-size', '1MB', '--nvdimm', pool];
    // Whole segments (no store read needed): acknowledged into the pool while every store call
    // waits at the gate, so no drain can have finished before the SIGKILL.
    fs.writeFileSync(gate, '');
    const server = await startServer({ store, args, env: failpoints({ 'store.data_io': `pause(${gate})` }) });
    const data = pattern(2 * MiB, 41);
    const file = path.join(store, `${hex16(141)}-${hex16(1)}`);
    try {
      const c = await IocClient.connect(server.host, server.port);
      await c.write(141, 1, 0, data);
      c.close();
      assert.ok(!fs.existsSync(file) || !fs.readFileSync(file).equals(data), 'not in the store yet');
    } finally {
      await server.kill();
      fs.unlinkSync(gate);
    }
    const again = await startServer({ store, args });
    try {
      await waitForLog(again, /recovered 2 dirty segments/, 5000);
      // No client call at all: write-behind takes the recovered segments to the store.
      await waitFor(() => fs.existsSync(file) && fs.readFileSync(file).equals(data), 30000, 'the recovered data in the store, without a flush');
    } finally {
      await again.stop();
    }
  });

  it('write-behind: written data reaches the store without a flush; after that a SIGKILL loses nothing, even without --nvdimm', async () => {
    const store = tmpDir('ioc-store-');
    const server = await startServer({ store, args: ['--segment-size', '1MB'] });
    const data = pattern(5 * MiB + 77, 51);
    const file = path.join(store, `${hex16(151)}-${hex16(1)}`);
    try {
      const c = await IocClient.connect(server.host, server.port);
      await c.write(151, 1, 0, data);
      c.close();
      // No flush: the drain writes it in the background.
      const deadline = Date.now() + 20000;
      while (!(fs.existsSync(file) && fs.readFileSync(file).equals(data))) {
        assert.ok(Date.now() < deadline, 'the store never received the data');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await server.kill();
    }
    const again = await startServer({ store, args: ['--segment-size', '1MB'] });
    try {
      const c = await IocClient.connect(again.host, again.port);
      assert.ok((await c.read(151, 1, 0, data.length)).equals(data));
      await c.flush(151, 1);
      c.close();
    } finally {
      await again.stop();
    }
  });

  it('write-behind beside a continuous stream of writes: drains wait for the burst, but not for ever (earlier data reaches the store while the stream goes on)', async () => {
    const store = tmpDir('ioc-store-');
    const server = await startServer({ store, args: ['--segment-size', '1MB'] });
    const early = pattern(MiB, 52);
    const file = path.join(store, `${hex16(152)}-${hex16(1)}`);
    try {
      const c = await IocClient.connect(server.host, server.port);
      await c.write(152, 1, 0, early);
      // Back-to-back writes to another object, rewriting 16 segments in turn: a burst that
      // does not pause. The server holds drains beside a burst for at most 500 ms.
      const piece = pattern(MiB, 53);
      const deadline = Date.now() + 20000;
      let landed = false;
      for (let i = 0; !landed; i++) {
        await c.write(152, 2, (i % 16) * MiB, piece);
        if (i % 8 === 7) landed = fs.existsSync(file) && fs.readFileSync(file).equals(early);
        assert.ok(landed || Date.now() < deadline, 'the earlier write never reached the store while the stream went on');
      }
      c.close();
    } finally {
      await server.stop();
    }
  });

  it('a full store under a small cache: new dirty data is refused with ENOSPC (cache within its bound, one log line), acknowledged data intact, writes resume once the store has room', async function () {
    const store = tmpDir('ioc-fullstore-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', store]);
    } catch (e) {
      this.skip();  // no tmpfs mount here (not root, or a container without the capability)
    }
    const server = await startServer({ store, args: ['--segment-size', '1MB', '--cache-size', '8MB'] });
    const client = await IocClient.connect(server.host, server.port);
    const acked: number[] = [];
    try {
      let refused: IocError | undefined;
      for (let i = 0; i < 40 && !refused; i++) {
        try {
          await withBound(client.write(141, i, 0, pattern(MiB, 400 + i)), 30000, `write ${i}`);
          acked.push(i);
        } catch (e) {
          refused = e as IocError;
        }
      }
      assert.ok(refused, 'a write was refused');
      assert.equal(refused!.code, 'ENOSPC');
      assert.ok(acked.length >= 8, `${acked.length} writes acknowledged`);
      // More refusals, one log line for the episode; the cache stays within its bound.
      for (let i = 0; i < 5; i++) await assert.rejects(client.write(141, 100 + i, 0, pattern(MiB, 1)), { code: 'ENOSPC' });
      assert.equal((server.logs().match(/cannot spill object .* to the store/g) ?? []).length, 1);
      process.kill(server.pid, 'SIGUSR1');
      const line = await waitForLog(server, /cache (\d+) segments, (\d+) MiB of (\d+) MiB/, 10000);
      assert.ok(Number(line[2]) <= Number(line[3]) + 1, line[0]);
      for (const i of acked) assert.ok((await client.read(141, i, 0, MiB)).equals(pattern(MiB, 400 + i)), `object ${i}`);
      // Room again: spills succeed, writes are accepted.
      execFileSync('mount', ['-o', 'remount,size=256m', store]);
      let accepted = false;
      for (let tries = 0; tries < 100 && !accepted; tries++) {
        try {
          await client.write(141, 200, 0, pattern(MiB, 2));
          accepted = true;
        } catch (e) {
          assert.equal((e as IocError).code, 'ENOSPC');
          await new Promise((r) => setTimeout(r, 100));  // spills are retried once a second
        }
      }
      assert.ok(accepted, 'writes accepted once the store has room');
      for (const i of acked) assert.ok((await client.read(141, i, 0, MiB)).equals(pattern(MiB, 400 + i)), `object ${i} after`);
    } finally {
      client.close();
      await server.stop();
      execFileSync('umount', ['-l', store]);
    }
  });
});
