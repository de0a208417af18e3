// Asynchronous write-back (issue 12): sync()/flush()/unmap() return promises, write off the JS
// thread, and write the content as of the call. Races are driven by the addon's test hook that
// pauses a write-back after N pieces, never by sleeps.
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { IocClient } from '../src';
import { IocError } from '../src/errors';
import { addon, testHooks } from '../src/native';
import { Mapping, ummap } from '../src/ummap';
import type { DirtyTrackingMode } from '../src/ummap';
import { pattern, ServerHandle, startServer } from './helpers/server';
import { firstDifference, MiB, randomWrites, tmpFile } from './ummap-util';

const PAGE = 4096;
const SEGMENT = MiB;
const SIZE = 16 * MiB;
// Five dirty runs far apart: each is a piece of its own (pieces are at most 8 MiB). The tests
// touch the first four while a write-back is paused, never the fifth.
const RUNS = [0, 4, 8, 12, 14].map((seg) => ({ offset: seg * SEGMENT + 3 * PAGE, length: 64 * PAGE }));

async function rejectsWith(p: Promise<unknown>, code: string, messagePart?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof IocError, `an IocError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (messagePart) assert.match(e.message, messagePart);
    return true;
  });
}

/** This process's memory areas from /proc/self/smaps: size in bytes and VmFlags. */
function smapsVmas(): Array<{ range: string; bytes: number; flags: string[] }> {
  const out: Array<{ range: string; bytes: number; flags: string[] }> = [];
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (head) out.push({ range: head[0].trim(), bytes: Number(BigInt(`0x${head[2]}`) - BigInt(`0x${head[1]}`)), flags: [] });
    else if (line.startsWith('VmFlags:') && out.length) out[out.length - 1].flags = line.slice(8).trim().split(/\s+/);
  }
  return out;
}

/** Let the event loop turn a few times (settled promises run their callbacks). */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Pause the next asynchronous write-back once it has written `pieces` pieces. */
/** Writes pattern(seed + i) into RUNS[i] of the mapping; returns the mapping's expected content. */
function writeRuns(view: Uint8Array, seed: number): Buffer {
  const expected = Buffer.alloc(SIZE);
  RUNS.forEach((run, i) => {
    const bytes = pattern(run.length, seed + i);
    view.set(bytes, run.offset);
    bytes.copy(expected, run.offset);
  });
  return expected;
}

/** Runs fn (which creates a mapping: the mode is read then) with asynchronous snapshots copied ('copy'), moved whatever their size ('move'), or as by default (''). */
function withSnapshotMode<T>(mode: 'copy' | 'move' | '', fn: () => T): T {
  const saved = { mode: process.env.UMMAP_SNAPSHOT, min: process.env.UMMAP_SNAPSHOT_MOVE_MIN_BYTES };
  if (mode === 'copy') process.env.UMMAP_SNAPSHOT = 'copy';
  if (mode === 'move') process.env.UMMAP_SNAPSHOT_MOVE_MIN_BYTES = String(PAGE);
  try {
    return fn();
  } finally {
    for (const [name, value] of [['UMMAP_SNAPSHOT', saved.mode], ['UMMAP_SNAPSHOT_MOVE_MIN_BYTES', saved.min]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

function pauseWriteBackAfter(pieces: number): void {
  testHooks().umapTestPauseWriteBack(pieces);
}

function waitPaused(): void {
  assert.ok(testHooks().umapTestWaitPaused(30000), 'the write-back reached the pause');
}

/** Tracks whether a promise has settled, and in which order among others. */
function track(p: Promise<unknown>, name: string, order: string[]): { settled: () => boolean; done: Promise<void> } {
  let settled = false;
  const done = p.then(
    () => { settled = true; order.push(name); },
    (e) => { settled = true; order.push(name); throw e; },
  );
  return { settled: () => settled, done };
}

interface Store {
  name: string;
  map(tracking: DirtyTrackingMode, key: number): Mapping;
  /** What the store holds for the mapping (SIZE bytes). */
  read(key: number): Promise<Buffer>;
}

describe('ummap asynchronous write-back', function () {
  this.timeout(90000);
  let server: ServerHandle | undefined;
  let client: IocClient | undefined;
  const files = new Map<number, string>();
  const open: Mapping[] = [];

  before(async () => {
    server = await startServer();
    client = await IocClient.connect(server.host, server.port);
  });

  after(async () => {
    client?.close();
    if (server) await server.stop();
  });

  afterEach(() => {
    testHooks().umapTestReleaseWriteBack();  // a failed test must not leave a write-back paused
    for (const m of open.splice(0)) {
      try { m.unmapSync({ sync: false }); } catch { /* already reported */ }
    }
  });

  const stores: Store[] = [
    {
      name: 'file://',
      map(tracking, key) {
        const file = tmpFile(`async-${key}`);
        files.set(key, file);
        return ummap(`file://${file}`, SIZE, { segmentSize: SEGMENT, dirtyTracking: tracking });
      },
      async read(key) {
        const bytes = Buffer.alloc(SIZE);
        fs.readFileSync(files.get(key)!).copy(bytes);
        return bytes;
      },
    },
    {
      name: 'ioc://',
      map(tracking, key) {
        return ummap(0xa5c, key, SIZE, { server: server!.address, segmentSize: SEGMENT, dirtyTracking: tracking });
      },
      async read(key) {
        return client!.read(0xa5c, key, 0, SIZE);
      },
    },
  ];

  // wp-async snapshots: copied (UMMAP_SNAPSHOT=copy), or every run moved out by mremap (the
  // default does so for runs of 2 MiB and more; these runs are 256 KiB).
  const snapshotModes: Array<{ tracking: DirtyTrackingMode; snapshot: 'copy' | 'move' | '' }> = [
    { tracking: 'wp-async', snapshot: 'copy' },
    { tracking: 'wp-async', snapshot: 'move' },
    { tracking: 'wp-fault', snapshot: '' },
  ];
  let nextKey = 1;
  for (const store of stores) {
    for (const { tracking, snapshot } of snapshotModes) {
      it(`${store.name} ${tracking}${snapshot ? ` (${snapshot})` : ''}: a sync paused after its first piece writes the content as of the call; the next sync writes the newer one`, async function () {
        if (snapshot === 'move' && !addon().umapSupport().snapshotMoves) this.skip();
        const key = nextKey++;
        // The snapshot mode is read when the mapping is created.
        const m = withSnapshotMode(snapshot, () => store.map(tracking, key));
        open.push(m);
        const view = new Uint8Array(m.buffer);
        const asOfCall = writeRuns(view, 10);

        pauseWriteBackAfter(1);
        const order: string[] = [];
        const sync = track(m.sync(), 'sync', order);
        if (snapshot === 'move') assert.equal(m.stats().snapshotMovedBytes, RUNS.length * RUNS[0].length, 'every run moved out');
        if (snapshot === 'copy') assert.equal(m.stats().snapshotMovedBytes, 0, 'nothing moved');
        waitPaused();
        // A read of a run not written yet sees the content as of the call (moved: copied back).
        assert.equal(firstDifference(Buffer.from(view.subarray(RUNS[1].offset, RUNS[1].offset + RUNS[1].length)), asOfCall.subarray(RUNS[1].offset, RUNS[1].offset + RUNS[1].length)), -1, 'run 1 reads as of the call');
        // The event loop runs while the write-back is held: the I/O is not on this thread.
        await turns();
        assert.equal(sync.settled(), false, 'the sync is still running');
        const stored = await store.read(key);
        assert.equal(firstDifference(stored.subarray(RUNS[0].offset, RUNS[0].offset + RUNS[0].length), asOfCall.subarray(RUNS[0].offset, RUNS[0].offset + RUNS[0].length)), -1, 'the first run is written');
        assert.ok(stored.subarray(RUNS[2].offset, RUNS[2].offset + RUNS[2].length).every((b) => b === 0), 'the third run is not written yet');

        // Overwrite a page already written, pages not yet written (inside and across a run's
        // end), and a page that was clean at the call.
        const now = Buffer.from(asOfCall);
        const overwrite = (offset: number, length: number, seed: number) => {
          const bytes = pattern(length, seed);
          view.set(bytes, offset);
          bytes.copy(now, offset);
        };
        overwrite(RUNS[0].offset + PAGE, PAGE, 91);
        overwrite(RUNS[2].offset + 5 * PAGE, 3 * PAGE, 92);
        overwrite(RUNS[3].offset + RUNS[3].length - PAGE, 2 * PAGE, 93);
        overwrite(6 * SEGMENT, PAGE, 94);

        testHooks().umapTestReleaseWriteBack();
        await sync.done;
        assert.equal(firstDifference(await store.read(key), asOfCall), -1, 'the store holds the content as of the call, byte for byte');
        assert.equal(firstDifference(Buffer.from(view), now), -1, 'the mapping holds the newer content (moved pages are back)');

        // Only the 7 pages written during the write-back are dirty (moved pages went back clean).
        const written = m.stats().bytesWritten;
        await m.sync();
        assert.equal(firstDifference(await store.read(key), now), -1, 'the next sync writes the newer content');
        assert.equal(m.stats().bytesWritten - written, 7 * PAGE, 'the next sync writes only the pages written meanwhile');
        await m.unmap();
        assert.equal(m.closed, true);
        assert.equal(m.buffer.byteLength, 0, 'buffer detached');
      });
    }
  }

  it('concurrent calls are serialised in call order; unmap() waits for a running sync', async () => {
    const m = stores[1].map('wp-async', 90);
    const view = new Uint8Array(m.buffer);
    for (const run of RUNS) view.set(pattern(run.length, 1), run.offset);
    pauseWriteBackAfter(1);
    const order: string[] = [];
    const first = track(m.sync(), 'first', order);
    waitPaused();
    // Written after the first call: the second sync's copy has the first page, the third's both.
    view.set(pattern(PAGE, 7), 2 * SEGMENT);
    const second = track(m.flush(), 'second', order);
    view.set(pattern(PAGE, 8), 3 * SEGMENT);
    const third = track(m.sync(), 'third', order);
    const latest = Buffer.from(view);
    const unmapped = track(m.unmap(), 'unmap', order);
    assert.equal(m.closed, true, 'closed at the unmap() call');
    await rejectsWith(m.sync(), 'EBADF');
    await turns();
    assert.deepEqual(order, [], 'nothing settles while the first write-back is held');
    testHooks().umapTestReleaseWriteBack();
    await Promise.all([first.done, second.done, third.done, unmapped.done]);
    assert.deepEqual(order, ['first', 'second', 'third', 'unmap']);
    assert.equal(firstDifference(await stores[1].read(90), latest), -1, 'the store holds the last content');
  });

  for (const snapshot of ['copy', 'move'] as const) it(`a memory policy does not evict segments whose ${snapshot === 'copy' ? 'copy is not written yet' : 'pages are moved out'}; what it evicts keeps its newer content`, async function () {
    if (snapshot === 'move' && !addon().umapSupport().snapshotMoves) this.skip();
    const file = tmpFile(`async-policy-${snapshot}`);
    const m = withSnapshotMode(snapshot, () => ummap(`file://${file}`, SIZE, { segmentSize: SEGMENT, policy: 'fifo://6MB' }));
    open.push(m);
    const view = new Uint8Array(m.buffer);
    const asOfCall = writeRuns(view, 30);
    pauseWriteBackAfter(1);
    const sync = m.sync();
    waitPaused();
    // Newer content in a written run and an unwritten one, then touch every segment: the policy
    // must evict to load them, and may not drop the unwritten ones.
    const now = Buffer.from(asOfCall);
    for (const [run, seed] of [[RUNS[0], 41], [RUNS[2], 42]] as const) {
      const bytes = pattern(PAGE, seed);
      view.set(bytes, run.offset);
      bytes.copy(now, run.offset);
    }
    let sum = 0;
    for (let seg = 0; seg < SIZE / SEGMENT; seg++) sum += view[seg * SEGMENT + 100];
    assert.ok(sum >= 0);
    assert.ok(m.stats().evictions > 0, 'the policy evicted');
    testHooks().umapTestReleaseWriteBack();
    await sync;
    const stored = Buffer.alloc(SIZE);
    fs.readFileSync(file).copy(stored);
    // Run 0's segment may have been evicted after its piece was written (newer content written
    // then); run 2's must hold the copy as of the call.
    assert.equal(firstDifference(stored.subarray(RUNS[2].offset, RUNS[2].offset + RUNS[2].length), asOfCall.subarray(RUNS[2].offset, RUNS[2].offset + RUNS[2].length)), -1, 'run 2 as of the call');
    await m.sync();
    const final = Buffer.alloc(SIZE);
    fs.readFileSync(file).copy(final);
    assert.equal(firstDifference(final, now), -1, 'after the next sync the file holds every newer byte');
  });

  it('moved snapshots: 8 MiB runs synced 12 times land byte for byte, and the mapping is as many VMAs after as before', async function () {
    if (!addon().umapSupport().snapshotMoves) this.skip();
    const size = 64 * MiB;
    const file = tmpFile('async-moves');
    const m = ummap(`file://${file}`, size, { segmentSize: SEGMENT });
    open.push(m);
    const view = new Uint8Array(m.buffer);
    view.fill(1);
    await m.sync();
    // The mapping's VMAs are those registered with userfaultfd (VmFlags "um").
    const registered = () => smapsVmas().filter((v) => v.flags.includes('um')).length;
    const vmasBefore = registered();
    const expected = Buffer.from(view);
    for (let i = 0; i < 12; i++) {
      const big = pattern(8 * MiB, 100 + i), small = pattern(16 * PAGE, 200 + i);
      const at = (i % 4) * 16 * MiB + 5 * PAGE;
      view.set(big, at);
      big.copy(expected, at);
      view.set(small, at + 10 * MiB);
      small.copy(expected, at + 10 * MiB);
      const before = m.stats();
      await m.sync();
      const after = m.stats();
      assert.equal(after.snapshotMovedBytes - before.snapshotMovedBytes, 8 * MiB, 'the 8 MiB run moved');
      assert.equal(after.snapshotCopiedBytes - before.snapshotCopiedBytes, 16 * PAGE, 'the small run copied');
      assert.equal(registered(), vmasBefore, `VMAs after sync ${i + 1}`);
    }
    assert.equal(firstDifference(Buffer.from(view), expected), -1, 'the mapping holds what was written');
    assert.equal(firstDifference(fs.readFileSync(file), expected), -1, 'the file holds it byte for byte');
  });

  it('small pieces written four at a time (UMMAP_WRITE_PIECE_BYTES / UMMAP_WRITE_PARALLELISM) land byte for byte, async and sync', async () => {
    const saved = { piece: process.env.UMMAP_WRITE_PIECE_BYTES, parallel: process.env.UMMAP_WRITE_PARALLELISM };
    process.env.UMMAP_WRITE_PIECE_BYTES = String(16 * PAGE);
    process.env.UMMAP_WRITE_PARALLELISM = '4';
    try {
      const m = stores[0].map('wp-async', 92);
      open.push(m);
      const reference = Buffer.alloc(SIZE);
      const view = new Uint8Array(m.buffer);
      randomWrites(view, reference, 4000, 12);
      const before = m.stats().writeBacks;
      await m.flush();
      assert.ok(m.stats().writeBacks - before > 4, 'several pieces');
      assert.equal(firstDifference(await stores[0].read(92), reference), -1, 'async: byte for byte');
      randomWrites(view, reference, 4000, 13);
      m.syncSync();
      assert.equal(firstDifference(await stores[0].read(92), reference), -1, 'sync: byte for byte');
    } finally {
      for (const [name, value] of [['UMMAP_WRITE_PIECE_BYTES', saved.piece], ['UMMAP_WRITE_PARALLELISM', saved.parallel]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('ioc: after a sync beside faults and pieces written four at a time, the unmapped range maps again (no EBUSY)', async () => {
    // The data client then has several pooled connections, each with its own TCP client id; the
    // range registration must be released whichever of them is idle at unmap.
    const saved = { parallel: process.env.UMMAP_WRITE_PARALLELISM, piece: process.env.UMMAP_WRITE_PIECE_BYTES };
    process.env.UMMAP_WRITE_PARALLELISM = '4';
    process.env.UMMAP_WRITE_PIECE_BYTES = String(MiB);
    try {
      for (let round = 0; round < 3; round++) {
        const m = ummap(0xa5e, round, SIZE, { server: server!.address, segmentSize: SEGMENT });
        const view = new Uint8Array(m.buffer);
        view.fill(round + 1, 0, SIZE / 2);
        const sync = m.sync();
        let sum = 0;
        for (let off = SIZE / 2; off < SIZE; off += PAGE) sum += view[off];  // faults: reads
        await sync;
        assert.equal(sum, 0);
        await m.unmap();
        const again = ummap(0xa5e, round, SIZE, { server: server!.address, segmentSize: SEGMENT });
        assert.equal(new Uint8Array(again.buffer)[0], round + 1);
        again.unmapSync({ sync: false });
      }
    } finally {
      for (const [name, value] of [['UMMAP_WRITE_PARALLELISM', saved.parallel], ['UMMAP_WRITE_PIECE_BYTES', saved.piece]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('bad ranges and unmapped mappings reject with typed errors; the Sync forms throw them', async () => {
    const m = stores[0].map('wp-async', 91);
    open.push(m);
    await rejectsWith(m.sync(SIZE - 1, 2), 'EINVAL');
    await rejectsWith(m.flush(-1), 'EINVAL');
    assert.throws(() => m.flushSync(0, SIZE + 1), (e: unknown) => e instanceof IocError && e.code === 'EINVAL');
    await m.unmap({ sync: false });
    await rejectsWith(m.sync(), 'EBADF');
    await rejectsWith(m.flush(), 'EBADF');
    assert.throws(() => m.syncSync(), (e: unknown) => e instanceof IocError && e.code === 'EBADF');
    await m.unmap();  // idempotent
  });

  it('a failed asynchronous unmap leaves the mapping open with its content; a failed sync keeps the pages dirty for the next one', async () => {
    const own = await startServer();
    try {
      const m = ummap(0xa5d, 1, 4 * MiB, { server: own.address, segmentSize: SEGMENT });
      open.push(m);
      const expected = pattern(4 * MiB, 5);
      new Uint8Array(m.buffer).set(expected);
      await own.stop();
      await assert.rejects(m.sync(), (e: unknown) => e instanceof IocError);
      await assert.rejects(m.unmap(), (e: unknown) => e instanceof IocError);
      assert.equal(m.closed, false, 'still open');
      assert.equal(firstDifference(new Uint8Array(m.buffer), expected), -1, 'a new buffer over the same memory');
      const again = await startServer({ port: own.port, store: own.store });
      try {
        await m.unmap();
        const c = await IocClient.connect(again.host, again.port);
        try {
          assert.equal(firstDifference(await c.read(0xa5d, 1, 0, 4 * MiB), expected), -1, 'written by the unmap after the server came back');
        } finally {
          c.close();
        }
      } finally {
        await again.stop();
      }
    } finally {
      await own.stop().catch(() => undefined);
    }
  });
  it('the mapping and its snapshot copy are not inherited by child processes (MADV_DONTFORK): a spawn leaves them alone', async () => {
    // libuv spawns with fork(): anything inherited turns copy-on-write in this process, and the
    // next write to each page takes a fault (a 1 GiB snapshot copy went from 45 ms to 160-350 ms).
    const size = 37 * MiB;  // a size no other mapping here has
    const m = ummap(`file://${tmpFile('dontfork')}`, size, { segmentSize: SEGMENT });
    open.push(m);
    new Uint8Array(m.buffer).fill(7);
    const synced = m.sync();
    execFileSync('true');  // a spawn while the copy is being written back
    await synced;
    const vmas = smapsVmas();
    const mapping = vmas.find((v) => v.bytes === size);
    assert.ok(mapping, 'the mapping is one VMA of its size');
    assert.ok(mapping.flags.includes('dc'), `the mapping is MADV_DONTFORK (VmFlags: ${mapping.flags.join(' ')})`);
    // The snapshot copy (this sync's or a kept one at least as large) is its own VMA.
    const copies = vmas.filter((v) => v !== mapping && v.bytes >= size && v.flags.includes('dc'));
    assert.ok(copies.length >= 1, 'a MADV_DONTFORK snapshot buffer as large as the dirty bytes');
    await m.unmap();
  });
});
