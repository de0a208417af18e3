// Cold rows of issue 12 ("Checkpoints at network speed"): every measurement starts a fresh
// server (new process, empty store directory) and writes objects it never saw.
//   - a 1 GiB checkpoint with the C client (8 MiB writes at increasing offsets, then a flush):
//     absorb rate beside raw RMA read (the server pulls a client's write), drain rate (until the
//     flush returned: the data is in the store directory) beside dd in that directory;
//   - the same 1 GiB through ummap: fill (first touch), then flush() beside raw RMA read;
//   - single 64 MiB / 256 MiB writes (each to a fresh object) and reads of what they wrote.
// Each repetition has its raw RMA baseline measured just before it (pairedRow in common.ts).
import * as fs from 'fs';
import * as os from 'os';
import { ummap } from '../src';
import {
  cClient, cpuSeconds, CResult, fabricBench, GiB, infoRow, log, median, MiB, num, pairedRepetitions, pairedRow, repetitions, run, Server,
  sizeLabel, withServer,
} from './common';

/**
 * One raw RMA measurement (iocatcher-fabric-bench), taken just before each repetition of the row
 * it is the baseline of (pairedRow): about half a second of transfer at ~3 GB/s, at least 4 ops.
 */
export async function rawRma(mode: 'read' | 'write', size: number, quick: boolean): Promise<number> {
  const count = Math.max(4, Math.round((quick ? 0.5e9 : 1.5e9) / size));
  return (await fabricBench(mode, size, count)).GBps;
}

/** How rows name the raw RMA baseline. */
export const rawName = (mode: 'read' | 'write', size: number, reps: number) =>
  `raw RMA ${mode} ${sizeLabel(size)}${reps > 1 ? `, measured just before each of the ${reps} repetitions; ratio: median of the pairs` : ''}`;

/** A cold 1 GiB ummap checkpoint on a fresh server: first-touch fill, then await flush(). */
async function ummapFlush(total: number): Promise<{ GBps: number; callMs: number; fillS: number; cpus: number }> {
  return withServer(async (s) => {
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
      return {
        GBps: total / (Number(t2 - t1) / 1e9) / 1e9,
        callMs: Number(tCall - t1) / 1e6,
        fillS: Number(t1 - t0) / 1e9,
        cpus: (cpuSeconds(process.pid) + cpuSeconds(s.pid) - cpu0) / (Number(t2 - t1) / 1e9),
      };
    } finally {
      await m.unmap({ sync: false });
    }
  });
}

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

export async function runCold(quick: boolean): Promise<void> {
  const total = quick ? 256 * MiB : GiB;
  const tl = sizeLabel(total);
  const group = `cold ${tl} checkpoint`;

  // 1a + 3: C client, then dd in the same store directory; a fresh server for each repetition,
  // the raw RMA read (what the server does for a client's write) just before it.
  const reps = pairedRepetitions(quick);
  const of = reps > 1 ? `, median of ${reps} fresh servers` : '';
  const raw8: number[] = [], absorb: number[] = [], drain: number[] = [], dd: number[] = [], ddDirect: number[] = [];
  for (let i = 0; i < reps; i++) {
    log(`${group}: raw RMA read 8 MiB, then the C client on a fresh server, then dd in its store directory (${i + 1}/${reps})`);
    raw8.push(await rawRma('read', 8 * MiB, quick));
    await withServer(async (s) => {
      const cc = await cCheckpoint(s, total, '0x12c:1');
      absorb.push(num(cc, 'absorbGBps'));
      drain.push(total / num(cc, 'seconds') / 1e9);
      dd.push(await ddRate(s.store, total));
      // The store writes large aligned ranges with O_DIRECT: the same dd bypassing the page cache.
      ddDirect.push(await ddRate(s.store, total, ['oflag=direct']));
    });
  }
  pairedRow(group, `C client, 8 MiB writes at increasing offsets: absorbed (all acknowledged${of})`, absorb, raw8, 'GB/s',
    rawName('read', 8 * MiB, reps), 0.8);
  pairedRow(group, `C client: drain (until ioc_client_obj_flush returned: in the store${of})`, drain, dd, 'GB/s',
    `dd bs=8M conv=fdatasync, ${tl} in the store directory after each`, 0.7);
  infoRow(group, `dd bs=8M oflag=direct conv=fdatasync, ${tl} in the store directory (the store writes large ranges with O_DIRECT${of})`,
    median(ddDirect), 'GB/s');

  // 1b: ummap: first-touch fill, then flush() (write-back without the store's durability step).
  // The first 3 repetitions also flush with the snapshot copied (UMMAP_SNAPSHOT=copy, as before
  // the dirty pages were moved), on a fresh server of its own, beside the same raw run.
  const rawFlush: number[] = [], fill: number[] = [], flush: number[] = [], flushCall: number[] = [], flushCpus: number[] = [];
  const copied = { flush: [] as number[], call: [] as number[], raw: [] as number[] };
  const copiedReps = Math.min(3, reps);
  for (let i = 0; i < reps; i++) {
    log(`${group}: raw RMA read 8 MiB, then ummap fill + flush() on a fresh server${i < copiedReps ? ', and again with the snapshot copied' : ''} (${i + 1}/${reps})`);
    rawFlush.push(await rawRma('read', 8 * MiB, quick));
    const one = await ummapFlush(total);
    flush.push(one.GBps);
    flushCall.push(one.callMs);
    fill.push(one.fillS);
    flushCpus.push(one.cpus);
    if (i < copiedReps) {
      process.env.UMMAP_SNAPSHOT = 'copy';
      try {
        const c = await ummapFlush(total);
        copied.flush.push(c.GBps);
        copied.call.push(c.callMs);
        copied.raw.push(rawFlush[i]);
      } finally {
        delete process.env.UMMAP_SNAPSHOT;
      }
    }
  }
  pairedRow(group, `ummap, 8 MiB segments: await flush() (to the server, no store durability${of})`, flush, rawFlush, 'GB/s',
    rawName('read', 8 * MiB, reps), 0.7);
  infoRow(group, `ummap: first-touch fill of the new mapping (before flush(), not in its figure${of})`, median(fill), 's');
  infoRow(group, `ummap: synchronous part of the flush() call (dirty-page scan, the dirty pages moved out by mremap; in the flush figure${of})`, median(flushCall), 'ms');
  infoRow(group, `ummap flush(): CPUs kept busy by this process and the server (of ${os.cpus().length}; the send and the receive${of})`, median(flushCpus), 'CPUs');
  pairedRow(group, `ummap flush() with the snapshot copied instead (UMMAP_SNAPSHOT=copy: the way before, for comparison; median of ${copiedReps} fresh servers)`,
    copied.flush, copied.raw, 'GB/s', rawName('read', 8 * MiB, copiedReps));
  infoRow(group, `ummap flush() with the snapshot copied: synchronous part of the call (dirty-page scan and copy; median of ${copiedReps})`, median(copied.call), 'ms');

  // 2: single large writes, each to a fresh object, and reads of what they wrote (server-cached);
  // per fresh server: raw RMA read, the writes, raw RMA write, the reads.
  const singleReps = repetitions(quick);
  for (const size of [64 * MiB, 256 * MiB]) {
    const count = size === 64 * MiB ? (quick ? 3 : 7) : (quick ? 3 : 5);
    const sl = sizeLabel(size);
    const g = `cold single ${sl}`;
    const rawR: number[] = [], rawW: number[] = [], w: number[] = [], r: number[] = [];
    for (let i = 0; i < singleReps; i++) {
      log(`${g}: fresh server: raw RMA read, ${count} writes to fresh objects, raw RMA write, reads of them (${i + 1}/${singleReps})`);
      await withServer(async (s) => {
        const base = ['--size', String(size), '--count', String(count), '--fresh', '--object', `0x12d:${1 + i * count}`];
        rawR.push(await rawRma('read', size, quick));
        w.push(num((await cClient(s.port, ['--mode', 'write', ...base]))[0], 'medianGBps'));
        rawW.push(await rawRma('write', size, quick));
        r.push(num((await cClient(s.port, ['--mode', 'read', ...base]))[0], 'medianGBps'));
      });
    }
    const each = `median of ${count} per server${singleReps > 1 ? `, median of ${singleReps} fresh servers` : ''}`;
    pairedRow(g, `C client write, each to a fresh object (${each})`, w, rawR, 'GB/s', rawName('read', size, singleReps), 0.8);
    pairedRow(g, `C client read of those objects (server-cached; ${each})`, r, rawW, 'GB/s', rawName('write', size, singleReps), 0.8);
  }
}
