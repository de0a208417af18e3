// Cold rows of issue 12 ("Checkpoints at network speed"): every measurement starts a fresh
// server (new process, empty store directory) and writes objects it never saw.
//   - a 1 GiB checkpoint with the C client (8 MiB writes at increasing offsets, then a flush):
//     absorb rate beside raw RMA read (the server pulls a client's write), drain rate (until the
//     flush returned: the data is in the store directory) beside dd in that directory;
//   - the same 1 GiB through ummap: fill (first touch), then flush() beside raw RMA read;
//   - single 64 MiB / 256 MiB writes (each to a fresh object) and reads of what they wrote.
import * as fs from 'fs';
import * as os from 'os';
import { ummap } from '../src';
import {
  cClient, cpuSeconds, CResult, fabricBench, FabricResult, GiB, infoRow, log, median, MiB, num, ratioRow, repetitions, run, Server,
  sizeLabel, withServer,
} from './common';

/**
 * Raw RMA baselines, measured once per run and shared by the groups that need them: the best of
 * a few runs (on a busy machine a slow run would flatter the ratios).
 */
const rawCache = new Map<string, FabricResult>();
export async function rawRma(mode: 'read' | 'write', size: number, quick: boolean): Promise<FabricResult> {
  const key = `${mode}:${size}`;
  if (!rawCache.has(key)) {
    // Enough operations for about half a second of transfer at ~3 GB/s (and at least 4).
    const count = Math.max(4, Math.round((quick ? 0.5e9 : 1.5e9) / size));
    const runs = quick ? 2 : 3;
    log(`raw RMA ${mode} of ${sizeLabel(size)}: best of ${runs} runs of ${count} (iocatcher-fabric-bench)`);
    let best: FabricResult | undefined;
    for (let i = 0; i < runs; i++) {
      const r = await fabricBench(mode, size, count);
      if (!best || r.GBps > best.GBps) best = r;
    }
    rawCache.set(key, best!);
  }
  return rawCache.get(key)!;
}

/** How rows name the raw RMA baseline. */
export const rawName = (mode: 'read' | 'write', size: number, quick: boolean) => `raw RMA ${mode} ${sizeLabel(size)}, best of ${quick ? 2 : 3}`;

/** The C client's checkpoint (8 MiB writes at increasing offsets of a new object, then a flush). */
export async function cCheckpoint(server: Server, total: number, object: string): Promise<CResult> {
  await run('sync');  // nothing of an earlier row is left to write back
  const [r] = await cClient(server.port, ['--mode', 'checkpoint', '--total', String(total), '--size', String(8 * MiB), '--object', object]);
  return r;
}

/** dd of `total` bytes in 8 MiB blocks into dir, with fdatasync (and `extra`, e.g. oflag=direct): GB/s. */
export async function ddRate(dir: string, total: number, extra: string[] = []): Promise<number> {
  const file = `${dir}/ddtest`;
  await run('sync');
  try {
    const t0 = process.hrtime.bigint();
    const { stderr } = await run('dd', ['if=/dev/zero', `of=${file}`, 'bs=8M', `count=${total / (8 * MiB)}`, 'conv=fdatasync', ...extra], { timeout: 300000 });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    // "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 1.2 s, 893 MB/s": dd's own time when printed
    const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(stderr);
    return m ? Number(m[1]) / Number(m[2]) / 1e9 : total / secs / 1e9;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

export async function runCold(quick: boolean): Promise<{ checkpointAbsorbGBps?: number }> {
  const total = quick ? 256 * MiB : GiB;
  const tl = sizeLabel(total);
  const group = `cold ${tl} checkpoint`;
  const raw8 = await rawRma('read', 8 * MiB, quick);

  // 1a + 3: C client, then dd in the same store directory; a fresh server for each repetition.
  const reps = repetitions(quick);
  const of = reps > 1 ? `, median of ${reps} fresh servers` : '';
  const absorb: number[] = [], drain: number[] = [], dd: number[] = [], ddDirect: number[] = [];
  for (let i = 0; i < reps; i++) {
    log(`${group}: C client, fresh server, then dd in its store directory (${i + 1}/${reps})`);
    await withServer(async (s) => {
      const cc = await cCheckpoint(s, total, '0x12c:1');
      absorb.push(num(cc, 'absorbGBps'));
      drain.push(total / num(cc, 'seconds') / 1e9);
      dd.push(await ddRate(s.store, total));
      // The store writes large aligned ranges with O_DIRECT: the same dd bypassing the page cache.
      ddDirect.push(await ddRate(s.store, total, ['oflag=direct']));
    });
  }
  ratioRow(group, `C client, 8 MiB writes at increasing offsets: absorbed (all acknowledged${of})`, median(absorb), 'GB/s',
    rawName('read', 8 * MiB, quick), raw8.GBps, true, 0.8);
  ratioRow(group, `C client: drain (until ioc_client_obj_flush returned: in the store${of})`, median(drain), 'GB/s',
    `dd bs=8M conv=fdatasync, ${tl} in the store directory`, median(dd), true, 0.7);
  infoRow(group, `dd bs=8M oflag=direct conv=fdatasync, ${tl} in the store directory (the store writes large ranges with O_DIRECT${of})`,
    median(ddDirect), 'GB/s');

  // 1b: ummap: first-touch fill, then flush() (write-back without the store's durability step).
  const fill: number[] = [], flush: number[] = [], flushCall: number[] = [], flushCpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    log(`${group}: ummap fill + flush(), fresh server (${i + 1}/${reps})`);
    await withServer(async (s) => {
      const m = ummap(0x12c, 2, total, { server: `127.0.0.1:${s.port}`, segmentSize: '8MB', noFirstRead: true });
      try {
        const words = new Float64Array(m.buffer);
        const t0 = process.hrtime.bigint();
        for (let j = 0; j < words.length; j++) words[j] = j;
        const cpu0 = cpuSeconds(process.pid) + cpuSeconds(s.pid);
        const t1 = process.hrtime.bigint();
        const flushed = m.flush();
        const tCall = process.hrtime.bigint();
        await flushed;
        const t2 = process.hrtime.bigint();
        flushCpus.push((cpuSeconds(process.pid) + cpuSeconds(s.pid) - cpu0) / (Number(t2 - t1) / 1e9));
        fill.push(Number(t1 - t0) / 1e9);
        flushCall.push(Number(tCall - t1) / 1e6);
        flush.push(total / (Number(t2 - t1) / 1e9) / 1e9);
      } finally {
        await m.unmap({ sync: false });
      }
    });
  }
  ratioRow(group, `ummap, 8 MiB segments: await flush() (to the server, no store durability${of})`, median(flush), 'GB/s',
    rawName('read', 8 * MiB, quick), raw8.GBps, true, 0.7);
  infoRow(group, `ummap: first-touch fill of the new mapping (before flush(), not in its figure${of})`, median(fill), 's');
  infoRow(group, `ummap: synchronous part of the flush() call (the copy of the dirty pages; in the flush figure${of})`, median(flushCall), 'ms');
  infoRow(group, `ummap flush(): CPUs kept busy by this process and the server (of ${os.cpus().length}; the copy, the send and the receive${of})`, median(flushCpus), 'CPUs');

  // 2: single large writes, each to a fresh object, and reads of what they wrote (server-cached).
  for (const size of [64 * MiB, 256 * MiB]) {
    const count = size === 64 * MiB ? (quick ? 3 : 7) : (quick ? 3 : 5);
    const sl = sizeLabel(size);
    const g = `cold single ${sl}`;
    const rawR = await rawRma('read', size, quick);
    const rawW = await rawRma('write', size, quick);
    log(`${g}: ${count} writes to fresh objects, then reads of them, fresh server`);
    const { w, r } = await withServer(async (s) => {
      const base = ['--size', String(size), '--count', String(count), '--fresh', '--object', '0x12d:1'];
      const [w] = await cClient(s.port, ['--mode', 'write', ...base]);
      const [r] = await cClient(s.port, ['--mode', 'read', ...base]);
      return { w, r };
    });
    ratioRow(g, `C client write, each to a fresh object (median of ${count})`, num(w, 'medianGBps'), 'GB/s', rawName('read', size, quick), rawR.GBps, true, 0.8);
    ratioRow(g, `C client read of those objects (server-cached; median of ${count})`, num(r, 'medianGBps'), 'GB/s',
      rawName('write', size, quick), rawW.GBps, true, 0.8);
  }
  return { checkpointAbsorbGBps: median(absorb) };
}
