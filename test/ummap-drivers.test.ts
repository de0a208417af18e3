// Round trips through every local driver, in both dirty tracking modes, on real userfaultfd.
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { dropMemStore, Mapping, ummap, ummapSupport } from '../src/ummap';
import type { DirtyTrackingMode } from '../src/ummap';
import { firstDifference, MiB, randomWrites, tmpFile } from './ummap-util';

const SIZE = 64 * MiB;
const modes: DirtyTrackingMode[] = ummapSupport().wpAsync ? ['wp-async', 'wp-fault'] : ['wp-fault'];

describe('ummap drivers', function () {
  this.timeout(60000);

  it('has userfaultfd with kernel-side faults here', () => {
    const s = ummapSupport();
    assert.equal(s.available, true, s.error);
    assert.equal(s.kernelFaults, true);
  });

  it('IOC_UFFD_NO_WP_ASYNC=1 forces write-protect faults', () => {
    const script = `
      const { ummap, ummapSupport } = require(${JSON.stringify(path.join(__dirname, '..', 'src', 'ummap'))});
      const m = ummap('mem://1MB', 1 << 20);
      const v = new Uint8Array(m.buffer);
      if (v[5] !== 0) throw new Error("not zero");  // load first: the write below is a WP fault
      v[5] = 1;
      m.syncSync();
      const s = m.stats();
      console.log(JSON.stringify({ def: ummapSupport().defaultTracking, mode: m.dirtyTracking, wf: s.writeFaults, w: s.bytesWritten }));
      m.unmapSync();`;
    const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, IOC_UFFD_NO_WP_ASYNC: '1' } }).toString();
    assert.deepEqual(JSON.parse(out), { def: 'wp-fault', mode: 'wp-fault', wf: 1, w: 4096 });
  });

  for (const mode of modes) {
    describe(`dirty tracking ${mode}`, () => {
      it('mem: random writes, sync, unmap, map again, read back byte for byte', () => {
        const uri = `mem://64MB?name=roundtrip-${mode}`;
        try {
          const reference = new Uint8Array(SIZE);
          let m = ummap(uri, SIZE, { dirtyTracking: mode });
          assert.equal(m.dirtyTracking, mode);
          randomWrites(new Uint8Array(m.buffer), reference, 20000, 1);
          m.syncSync();
          const s = m.stats();
          assert.ok(s.bytesWritten > 0 && s.bytesWritten < SIZE, `wrote ${s.bytesWritten} bytes`);
          if (mode === 'wp-fault') assert.ok(s.writeFaults > 0);
          else assert.equal(s.writeFaults, 0);
          m.unmapSync();
          m = ummap(uri, SIZE, { dirtyTracking: mode });
          assert.equal(firstDifference(new Uint8Array(m.buffer), reference), -1);
          assert.equal(m.stats().bytesRead, SIZE);
          m.unmapSync({ sync: false });
        } finally {
          dropMemStore(`roundtrip-${mode}`);
        }
      });

      it('file: random writes, sync, unmap, map again, read back byte for byte', () => {
        const path = tmpFile('roundtrip.bin');
        const reference = new Uint8Array(SIZE);
        let m = ummap(`file://${path}`, SIZE, { dirtyTracking: mode, segmentSize: 256 * 1024 });
        randomWrites(new Uint8Array(m.buffer), reference, 20000, 2);
        m.unmapSync({ sync: true });
        const onDisk = fs.readFileSync(path);
        assert.equal(firstDifference(onDisk.subarray(0, Math.min(onDisk.length, SIZE)), reference.subarray(0, onDisk.length)), -1);
        m = ummap(`file://${path}`, SIZE, { dirtyTracking: mode });
        assert.equal(firstDifference(new Uint8Array(m.buffer), reference), -1);
        m.unmapSync();
      });
    });
  }

  it('dummy: reads give the byte, writes are counted and dropped', () => {
    let m = ummap('dummy://7', SIZE);
    const reference = new Uint8Array(SIZE);
    randomWrites(new Uint8Array(m.buffer), reference, 20000, 3);
    m.syncSync();
    const written = m.stats().bytesWritten;
    assert.ok(written > 0);
    m.unmapSync();
    m = ummap('dummy://7', SIZE);
    const view = new Uint8Array(m.buffer);
    assert.equal(firstDifference(view, new Uint8Array(SIZE).fill(7)), -1);
    m.unmapSync();
    m = ummap('dummy://A', 4096);
    assert.equal(new Uint8Array(m.buffer)[100], 65);
    m.unmapSync();
  });

  it('last partial segment and an unaligned storageOffset', () => {
    const path = tmpFile('offset.bin');
    const content = Buffer.alloc(8 * MiB);
    for (let i = 0; i < content.length; i++) content[i] = (i * 31 + 7) & 0xff;
    fs.writeFileSync(path, content);
    const offset = 12345;
    const size = 3 * MiB + 5000;  // 4 segments, the last one 5000 bytes
    const m = ummap(`file://${path}`, size, { storageOffset: offset, segmentSize: MiB });
    const view = new Uint8Array(m.buffer);
    assert.equal(view.length, size);
    assert.equal(firstDifference(view, content.subarray(offset, offset + size)), -1);
    view[0] = 0xee;
    view[size - 1] = 0xdd;
    view[3 * MiB] = 0xcc;
    m.unmapSync();
    const after = fs.readFileSync(path);
    assert.equal(after.length, content.length, 'no write past the mapping');
    assert.equal(after[offset], 0xee);
    assert.equal(after[offset + size - 1], 0xdd);
    assert.equal(after[offset + 3 * MiB], 0xcc);
    const expected = Buffer.from(content);
    expected[offset] = 0xee;
    expected[offset + size - 1] = 0xdd;
    expected[offset + 3 * MiB] = 0xcc;
    assert.equal(firstDifference(after, expected), -1);
  });

  it('noFirstRead: first touch gives zeros without reading; written pages go back', () => {
    const path = tmpFile('nofirstread.bin');
    fs.writeFileSync(path, Buffer.alloc(2 * MiB, 0xab));
    const m = ummap(`file://${path}`, 2 * MiB, { noFirstRead: true, segmentSize: MiB });
    const view = new Uint8Array(m.buffer);
    assert.equal(view[0], 0);
    assert.equal(view[2 * MiB - 1], 0);
    assert.equal(m.stats().bytesRead, 0);
    view[10] = 1;
    m.syncSync(0, undefined, { evict: true });
    assert.equal(m.stats().bytesWritten, 4096);
    // Evicted segments are read back from the file now.
    assert.equal(view[10], 1);
    assert.equal(view[11], 0);  // rest of the written page: the zeros that were there
    assert.equal(view[4096], 0xab);
    assert.ok(m.stats().bytesRead > 0);
    m.unmapSync();
    const after = fs.readFileSync(path);
    assert.equal(after[10], 1);
    assert.equal(after[4096], 0xab);
  });

  it('sync of a mapping with nothing dirty writes nothing', () => {
    for (const mode of modes) {
      const path = tmpFile('clean.bin');
      fs.writeFileSync(path, Buffer.alloc(8 * MiB, 3));
      const m = ummap(`file://${path}`, 8 * MiB, { dirtyTracking: mode });
      const view = new Uint8Array(m.buffer);
      let sum = 0;
      for (let i = 0; i < view.length; i += 4096) sum += view[i];
      assert.equal(sum, 3 * 2048);
      m.syncSync();
      assert.equal(m.stats().bytesWritten, 0, mode);
      assert.equal(m.stats().writeBacks, 0, mode);
      assert.equal(m.stats().driverSyncs, 0, mode);
      view[5 * MiB + 1] = 9;
      m.syncSync();
      assert.equal(m.stats().bytesWritten, 4096, mode);
      m.syncSync();
      assert.equal(m.stats().bytesWritten, 4096, `${mode}: second sync`);
      m.unmapSync();
    }
  });

  it('fs.readSync into an untouched mapping, fs.writeSync from one', () => {
    const src = tmpFile('src.bin');
    const content = Buffer.alloc(4 * MiB);
    for (let i = 0; i < content.length; i++) content[i] = (i * 13) & 0xff;
    fs.writeFileSync(src, content);
    for (const mode of modes) {
      const store = tmpFile('dst.bin');
      const m: Mapping = ummap(`file://${store}`, 8 * MiB, { dirtyTracking: mode });
      const fd = fs.openSync(src, 'r');
      const n = fs.readSync(fd, new Uint8Array(m.buffer, MiB + 100, 4 * MiB), 0, 4 * MiB, 0);
      fs.closeSync(fd);
      assert.equal(n, 4 * MiB);
      assert.equal(firstDifference(new Uint8Array(m.buffer, MiB + 100, 4 * MiB), content), -1);
      // The kernel's writes are tracked like any other: they reach the store.
      m.unmapSync();
      const stored = fs.readFileSync(store);
      assert.equal(firstDifference(stored.subarray(MiB + 100, MiB + 100 + 4 * MiB), content), -1, mode);

      const m2 = ummap('dummy://5', 2 * MiB);
      const out = tmpFile('out.bin');
      const wfd = fs.openSync(out, 'w');
      assert.equal(fs.writeSync(wfd, new Uint8Array(m2.buffer)), 2 * MiB);
      fs.closeSync(wfd);
      assert.equal(firstDifference(fs.readFileSync(out), new Uint8Array(2 * MiB).fill(5)), -1);
      m2.unmapSync();
    }
  });
});
