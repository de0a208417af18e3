// Pipelined read-ahead (native/uffd/read_ahead.h) over ioc, against a real server process and
// real userfaultfd: content of sequential and random first touches, read-ahead at the end of
// the object and of the mapping, unmap while a read-ahead is in flight, and read errors of a
// read-ahead that surface only on the page that needs the segment. The races are driven by the
// read-ahead test gate (umapTestPauseReadAhead), never by sleeps.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import { nativeBuildDir, testHooks } from '../src/native';
import { Mapping, ummap } from '../src/ummap';
import type { ServerHandle } from './helpers/server';
import { firstDifference, MiB, rng } from './ummap-util';
import * as path from 'path';

const serverBinary = path.join(nativeBuildDir, 'iocatcher-serverd');
const OBJECT = 64 * MiB + 12345;  // the object's bytes on the server (a partial last segment)
const PAGE = 4096;
const [BEFORE_READ, AFTER_READ, INSTALLED] = [0, 1, 2] as const;  // read-ahead gate phases

/** Deterministic non-zero content, fast for 64 MiB. */
function content(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  const words = new Uint32Array(bytes.buffer, 0, Math.floor(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = (Math.imul(i + 1, 2654435761) ^ seed) >>> 0;
  for (let i = words.length * 4; i < size; i++) bytes[i] = (i * 7 + seed) & 0xff;
  return bytes;
}

/** Touch one byte of each page of [from, to) in order; returns a sum to keep the reads. */
function touch(view: Uint8Array, from: number, to: number): number {
  let sum = 0;
  for (let at = from; at < to; at += PAGE) sum += view[at];
  return sum;
}

describe('ummap pipelined read-ahead (ioc)', function () {
  this.timeout(120000);
  let server: ServerHandle | undefined;
  let helper: typeof import('./helpers/server');
  const reference = content(OBJECT, 0x5eed);
  const uri = 'ioc://0x12a:7';

  before(async function () {
    if (!fs.existsSync(serverBinary)) {
      console.log(`      skipped: no server binary at ${serverBinary} (build it first)`);
      this.skip();
    }
    helper = require('./helpers/server');
    server = await helper.startServer();
    // The object, written once and flushed (the server keeps it across a restart).
    const m = ummap(uri, OBJECT, { server: server.address, segmentSize: 8 * MiB, noFirstRead: true });
    new Uint8Array(m.buffer).set(reference);
    m.unmapSync({ sync: true });
  });

  // Mappings a test opened: unmapped after it, failed or not (an open one keeps the object's
  // range registered and the next mapping of it would get EBUSY).
  const open: Mapping[] = [];
  const map = (size: number, segmentSize: number): Mapping => {
    const m = ummap(uri, size, { server: server!.address, segmentSize });
    open.push(m);
    return m;
  };

  afterEach(() => {
    testHooks().umapTestReleaseReadAhead();  // a failed test must not leave a reader paused
    for (const m of open.splice(0)) if (!m.closed) m.unmapSync({ sync: false });
    assert.ok(testHooks().umapTestReadAheadIdle(20000), 'read-ahead drained');
  });

  after(async () => {
    if (server) await server.stop();
  });

  for (const segmentSize of [MiB, 8 * MiB]) {
    it(`sequential first touch of ${OBJECT} bytes, ${segmentSize / MiB} MiB segments: byte for byte, read ahead by the readers`, () => {
      const m = map(OBJECT, segmentSize);
      const view = new Uint8Array(m.buffer);
      touch(view, 0, OBJECT);
      const s = m.stats();
      const segments = Math.ceil(OBJECT / segmentSize);
      assert.equal(s.segmentsLoaded, segments);
      assert.equal(s.bytesRead, OBJECT, 'each segment read once');
      // The window opens at the second fault and the handler reads a queued segment itself when
      // the scan reaches it before a reader does: most, not all, come from the readers.
      assert.ok(s.readAheadSegments >= segments / 3, `read ahead: ${s.readAheadSegments} of ${segments}`);
      assert.equal(s.ioErrors, 0);
      assert.equal(firstDifference(view, reference), -1);
    });
  }

  it('random-order touch: every segment read once, nothing read ahead of a random fault', () => {
    const m = map(OBJECT, MiB);
    const view = new Uint8Array(m.buffer);
    const segments = Math.ceil(OBJECT / MiB);
    const order = Array.from({ length: segments }, (_, i) => i);
    const rand = rng(12);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    // Keep the order random: no segment right after the one before it (which would be sequential).
    for (let i = 1; i < order.length; i++) {
      if (order[i] === order[i - 1] + 1 && i + 1 < order.length) [order[i], order[i + 1]] = [order[i + 1], order[i]];
    }
    let sequentialPairs = 0;
    for (let i = 1; i < order.length; i++) if (order[i] === order[i - 1] + 1) sequentialPairs++;
    let sum = 0;
    for (const seg of order) sum += view[Math.min(OBJECT - 1, seg * MiB + Math.floor(rand() * 256) * PAGE)];
    assert.ok(sum > 0);
    const s = m.stats();
    assert.equal(s.bytesRead, OBJECT, 'each segment read once');
    assert.equal(s.segmentsLoaded, segments);
    // A read-ahead window only opens after a sequential fault (at most the one pair left).
    assert.ok(s.readAheadSegments <= sequentialPairs * 2, `read ahead ${s.readAheadSegments} with ${sequentialPairs} sequential pairs`);
    assert.equal(firstDifference(view, reference), -1);
    m.unmapSync({ sync: false });
  });

  it('read-ahead past the end of the object reads zeros; past the end of the mapping reads nothing', () => {
    const size = 80 * MiB + 100;  // longer than the object, partial last segment
    const m = map(size, MiB);
    const view = new Uint8Array(m.buffer);
    touch(view, 0, size);
    assert.equal(firstDifference(view.subarray(0, OBJECT), reference), -1);
    assert.ok(view.subarray(OBJECT).every((b) => b === 0), 'zeros after the object');
    assert.equal(m.stats().segmentsLoaded, Math.ceil(size / MiB));
    assert.equal(m.stats().bytesRead, size, 'the server answers zeros past the object');
    m.unmapSync({ sync: false });

    // A 10 MiB + 5 mapping of the object with a 16 MiB window: nothing read beyond its end.
    const small = map(10 * MiB + 5, MiB);
    const sv = new Uint8Array(small.buffer);
    touch(sv, 0, sv.length);
    assert.ok(testHooks().umapTestReadAheadIdle(20000));
    assert.equal(small.stats().bytesRead, 10 * MiB + 5);
    assert.equal(firstDifference(sv, reference.subarray(0, sv.length)), -1);
    small.unmapSync({ sync: false });
  });

  for (const afterRead of [true, false]) {
    it(`unmap while a read-ahead is in flight (${afterRead ? 'read, not installed' : 'not read yet'}): dropped, the next mapping is right`, () => {
      testHooks().umapTestPauseReadAhead(2, afterRead ? AFTER_READ : BEFORE_READ);
      const m = map(OBJECT, MiB);
      const view = new Uint8Array(m.buffer);
      touch(view, 0, 2 * MiB);  // segments 0 and 1: sequential, segment 2 and on are read ahead
      assert.ok(testHooks().umapTestWaitReadAheadPaused(20000), 'the read-ahead of segment 2 reached the pause');
      m.unmapSync({ sync: false });  // returns while the reader is held
      assert.equal(m.closed, true);
      testHooks().umapTestReleaseReadAhead();
      assert.ok(testHooks().umapTestReadAheadIdle(20000), 'the reader dropped its segment');
      const again = map(OBJECT, MiB);
      const v2 = new Uint8Array(again.buffer);
      touch(v2, 0, OBJECT);
      assert.equal(firstDifference(v2, reference), -1);
      again.unmapSync({ sync: false });
    });
  }

  it('unmap while a reader installs: the unmap waits for the install (its UFFDIO_COPY never lands after the munmap)', async () => {
    testHooks().umapTestPauseReadAhead(2, INSTALLED);
    const m = map(OBJECT, MiB);
    touch(new Uint8Array(m.buffer), 0, 2 * MiB);
    assert.ok(testHooks().umapTestWaitReadAheadPaused(20000), 'segment 2 installed, not accounted');
    let finished = false;
    const done = m.unmap({ sync: false }).then(() => { finished = true; });  // on another thread
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(finished, false, 'the unmap waits for the install under way');
    testHooks().umapTestReleaseReadAhead();
    await done;
    assert.equal(m.closed, true);
  });

  it('wp-fault: a write to a page a reader installed, before it accounts the segment, is tracked', () => {
    testHooks().umapTestPauseReadAhead(2, INSTALLED);
    const m = ummap(uri, OBJECT, { server: server!.address, segmentSize: MiB, dirtyTracking: 'wp-fault' });
    open.push(m);
    const view = new Uint8Array(m.buffer);
    touch(view, 0, 2 * MiB);
    assert.ok(testHooks().umapTestWaitReadAheadPaused(20000), 'segment 2 installed, not accounted');
    const at = 2 * MiB + 100;
    view[at] = reference[at];  // a write-protect fault on a present page (same byte: the object stays as it is)
    testHooks().umapTestReleaseReadAhead();
    const before = m.stats();
    assert.ok(before.writeFaults >= 1, 'the write fault was served');
    m.syncSync();
    assert.ok(m.stats().bytesWritten >= PAGE, 'the written page went back');
    assert.equal(firstDifference(view, reference), -1);
  });

  it('a fault elsewhere is served while a read-ahead is held (it never waits behind read-ahead)', () => {
    testHooks().umapTestPauseReadAhead(2, BEFORE_READ);
    const m = map(OBJECT, MiB);
    const view = new Uint8Array(m.buffer);
    touch(view, 0, 2 * MiB);
    assert.ok(testHooks().umapTestWaitReadAheadPaused(20000), 'the read-ahead of segment 2 is held');
    // Would hang here if the handler waited for the held reader.
    assert.equal(firstDifference(view.subarray(40 * MiB, 41 * MiB), reference.subarray(40 * MiB, 41 * MiB)), -1);
    assert.equal(firstDifference(view.subarray(20 * MiB, 21 * MiB), reference.subarray(20 * MiB, 21 * MiB)), -1);
    testHooks().umapTestReleaseReadAhead();
    assert.equal(firstDifference(view, reference), -1);
  });

  it('a read error of a read-ahead is not seen until a page needs the segment, whose fault reads it again', () => {
    testHooks().umapTestPauseReadAhead(2, AFTER_READ, -5 /* EIO */);
    const m = map(OBJECT, MiB);
    const view = new Uint8Array(m.buffer);
    touch(view, 0, 2 * MiB);
    assert.ok(testHooks().umapTestWaitReadAheadPaused(20000));
    testHooks().umapTestReleaseReadAhead();
    assert.ok(testHooks().umapTestReadAheadIdle(20000));
    assert.equal(m.stats().ioErrors, 1, 'the failed read-ahead is counted, nothing raised');
    touch(view, 2 * MiB, OBJECT);  // segment 2 faults and is read by the fault path
    assert.equal(firstDifference(view, reference), -1);
    assert.equal(m.stats().segmentsLoaded, Math.ceil(OBJECT / MiB));
    m.unmapSync({ sync: false });
  });

  it('a read-ahead that fails after installing some of its pieces (8 MiB segments): the fault that needs the rest loads it; a write to an installed page is tracked (wp-fault)', () => {
    const S = 8 * MiB;
    testHooks().umapTestPauseReadAhead(2, AFTER_READ, -5 /* EIO */);  // its last 1 MiB piece fails
    const m = ummap(uri, OBJECT, { server: server!.address, segmentSize: S, dirtyTracking: 'wp-fault' });
    open.push(m);
    const view = new Uint8Array(m.buffer);
    touch(view, 0, 2 * S);
    assert.ok(testHooks().umapTestWaitReadAheadPaused(20000));
    testHooks().umapTestReleaseReadAhead();
    assert.ok(testHooks().umapTestReadAheadIdle(20000));
    assert.equal(m.stats().ioErrors, 1);
    const at = 2 * S + 100;
    view[at] = reference[at];  // a present page of a segment not loaded: loads the rest, records the write
    assert.equal(m.stats().segmentsLoaded, 3);
    m.syncSync();
    assert.ok(m.stats().bytesWritten >= PAGE, 'the written page went back');
    assert.equal(firstDifference(view, reference), -1);
  });

  it('the server dies during a read-ahead: resident pages still read; the segment loads once the server is back', async () => {
    const store = server!.store;
    const port = server!.port;
    testHooks().umapTestPauseReadAhead(2, BEFORE_READ);
    const m = map(OBJECT, MiB);
    const view = new Uint8Array(m.buffer);
    touch(view, 0, 2 * MiB);
    assert.ok(testHooks().umapTestWaitReadAheadPaused(20000), 'the read-ahead of segment 2 is held before its read');
    await server!.kill();
    server = undefined;
    testHooks().umapTestReleaseReadAhead();  // its read now meets the dead server
    assert.ok(testHooks().umapTestReadAheadIdle(20000));
    assert.ok(m.stats().ioErrors >= 1, 'the failed read-ahead is counted');
    // No error surfaced on the resident pages.
    assert.equal(firstDifference(view.subarray(0, 2 * MiB), reference.subarray(0, 2 * MiB)), -1);
    server = await helper.startServer({ port, store });
    touch(view, 2 * MiB, OBJECT);  // the faults read what the read-ahead could not
    assert.equal(firstDifference(view, reference), -1);
    m.unmapSync({ sync: false });
  });
});
