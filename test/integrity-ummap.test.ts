// ummap integrity (issue 11): large mappings, object ids, write-back across server restarts.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import { IocClient } from '../src';
import { IocError } from '../src/errors';
import { Mapping, parseUri, ummap } from '../src/ummap';
import { killAfterWrites, killedAfterWritesLine, startAgain, withBound } from './helpers/faults';
import { pattern, ServerHandle, startServer, tmpDir } from './helpers/server';
import { firstDifference, tmpFile } from './ummap-util';

const GiB = 2 ** 30;

function assertCode(f: () => unknown, code: string, messagePart?: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof IocError, `an IocError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (messagePart) assert.ok(e.message.includes(messagePart), `'${e.message}' names '${messagePart}'`);
    return true;
  });
}

/** A 4 KiB view of the mapping at byte offset (Node 20 has no typed array over 4 GiB). */
const page = (buffer: ArrayBuffer, offset: number) => new Uint8Array(buffer, offset, 4096);

describe('ummap integrity', function () {
  this.timeout(60000);

  describe('mappings above 4 GiB', () => {
    // Offsets on both ends and on both sides of 4 GiB.
    const offsets = [0, 4 * GiB - 4096, 4 * GiB, 5 * GiB + 12345 * 4096, 6 * GiB - 4096];

    it('a 6 GiB dummy:// mapping reads its value past 4 GiB and unmaps (no abort)', () => {
      const m = ummap('dummy://7', 6 * GiB, { segmentSize: 65536 });
      assert.equal(m.buffer.byteLength, 6 * GiB);
      for (const off of offsets) assert.ok(page(m.buffer, off).every((b) => b === 7), `byte 7 at ${off}`);
      page(m.buffer, 5 * GiB)[1] = 9;
      assert.equal(page(m.buffer, 5 * GiB)[1], 9);
      assert.ok(m.stats().residentBytes <= 64 * 2 ** 20, 'only the touched segments (and read-ahead) are resident');
      m.unmapSync({ sync: false });
      assert.equal(m.buffer.byteLength, 0, 'detached after unmap');
    });

    it('a 6 GiB sparse file:// mapping writes back past 4 GiB byte for byte', () => {
      const path = tmpFile('six-gib.bin');
      fs.writeFileSync(path, '');
      fs.truncateSync(path, 6 * GiB);
      let m = ummap(`file://${path}`, 6 * GiB, { segmentSize: 65536 });
      offsets.forEach((off, i) => page(m.buffer, off).fill(0x30 + i));
      m.unmapSync();
      // The file itself, read with positions above 2^32.
      const fd = fs.openSync(path, 'r');
      try {
        offsets.forEach((off, i) => {
          const got = Buffer.alloc(4096);
          assert.equal(fs.readSync(fd, got, 0, 4096, off), 4096);
          assert.ok(got.every((b) => b === 0x30 + i), `file byte ${0x30 + i} at ${off}`);
        });
        const between = Buffer.alloc(4096);
        fs.readSync(fd, between, 0, 4096, 4 * GiB + 4096);
        assert.ok(between.every((b) => b === 0), 'untouched pages stay zero');
      } finally {
        fs.closeSync(fd);
      }
      // And through a new mapping.
      m = ummap(`file://${path}`, 6 * GiB, { segmentSize: 65536, readOnly: true });
      offsets.forEach((off, i) => assert.ok(page(m.buffer, off).every((b) => b === 0x30 + i), `mapped byte at ${off}`));
      m.unmapSync({ sync: false });
      fs.rmSync(path);
    });
  });

  describe('object ids in ioc:// URIs', () => {
    it('refuses ids outside int64 (instead of wrapping to another object) with EINVAL naming the URI', () => {
      for (const uri of ['ioc://18446744073709551621:1', 'ioc://1:9223372036854775808', 'ioc://-9223372036854775809:0', 'ioc://0x10000000000000005:1']) {
        assertCode(() => parseUri(uri, { server: '127.0.0.1:1' }), 'EINVAL', uri);
        assertCode(() => ummap(uri, 4096, { server: '127.0.0.1:1' }), 'EINVAL', uri);
      }
      // The (high, low) form follows IocClient's rule: bigints within int64, safe-integer numbers.
      assertCode(() => ummap(18446744073709551621n, 1n, 4096, { server: '127.0.0.1:1' }), 'EINVAL', 'high');
      assertCode(() => ummap(1, 2 ** 60, 4096, { server: '127.0.0.1:1' }), 'EINVAL', 'low');
      assertCode(() => ummap(1, '9223372036854775808', 4096, { server: '127.0.0.1:1' }), 'EINVAL', '9223372036854775808');
    });

    it('accepts the whole int64 range in decimal and hex, either sign', () => {
      const params = (uri: string) => parseUri(uri, { server: '127.0.0.1:1' }).params;
      assert.deepEqual([params('ioc://9223372036854775807:-9223372036854775808').high, params('ioc://9223372036854775807:-9223372036854775808').low],
        ['9223372036854775807', '-9223372036854775808']);
      assert.deepEqual([params('ioc://0x7fffffffffffffff:-0x10').high, params('ioc://0x7fffffffffffffff:-0x10').low], ['9223372036854775807', '-16']);
    });
  });

  describe('write-back to a server without --nvdimm that restarts', () => {
    const PAGE = 4096;
    const servers: ServerHandle[] = [];
    const mappings: Mapping[] = [];
    afterEach(async () => {
      for (const m of mappings.splice(0)) {
        try { m.unmapSync({ sync: false }); } catch { /* already reported */ }
      }
      for (const s of servers.splice(0)) await s.stop();
    });

    /** Every other page of a `pages`-page mapping gets its own pattern: one piece per page at write-back. */
    function writeEveryOtherPage(m: Mapping, pages: number, expected: Buffer): void {
      for (let p = 0; p < pages; p += 2) {
        const bytes = pattern(PAGE, p + 1);
        new Uint8Array(m.buffer, p * PAGE, PAGE).set(bytes);
        bytes.copy(expected, p * PAGE);
      }
    }

    /** The object as a fresh client reads it from the server. */
    async function readBack(server: ServerHandle, high: number, low: number, size: number): Promise<Buffer> {
      const client = await IocClient.connect(server.host, server.port);
      try {
        return await client.read(high, low, 0, size);
      } finally {
        client.close();
      }
    }

    it('a sync cut by a server kill after K acknowledged writes, then a restart: the next sync writes them again', async () => {
      // The write-back sends the scattered pages 8 per message (OBJ_WRITE_PIECES), each page
      // counting as a write: K a multiple of 8 makes the kill come at the first page of a message,
      // with exactly K acknowledged.
      const pages = 4096, size = pages * PAGE, written = pages / 2, acked = 696;
      const first = await startServer({ env: killAfterWrites(acked) });
      servers.push(first);
      const m = ummap(71, 1, size, { server: first.address, segmentSize: 1 << 20 });
      mappings.push(m);
      const expected = Buffer.alloc(size);
      writeEveryOtherPage(m, pages, expected);

      assert.throws(() => m.syncSync(), (e: unknown) => e instanceof IocError && /^ECONN(RESET|REFUSED)$/.test(e.code), 'the cut sync fails');
      const cutAt = Date.now();
      await withBound(first.exited, 10000, 'server exit');
      assert.match(first.logs(), killedAfterWritesLine(acked));
      const bytesBefore = m.stats().bytesWritten;
      assert.ok(bytesBefore >= acked * PAGE && bytesBefore < written * PAGE, `cut after ${bytesBefore / PAGE} pages`);

      const second = await startAgain(first);
      servers.push(second);
      // The cut sync's refused reconnect makes the client back off for 100 ms (a fixed delay,
      // not a race): past it for sure, the next call connects.
      await new Promise((r) => setTimeout(r, Math.max(0, cutAt + 300 - Date.now())));
      m.syncSync();
      // Everything again: the pages the first server acknowledged, and those it never got.
      assert.ok(m.stats().bytesWritten - bytesBefore >= written * PAGE - PAGE, 'the acknowledged pages were written again');
      const stored = await readBack(second, 71, 1, size);
      assert.equal(firstDifference(stored, expected), -1, 'every page on the restarted server byte for byte');
      // And in the store: a third server run reads what the second one flushed.
      await second.stop();
      const third = await startAgain(second);
      servers.push(third);
      assert.equal(firstDifference(await readBack(third, 71, 1, size), expected), -1, 'every page in the store');
    });

    it('pages acknowledged then evicted are lost by a restart: the next sync fails with EIO saying how many bytes', async () => {
      const pages = 512, size = pages * PAGE, half = size / 2;
      // Without write-behind the acknowledged pages are only in the server's memory when it dies.
      const first = await startServer({ args: ['--write-behind', 'off'] });
      servers.push(first);
      const m = ummap(72, 2, size, { server: first.address, segmentSize: 64 * 1024 });
      mappings.push(m);
      const expected = Buffer.alloc(size);
      writeEveryOtherPage(m, pages, expected);
      m.flushSync(0, half, { evict: true });// written back (in the server's memory only), dropped here
      m.flushSync(half, half);                // written back, still resident
      await first.kill();
      const second = await startAgain(first);
      servers.push(second);

      // Touching the evicted half now reloads it from the restarted server (zeros): that must not
      // hide the loss (the reloaded pages are not taken for the acknowledged ones).
      assert.equal(new Uint8Array(m.buffer, 0, PAGE)[0], 0, 'the restarted server has none of it');
      const lostBytes = (pages / 4) * PAGE;  // the written pages of the evicted half
      assert.throws(() => m.syncSync(), (e: unknown) => {
        assert.ok(e instanceof IocError);
        assert.equal(e.code, 'EIO', e.message);
        assert.match(e.message, new RegExp(`restarted and lost ${lostBytes} acknowledged bytes`));
        return true;
      });
      // The resident half was written again and synced; the loss is reported once.
      m.syncSync();
      const stored = await readBack(second, 72, 2, size);
      assert.equal(firstDifference(stored.subarray(half), expected.subarray(half)), -1, 'the resident half byte for byte');
      assert.ok(stored.subarray(0, half).every((b) => b === 0), 'the evicted half is gone from the restarted server');
    });

    it('the asynchronous sync() rejects with the same EIO naming the lost bytes, once; the next one writes the resident half', async () => {
      const pages = 512, size = pages * PAGE, half = size / 2;
      const first = await startServer({ args: ['--write-behind', 'off'] });
      servers.push(first);
      const m = ummap(74, 2, size, { server: first.address, segmentSize: 64 * 1024 });
      mappings.push(m);
      const expected = Buffer.alloc(size);
      writeEveryOtherPage(m, pages, expected);
      await m.flush(0, half, { evict: true });
      await m.flush(half, half);
      await first.kill();
      const second = await startAgain(first);
      servers.push(second);
      const lostBytes = (pages / 4) * PAGE;
      await assert.rejects(m.sync(), (e: unknown) => {
        assert.ok(e instanceof IocError);
        assert.equal(e.code, 'EIO', e.message);
        assert.match(e.message, new RegExp(`restarted and lost ${lostBytes} acknowledged bytes`));
        return true;
      });
      await m.sync();
      const stored = await readBack(second, 74, 2, size);
      assert.equal(firstDifference(stored.subarray(half), expected.subarray(half)), -1, 'the resident half byte for byte');
    });

    it('with --nvdimm, acknowledged writes survive the restart: evicted pages are not reported lost, nothing is written twice', async () => {
      const pages = 512, size = pages * PAGE;
      const args = ['--nvdimm', tmpDir('ioc-pool-'), '--segment-size', '1MB', '--cache-size', '64MB'];
      const first = await startServer({ args });
      servers.push(first);
      const m = ummap(73, 3, size, { server: first.address, segmentSize: 64 * 1024 });
      mappings.push(m);
      const expected = Buffer.alloc(size);
      writeEveryOtherPage(m, pages, expected);
      m.flushSync(0, size, { evict: true });
      const written = m.stats().bytesWritten;
      await first.kill();
      const second = await startAgain(first, { args });
      servers.push(second);
      m.syncSync();
      assert.equal(m.stats().bytesWritten, written, 'nothing written again');
      assert.equal(firstDifference(await readBack(second, 73, 3, size), expected), -1, 'every page byte for byte');
    });
  });
});
