// Issue 12, what an application sees, each on a fresh server:
//   - the stall of an asynchronous 1 GiB ummap checkpoint (await m.sync() of an all-dirty
//     mapping): time the JS thread was blocked (the call, then its own CPU time until the promise
//     settled) beside the checkpoint's time, with its run-queue wait and the event-loop delay;
//   - ummap first touch of a 1 GiB object the server holds (1 MiB segments, one word read per
//     page) beside the lower of the C client's 1 MiB read rate and bulk UFFDIO_COPY;
//   - examples/heat2d.ts, 300 steps with a checkpoint every 50 beside the same without any.
import { execFile } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { ummap } from '../src';
import { testHooks } from '../src/native';
import {
  cClient, costRow, cpuSeconds, GiB, infoRow, log, median, MiB, num, pairedRepetitions, pairedRow, repetitions, sizeLabel, withServer,
} from './common';
import { cCheckpoint } from './cold';
import { checkpointStall, scanPages, StallRound } from './ummap';

const execFileP = promisify(execFile);

export async function runStall(quick: boolean): Promise<void> {
  const size = quick ? 256 * MiB : GiB;
  const group = `stall: async ${sizeLabel(size)} ummap checkpoint`;
  const reps = repetitions(quick);
  const of = reps > 1 ? `; median of ${reps} fresh servers` : '';
  const runs: Array<{ rounds: StallRound[] }> = [];
  for (let i = 0; i < reps; i++) {
    log(`${group}: fresh server (${i + 1}/${reps})`);
    runs.push(await withServer((s) => checkpointStall('ioc://0x12e:1', size, `127.0.0.1:${s.port}`)));
  }
  const m = (round: number, key: keyof StallRound) => median(runs.map((r) => r.rounds[round][key]));
  for (const [round, label] of [[0, 'first checkpoint, new object'], [1, 'second sync() of the mapping, warm object']] as const) {
    costRow(group, `JS thread blocked during await m.sync() (${label}${of}): the call + its CPU time until settled`, m(round, 'blockedMs'), 'ms',
      'sync() time (written back, durable)', m(round, 'checkpointMs'), 0.2);
    infoRow(group, `${label}: synchronous part of the sync() call (dirty-page scan, dirty pages moved out)`, m(round, 'callMs'), 'ms');
    infoRow(group, `${label}: JS thread runnable but waiting for a CPU (run-queue wait; write-back threads and the server share 2 CPUs)`, m(round, 'runQueueWaitMs'), 'ms');
    infoRow(group, `${label}: event-loop delay, total beyond the 1 ms monitor period and an idle loop's own overshoot`, m(round, 'loopDelayMs'), 'ms');
    infoRow(group, `${label}: event-loop delay max (beyond the 1 ms period)`, m(round, 'maxDelayMs'), 'ms');
    infoRow(group, `${label}: event-loop delay p99 (beyond the 1 ms period)`, m(round, 'p99DelayMs'), 'ms');
  }
}

export async function runFirstTouch(quick: boolean): Promise<void> {
  const size = quick ? 256 * MiB : GiB;
  const group = `first touch over ioc (${sizeLabel(size)})`;
  log(`${group}: bulk UFFDIO_COPY, 1 MiB chunks`);
  let bulk = 0;
  for (let i = 0; i < 2; i++) bulk = Math.max(bulk, size / testHooks().umapBenchBulkCopy(size, MiB) / 1e9);
  // Like the other cold rows: on several fresh servers, each first touch paired with the C
  // client's reads on the same server just before (one sample moved by 30% here).
  const reps = pairedRepetitions(quick);
  const of = reps > 1 ? `, median of ${reps} fresh servers` : '';
  const runs: Array<{ cRead: number; touch: number; cpus: number }> = [];
  for (let i = 0; i < reps; i++) {
    log(`${group}: fresh server: object written by the C client, C client 1 MiB reads of it, ummap first touch (${i + 1}/${reps})`);
    runs.push(await withServer(async (s) => {
      await cCheckpoint(s, size, '0x12f:1');
      const [r] = await cClient(s.port, ['--mode', 'read', '--size', String(MiB), '--count', String(size / MiB), '--sweep', '--total', String(size), '--object', '0x12f:1']);
      const m = ummap(0x12f, 1, size, { server: `127.0.0.1:${s.port}`, segmentSize: '1MB' });
      try {
        const cpu0 = cpuSeconds(process.pid) + cpuSeconds(s.pid);
        const seconds = scanPages(m.buffer);
        return { cRead: num(r, 'GBps'), touch: size / seconds / 1e9, cpus: (cpuSeconds(process.pid) + cpuSeconds(s.pid) - cpu0) / seconds };
      } finally {
        await m.unmap({ sync: false });
      }
    }));
  }
  const cRead = median(runs.map((r) => r.cRead));
  infoRow(group, 'bulk UFFDIO_COPY, 1 MiB chunks (best of 2)', bulk, 'GB/s');
  infoRow(group, `C client 1 MiB reads across the object (server-cached${of})`, cRead, 'GB/s');
  infoRow(group, `ummap first touch: CPUs kept busy by this process and the server (of ${os.cpus().length}; the send, the receive and UFFDIO_COPY${of})`,
    median(runs.map((r) => r.cpus)), 'CPUs');
  // Each pair: the first touch beside the lower of the bulk copy and that server's C-client reads.
  pairedRow(group, `ummap, 1 MiB segments, one word read per page (object in the server cache${of})`, runs.map((r) => r.touch),
    runs.map((r) => Math.min(bulk, r.cRead)), 'GB/s',
    `lower of bulk UFFDIO_COPY and the C client's 1 MiB reads on the same server just before${reps > 1 ? '; ratio: median of the pairs' : ''}`, 0.7);

}

/** heat2d's own "N s total" (mapping, steps, checkpoints, unmap). */
async function heat2d(port: number, object: string, steps: number, every: number): Promise<number> {
  const script = path.join(__dirname, '..', 'examples', 'heat2d.js');
  const { stdout } = await execFileP(process.execPath, [script, '--server', `127.0.0.1:${port}`, '--object', object, '--steps', String(steps),
    '--checkpoint-every', String(every), '--quiet'], { timeout: 600000 });
  const m = /([\d.]+) s total/.exec(stdout);
  if (!m) throw new Error(`heat2d printed no total: ${stdout}`);
  return Number(m[1]);
}

export async function runHeat2d(quick: boolean): Promise<void> {
  const steps = 300;
  const group = `heat2d ${steps} steps`;
  const reps = repetitions(quick);
  const without: number[] = [], withCk: number[] = [];
  for (let i = 0; i < reps; i++) {
    log(`${group}: without checkpoints, then with one every 50 steps (each a fresh server and object) (${i + 1}/${reps})`);
    without.push(await withServer((s) => heat2d(s.port, `0x130:${2 * i + 1}`, steps, 0)));
    withCk.push(await withServer((s) => heat2d(s.port, `0x130:${2 * i + 2}`, steps, 50)));
  }
  const of = reps > 1 ? ` (median of ${reps})` : '';
  costRow(group, `total time, checkpoint (sync) every 50 steps${of}`, median(withCk), 's', `no checkpoints (--checkpoint-every 0)${of}`, median(without), 1.25);
}
