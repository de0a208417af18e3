// ummap integrity (issue 11): large mappings, object ids, write-back across server restarts.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import { IocError } from '../src/errors';
import { parseUri, ummap } from '../src/ummap';
import { tmpFile } from './ummap-util';

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
      m.unmap({ sync: false });
      assert.equal(m.buffer.byteLength, 0, 'detached after unmap');
    });

    it('a 6 GiB sparse file:// mapping writes back past 4 GiB byte for byte', () => {
      const path = tmpFile('six-gib.bin');
      fs.writeFileSync(path, '');
      fs.truncateSync(path, 6 * GiB);
      let m = ummap(`file://${path}`, 6 * GiB, { segmentSize: 65536 });
      offsets.forEach((off, i) => page(m.buffer, off).fill(0x30 + i));
      m.unmap();
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
      m.unmap({ sync: false });
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
});
