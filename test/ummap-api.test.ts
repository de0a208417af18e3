// ummap API: argument errors, unmap semantics, eviction policies, cow/switch.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import { IocError } from '../src/errors';
import { createPolicy, dropMemStore, parseSize, parseUri, ummap } from '../src/ummap';
import { firstDifference, MiB, randomWrites, rng, tmpFile } from './ummap-util';

function assertCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => e instanceof IocError && e.code === code, `expected IocError ${code}`);
}

describe('ummap API', function () {
  this.timeout(60000);

  describe('arguments', () => {
    it('rejects bad arguments with typed errors', () => {
      assertCode(() => ummap('mem://1MB', 0), 'EINVAL');
      assertCode(() => ummap('mem://1MB', 4096, { segmentSize: 1000 }), 'EINVAL');
      assertCode(() => ummap('nope://x', 4096), 'EINVAL');
      assertCode(() => ummap('dummy://300', 4096), 'EINVAL');
      assertCode(() => ummap('mem://1MB', 4096, { policy: 'random://1MB' }), 'EINVAL');
      assertCode(() => ummap('file://{dir}/x', 4096), 'EINVAL');
      assertCode(() => ummap('file:///nonexistent-dir/x', 4096), 'ENOENT');
    });

    it('parses sizes, URIs and variables', () => {
      assert.equal(parseSize('64MB'), 64 * MiB);
      assert.equal(parseSize('2KB'), 2048);
      assert.equal(parseSize('1TB'), 2 ** 40);
      assert.equal(parseSize('10'), 10);
      assert.deepEqual(parseUri('ioc://1:-2', { server: '10.0.0.1:9000' }), {
        scheme: 'ioc',
        params: { host: '10.0.0.1', port: '9000', high: '1', low: '-2' },
      });
      assert.deepEqual(parseUri('ioc://{h}:{l}', { vars: { h: 5, l: 6 } }).params, { host: '127.0.0.1', port: '8556', high: '5', low: '6' });
      assert.deepEqual(parseUri('file:///tmp/{name}.bin', { vars: { name: 'ck' } }), { scheme: 'file', params: { path: '/tmp/ck.bin' } });
      assert.deepEqual(parseUri('mem://4KB?name=x'), { scheme: 'mem', params: { size: '4096', name: 'x' } });
      const path = tmpFile('vars.bin');
      const m = ummap('file://{p}', 4096, { vars: { p: path } });
      new Uint8Array(m.buffer)[0] = 42;
      m.unmapSync();
      assert.equal(fs.readFileSync(path)[0], 42);
    });

    it('after unmap: buffer detached, calls throw EBADF, unmap is idempotent', () => {
      const m = ummap('mem://1MB', MiB);
      const view = new Uint8Array(m.buffer);
      view[0] = 1;
      m.unmapSync();
      assert.equal(m.buffer.byteLength, 0);
      assert.equal(view.length, 0);
      assert.equal(view[0], undefined);
      assert.equal(m.closed, true);
      assertCode(() => m.syncSync(), 'EBADF');
      assertCode(() => m.flushSync(), 'EBADF');
      assertCode(() => m.stats(), 'EBADF');
      assertCode(() => m.cow('mem://1MB'), 'EBADF');
      m.unmapSync();
    });

    it('readOnly mappings never write back', () => {
      const path = tmpFile('ro.bin');
      fs.writeFileSync(path, Buffer.alloc(MiB, 1));
      const m = ummap(`file://${path}`, MiB, { readOnly: true });
      const view = new Uint8Array(m.buffer);
      assert.equal(view[5], 1);
      view[5] = 2;
      m.syncSync();
      assert.equal(m.stats().bytesWritten, 0);
      m.unmapSync();
      assert.equal(fs.readFileSync(path)[5], 1);
    });

    it('flush(offset, size) writes back only the range', () => {
      const m = ummap('mem://4MB', 4 * MiB, { segmentSize: MiB });
      const view = new Uint8Array(m.buffer);
      view[10] = 1;
      view[3 * MiB + 10] = 1;
      m.flushSync(3 * MiB, MiB);
      assert.equal(m.stats().bytesWritten, 4096);
      assert.equal(m.stats().driverSyncs, 0);
      m.syncSync();
      assert.equal(m.stats().bytesWritten, 8192);
      m.unmapSync();
    });
  });

  describe('eviction', () => {
    for (const policy of ['fifo://8MB', 'lifo://8MB', 'fifo-window://8MB?window=2MB']) {
      it(`${policy}: 8x more data than the limit, every byte still correct`, () => {
        const name = `evict-${policy.split(':')[0]}`;
        const size = 64 * MiB;
        try {
          let m = ummap(`mem://64MB?name=${name}`, size, { policy, segmentSize: MiB });
          const limit = m.policy!.limit;
          const view = new Uint8Array(m.buffer);
          const reference = new Uint8Array(size);
          // A full sequential pass then random writes all over the mapping.
          for (let off = 0; off < size; off += 4096) {
            view[off] = (off / 4096) & 0xff;
            reference[off] = (off / 4096) & 0xff;
            assert.ok(m.stats().residentBytes <= limit, `resident ${m.stats().residentBytes} > ${limit}`);
          }
          randomWrites(view, reference, 1000, 4);
          const s = m.stats();
          assert.ok(s.residentBytes <= limit);
          assert.ok(m.policy!.stats().used <= limit);
          assert.ok(s.evictions >= 56, `evictions ${s.evictions}`);
          assert.ok(s.bytesWritten > 0, 'evictions wrote dirty data back');
          // Read everything back while mapped (evicted segments reload from the store).
          assert.equal(firstDifference(view, reference), -1);
          m.unmapSync();
          m = ummap(`mem://64MB?name=${name}`, size);
          assert.equal(firstDifference(new Uint8Array(m.buffer), reference), -1);
          m.unmapSync({ sync: false });
        } finally {
          dropMemStore(name);
        }
      });
    }

    it('lifo evicts the newest segment, fifo the oldest', () => {
      for (const [policy, survivor] of [['fifo://2MB', 1], ['lifo://2MB', 0]] as const) {
        const m = ummap('dummy://1', 4 * MiB, { policy, segmentSize: MiB, readAhead: 0 });
        const view = new Uint8Array(m.buffer);
        void view[0];
        void view[MiB];
        void view[2 * MiB];  // over the limit: fifo drops segment 0, lifo segment 1
        const before = m.stats().faults;
        void view[survivor * MiB];
        assert.equal(m.stats().faults, before, `${policy}: segment ${survivor} still resident`);
        m.unmapSync();
      }
    });

    it('one quota shared by two mappings', () => {
      const quota = createPolicy('fifo://4MB');
      const a = ummap('mem://16MB', 16 * MiB, { policy: quota, segmentSize: MiB });
      const b = ummap('mem://16MB', 16 * MiB, { policy: quota, segmentSize: MiB });
      const va = new Uint8Array(a.buffer);
      const vb = new Uint8Array(b.buffer);
      const rand = rng(5);
      const ra = new Uint8Array(16 * MiB);
      const rb = new Uint8Array(16 * MiB);
      for (let i = 0; i < 400; i++) {
        const off = Math.floor(rand() * 16 * MiB);
        va[off] = ra[off] = i & 0xff;
        vb[off] = rb[off] = (i * 7) & 0xff;
        assert.ok(quota.stats().used <= 4 * MiB);
      }
      assert.ok(a.stats().residentBytes + b.stats().residentBytes <= 4 * MiB);
      assert.ok(a.stats().evictions > 0 && b.stats().evictions > 0);
      assert.equal(firstDifference(va, ra), -1);
      assert.equal(firstDifference(vb, rb), -1);
      a.unmapSync();
      b.unmapSync();
      assert.equal(quota.stats().used, 0);
    });

    it('sync({evict}) drops segments; the next touch reloads them', () => {
      const m = ummap('mem://4MB', 4 * MiB, { segmentSize: MiB });
      const view = new Uint8Array(m.buffer);
      view.fill(9, 0, 4 * MiB);
      m.syncSync(0, undefined, { evict: true });
      assert.equal(m.stats().residentBytes, 0);
      assert.equal(m.stats().bytesWritten, 4 * MiB);
      const faults = m.stats().faults;
      assert.equal(view[2 * MiB], 9);
      assert.ok(m.stats().faults > faults);
      m.unmapSync();
    });
  });

  describe('cow and switch', () => {
    it('cow copies the content to the new object and leaves the old one unchanged', () => {
      const a = tmpFile('a.bin');
      const b = tmpFile('b.bin');
      const m = ummap(`file://${a}`, 2 * MiB);
      const view = new Uint8Array(m.buffer);
      view.fill(1, 0, MiB);
      m.syncSync();
      view.fill(2, 100, 200);  // dirty, not yet synced
      m.cow(`file://${b}`);
      assert.equal(m.uri, `file://${b}`);
      view.fill(3, MiB, MiB + 10);
      m.syncSync();
      m.unmapSync();
      const oldContent = fs.readFileSync(a);
      const newContent = fs.readFileSync(b);
      const expectedOld = Buffer.alloc(MiB, 1);
      assert.equal(firstDifference(oldContent, expectedOld), -1, 'old object unchanged');
      assert.equal(newContent[0], 1);
      assert.equal(newContent[150], 2);
      assert.equal(newContent[MiB + 5], 3);
      assert.equal(newContent[MiB + 50], 0);
    });

    it('cow refuses an existing target unless allowExist', () => {
      const a = tmpFile('a.bin');
      const b = tmpFile('b.bin');
      fs.writeFileSync(b, Buffer.alloc(10, 1));
      const m = ummap(`file://${a}`, MiB);
      assertCode(() => m.cow(`file://${b}`), 'EEXIST');
      m.cow(`file://${b}`, { allowExist: true });
      m.unmapSync();
    });

    it('switch re-points without copying; dirty pages go to the new object', () => {
      const a = tmpFile('a.bin');
      const c = tmpFile('c.bin');
      const m = ummap(`file://${a}`, MiB);
      const view = new Uint8Array(m.buffer);
      view.fill(1, 0, 4096);
      m.syncSync();
      view.fill(5, 8192, 8192 + 10);
      m.switch(`file://${c}`);
      m.syncSync();
      m.unmapSync();
      const oldContent = fs.readFileSync(a);
      assert.equal(oldContent.length, 4096, 'old object unchanged');
      assert.ok(oldContent.every((x) => x === 1));
      const newContent = fs.readFileSync(c);
      assert.equal(newContent.length, 3 * 4096);
      assert.equal(newContent[8192], 5);
      assert.equal(newContent[0], 0);
    });

    it('mem stores: cow to a named store', () => {
      try {
        const m = ummap('mem://1MB?name=cow-src', MiB);
        const view = new Uint8Array(m.buffer);
        view.fill(4);
        m.syncSync();
        view[0] = 8;
        m.cow('mem://1MB?name=cow-dst');
        m.syncSync();
        m.unmapSync();
        const src = ummap('mem://1MB?name=cow-src', MiB);
        const dst = ummap('mem://1MB?name=cow-dst', MiB);
        assert.equal(new Uint8Array(src.buffer)[0], 4);
        assert.equal(new Uint8Array(dst.buffer)[0], 8);
        assert.equal(new Uint8Array(dst.buffer)[MiB - 1], 4);
        src.unmapSync();
        dst.unmapSync();
      } finally {
        dropMemStore('cow-src');
        dropMemStore('cow-dst');
      }
    });
  });
});
