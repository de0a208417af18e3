// ummap benchmark: first-touch sequential read of a 1 GiB mem mapping at several segment sizes
// beside the kernel's own mmap of a tmpfs file and bulk UFFDIO_COPY, then the cost of sync()
// on 1 GiB with 1% of the pages dirty beside all clean, then how long an asynchronous 256 MiB
// checkpoint blocks the event loop.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { testHooks } from '../src/native';
import { dropMemStore, Mapping, ummap, ummapSupport } from '../src/ummap';
import type { DirtyTrackingMode } from '../src/ummap';
import { clientReadGbps, ummapIocFirstTouch } from './ioc_first_touch';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
}

const GiB = 1 << 30;
const MiB = 1 << 20;
const STORE = 'ummap-bench';

/** Read one 32-bit word per 64-byte cache line, front to back. Returns seconds. */
function scan(buffer: ArrayBuffer): number {
  const words = new Int32Array(buffer);
  const t0 = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < words.length; i += 16) sum = (sum + words[i]) | 0;
  const t1 = process.hrtime.bigint();
  if (sum === 0x7fffffff) console.log('');  // keep the loop observable
  return Number(t1 - t0) / 1e9;
}

const gbps = (bytes: number, seconds: number) => bytes / seconds / 1e9;

/** This 2-vCPU VM is noisy: report the best of a few runs of each measurement. */
const RUNS = 3;
function best(run: () => number): number {
  let top = 0;
  for (let i = 0; i < RUNS; i++) top = Math.max(top, run());
  return top;
}

/** Fill the named mem store with non-zero data once (zero pages would flatter the copies). */
function fillStore(): void {
  const m = ummap(`mem://1GB?name=${STORE}`, GiB, { noFirstRead: true, segmentSize: 16 * MiB });
  const words = new Uint32Array(m.buffer);
  for (let off = 0; off < words.length; off += 4 * MiB) words.subarray(off, off + 4 * MiB).fill(0x01020304 + off);
  m.unmapSync({ sync: true });
}

function tmpfsBaseline(log: (s: string) => void): number {
  const file = path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : '/tmp', `ummap-bench-${process.pid}`);
  const chunk = Buffer.alloc(64 * MiB, 7);
  const fd = fs.openSync(file, 'w');
  for (let off = 0; off < GiB; off += chunk.length) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  try {
    const rate = best(() => {
      const buffer = testHooks().umapBenchMapFile(file, GiB);
      const seconds = scan(buffer);
      testHooks().umapBenchUnmapFile(buffer);
      return gbps(GiB, seconds);
    });
    log(`  kernel mmap of ${file}: ${rate.toFixed(2)} GB/s`);
    return rate;
  } finally {
    fs.unlinkSync(file);
  }
}

function firstTouch(segmentSize: number): { gbps: number; faults: number } {
  let faults = 0;
  const rate = best(() => {
    const m = ummap(`mem://1GB?name=${STORE}`, GiB, { segmentSize });
    const seconds = scan(m.buffer);
    faults = m.stats().faults;
    m.unmapSync({ sync: false });
    return gbps(GiB, seconds);
  });
  return { gbps: rate, faults };
}

function timeMs(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** sync() time on a resident 1 GiB mapping: all clean, then with 1% and 10% of pages dirty. */
function syncCost(mode: DirtyTrackingMode): { clean: number; dirty: Array<{ percent: number; ms: number; written: number }> } {
  const m: Mapping = ummap(`mem://1GB?name=${STORE}`, GiB, { dirtyTracking: mode });
  scan(m.buffer);  // everything resident
  m.syncSync();
  const clean = Math.min(timeMs(() => m.syncSync()), timeMs(() => m.syncSync()), timeMs(() => m.syncSync()));
  const pages = GiB / 4096;
  const view = new Uint8Array(m.buffer);
  const dirty = [];
  for (const percent of [1, 10]) {
    const stride = 100 / percent;  // evenly spread pages: no two dirty runs merge
    for (let p = 0; p < pages; p += stride) view[p * 4096 + 8] ^= 0xff;
    const before = m.stats().bytesWritten;
    const ms = timeMs(() => m.syncSync());
    dirty.push({ percent, ms, written: m.stats().bytesWritten - before });
  }
  m.unmapSync({ sync: false });
  return { clean, dirty };
}

/** One asynchronous checkpoint: see checkpointStall. */
export interface StallRound {
  /** Time the JS thread was kept busy by the checkpoint: the synchronous part of the call plus
   * the JS thread's own CPU time while the checkpoint was in flight (completions, promise
   * resolution), beyond what the same thread uses when idle with the same delay monitor. */
  blockedMs: number;
  /** From the call until the promise settled (written back and durable). */
  checkpointMs: number;
  /** The synchronous part of the call (the dirty-page scan, the dirty pages moved out or copied). */
  callMs: number;
  /** The JS thread's CPU time after the call returned until the promise settled, beyond idle. */
  busyAfterCallMs: number;
  /** Time the JS thread was runnable but waited for a CPU (the kernel's run-queue wait): on a
   * small machine, CPU taken by the write-back threads and a server on the same machine. */
  runQueueWaitMs: number;
  /** Event-loop delay: what the 1 ms monitor saw beyond its period, minus what it sees on an
   * idle loop for as long (its own timer overshoot). Includes the call and the run-queue wait. */
  loopDelayMs: number;
  /** Largest and 99th-percentile event-loop delay seen by the monitor, beyond its 1 ms period. */
  maxDelayMs: number;
  p99DelayMs: number;
}

/** The calling thread's CPU time and run-queue wait so far (ns), from /proc/thread-self/schedstat. */
function threadSchedstat(): { cpuNs: number; waitNs: number } {
  const [cpu, wait] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
  return { cpuNs: cpu, waitNs: wait };
}

/** What an idle event loop with a 1 ms delay monitor costs per ms: the JS thread's CPU time and
 * the monitor's own overshoot (libuv timers have 1 ms granularity). */
async function idleLoopCost(ms: number): Promise<{ cpuPerMs: number; overshootPerMs: number }> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const s0 = threadSchedstat();
  const t0 = process.hrtime.bigint();
  delay.enable();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const s1 = threadSchedstat();
  delay.disable();
  return { cpuPerMs: (s1.cpuNs - s0.cpuNs) / 1e6 / wall, overshootPerMs: ((delay.mean - 1e6) * delay.count) / 1e6 / wall };
}

/**
 * An asynchronous sync() of `size` all-dirty bytes to `uri`, twice (the second on a warm
 * object, as repeated checkpoints do). How long the JS thread was blocked: the synchronous part
 * of the call (the dirty-page scan and the move, or copy, of the dirty pages) plus the JS thread's own CPU time until the promise
 * settled, beside the checkpoint's time. Printed beside it: the JS thread's run-queue wait (it
 * was runnable, other threads had the CPUs) and the event-loop delay from monitorEventLoopDelay
 * at 1 ms resolution, which includes both. The synchronous form blocks the thread for the whole
 * checkpoint. Returns the last round; all of them in `rounds` (the first: a new mapping's first
 * checkpoint).
 */
export async function checkpointStall(uri: string, size: number, server?: string): Promise<StallRound & { rounds: StallRound[] }> {
  const idle = await idleLoopCost(500);
  const m = ummap(uri, size, { server, segmentSize: 8 * MiB, noFirstRead: true });
  const words = new Float64Array(m.buffer);
  const rounds: StallRound[] = [];
  try {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < words.length; i += 512) words[i] = i + round;  // every page dirty
      const delay = monitorEventLoopDelay({ resolution: 1 });
      const tm = process.hrtime.bigint();
      delay.enable();
      await new Promise((resolve) => setTimeout(resolve, 5));  // the monitor's timer is running
      const s0 = threadSchedstat();
      const t0 = process.hrtime.bigint();
      const done = m.sync();
      const t1 = process.hrtime.bigint();
      const s1 = threadSchedstat();
      await done;
      const t2 = process.hrtime.bigint();
      const s2 = threadSchedstat();
      await new Promise((resolve) => setTimeout(resolve, 5));  // the sample that saw the last stall
      const t3 = process.hrtime.bigint();
      delay.disable();
      const callMs = Number(t1 - t0) / 1e6;
      const awaitMs = Number(t2 - t1) / 1e6;
      const busyAfterCallMs = Math.max(0, (s2.cpuNs - s1.cpuNs) / 1e6 - idle.cpuPerMs * awaitMs);
      const monitoredMs = Number(t3 - tm) / 1e6;
      const loopDelayMs = Math.max(callMs, ((delay.mean - 1e6) * delay.count) / 1e6 - idle.overshootPerMs * monitoredMs);
      const beyond = (ns: number) => Math.max(0, (ns - 1e6) / 1e6);
      rounds.push({
        blockedMs: callMs + busyAfterCallMs, checkpointMs: Number(t2 - t0) / 1e6, callMs, busyAfterCallMs,
        runQueueWaitMs: (s2.waitNs - s0.waitNs) / 1e6, loopDelayMs, maxDelayMs: beyond(delay.max), p99DelayMs: beyond(delay.percentile(99)),
      });
    }
  } finally {
    await m.unmap({ sync: false });
  }
  return { ...rounds[rounds.length - 1], rounds };
}

/** Read one 32-bit word per 4 KiB page, front to back (a first touch of every page). Returns seconds. */
export function scanPages(buffer: ArrayBuffer): number {
  const words = new Int32Array(buffer);
  const t0 = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < words.length; i += 1024) sum = (sum + words[i]) | 0;
  const t1 = process.hrtime.bigint();
  if (sum === 0x7fffffff) console.log('');  // keep the loop observable
  return Number(t1 - t0) / 1e9;
}

export async function runUmapBench(log: (s: string) => void, opts: { server?: string } = {}): Promise<BenchResult[]> {
  const support = ummapSupport();
  if (!support.available) throw new Error(`userfaultfd unavailable: ${support.error}`);
  const results: BenchResult[] = [];
  try {
    log('ummap: filling a 1 GiB mem store...');
    fillStore();
    const bulk = best(() => gbps(GiB, testHooks().umapBenchBulkCopy(GiB, 2 * MiB)));
    log(`  bulk UFFDIO_COPY: ${bulk.toFixed(2)} GB/s`);
    results.push({ name: 'bulk UFFDIO_COPY, 2 MiB chunks (1 GiB)', value: bulk, unit: 'GB/s' });
    const kernel = tmpfsBaseline(log);
    results.push({ name: 'first touch, kernel mmap of a tmpfs file (1 GiB)', value: kernel, unit: 'GB/s' });
    for (const [label, seg] of [['4 KiB', 4096], ['64 KiB', 64 * 1024], ['1 MiB', MiB]] as const) {
      const r = firstTouch(seg);
      log(`  ${label} segments: ${r.gbps.toFixed(2)} GB/s, ${r.faults} faults`);
      results.push({ name: `first touch, ummap mem 1 GiB, ${label} segments (vs tmpfs mmap)`, value: r.gbps, unit: 'GB/s', baseline: kernel, ratio: r.gbps / kernel });
      if (seg === MiB) {
        results.push({ name: 'first touch, 1 MiB segments vs bulk UFFDIO_COPY (goal >= 0.75)', value: r.gbps, unit: 'GB/s', baseline: bulk, ratio: r.gbps / bulk });
      }
    }
    const modes: DirtyTrackingMode[] = support.wpAsync ? ['wp-async', 'wp-fault'] : ['wp-fault'];
    for (const mode of modes) {
      const s = syncCost(mode);
      results.push({ name: `sync() 1 GiB, all clean (${mode})`, value: s.clean, unit: 'ms' });
      for (const d of s.dirty) {
        log(`  sync ${mode}: ${d.percent}% dirty ${d.ms.toFixed(2)} ms (${(d.written / MiB).toFixed(1)} MiB written), clean ${s.clean.toFixed(2)} ms`);
        results.push({ name: `sync() 1 GiB, ${d.percent}% pages dirty (${mode}) vs clean`, value: d.ms, unit: 'ms', baseline: s.clean, ratio: d.ms / s.clean });
      }
    }
    if (opts.server) {
      // A restart reading its checkpoint: goal >= 0.7x the lower of the client's 1 MiB reads and bulk UFFDIO_COPY.
      for (const seg of [MiB, 8 * MiB]) {
        const client = clientReadGbps(opts.server);
        const rates: number[] = [];
        for (let i = 0; i < RUNS; i++) rates.push(await ummapIocFirstTouch(opts.server, GiB, seg));
        const rate = Math.max(...rates);
        const baseline = Math.min(client, bulk);
        log(`  ioc first touch, ${seg / MiB} MiB segments: ${rate.toFixed(2)} GB/s (client 1 MiB reads ${client.toFixed(2)} GB/s, bulk ${bulk.toFixed(2)} GB/s)`);
        results.push({ name: `first touch, ummap ioc 1 GiB, ${seg / MiB} MiB segments vs min(client 1 MiB reads, bulk) (goal >= 0.7)`, value: rate, unit: 'GB/s', baseline, ratio: rate / baseline });
      }
    }
    const size = 256 * MiB;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ummap-bench-'));
    try {
      const target = opts.server ? { uri: 'ioc://0x10d:1', name: 'ioc' } : { uri: `file://${path.join(dir, 'checkpoint')}`, name: 'file' };
      const c = await checkpointStall(target.uri, size, opts.server);
      log(`  async sync() of 256 MiB dirty (${target.name}): JS thread blocked ${c.blockedMs.toFixed(1)} ms (the call: ${c.callMs.toFixed(1)} ms; run-queue wait ${c.runQueueWaitMs.toFixed(1)} ms; event-loop delay ${c.loopDelayMs.toFixed(1)} ms) of a ${c.checkpointMs.toFixed(0)} ms checkpoint`);
      results.push({ name: `async sync() of 256 MiB all dirty (${target.name}): JS thread blocked vs checkpoint time`, value: c.blockedMs, unit: 'ms', baseline: c.checkpointMs, ratio: c.blockedMs / c.checkpointMs });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    dropMemStore(STORE);
  }
  return results;
}

function printTable(results: BenchResult[]): void {
  const rows = results.map((r) => [r.name, `${r.value.toFixed(2)} ${r.unit}`, r.baseline === undefined ? '' : `${r.baseline.toFixed(2)} ${r.unit}`, r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`]);
  const head = ['benchmark', 'value', 'baseline', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

if (require.main === module) {
  runUmapBench((s) => console.log(s)).then(printTable, (e) => {
    console.error(e);
    process.exit(1);
  });
}
