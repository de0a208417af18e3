// Issue 12, several clients: 4 iocatcher-client-bench processes at once, each writing its own
// object at increasing offsets, beside one client alone, in the same run; and the server's CPU
// time per GB moved (/proc/PID/stat utime + stime). Each measurement has a fresh server, so that
// none shares the server with an earlier one's write-behind; one client and four alternate.
import { cClient, CResult, cpuSeconds, infoRow, log, median, MiB, num, pairedRow, withServer } from './common';

const CLIENTS = 4;

interface Together { bytes: number; ops: number; seconds: number; cpu: number }

/**
 * n clients at once, fresh server: each connects, then all start their timed writes at one
 * wall-clock time (--start-at); the aggregate is over the span from that start (or the first
 * client's, if one was late) to the last client's end.
 */
async function together(n: number, size: number, count: number): Promise<Together> {
  return withServer(async (s) => {
    const cpu0 = cpuSeconds(s.pid);
    const startAt = (Date.now() + 1500) * 1000;  // time for n processes to start and connect
    const args = (i: number) => ['--mode', 'write', '--size', String(size), '--count', String(count), '--sweep', '--total', String(size * count),
      '--object', `0x131:${i + 1}`, '--start-at', String(startAt)];
    const results: CResult[] = (await Promise.all(Array.from({ length: n }, (_, i) => cClient(s.port, args(i))))).map((r) => r[0]);
    const cpu = cpuSeconds(s.pid) - cpu0;  // connections and the writes (nothing else runs on it)
    const start = Math.min(...results.map((r) => num(r, 'startEpochUs')));
    const end = Math.max(...results.map((r) => num(r, 'endEpochUs')));
    return { bytes: n * count * size, ops: n * count, seconds: (end - start) / 1e6, cpu };
  });
}

export async function runClients(quick: boolean): Promise<void> {
  // Five pairs: one client's 240 MiB takes 0.1 s, the noisiest figure of the bench.
  const reps = quick ? 1 : 5;
  for (const size of [8 * MiB, 4096]) {
    const big = size === 8 * MiB;
    // At most 1 GiB in all: what a fresh server prefaults by default (--prefault).
    const count = big ? (quick ? 24 : 30) : (quick ? 5000 : 20000);
    const label = big ? '8 MiB' : '4 KiB';
    const group = `${CLIENTS} clients, ${label} writes`;
    // Pairs: one client alone, then all of them (one client's run is a fraction of a second:
    // alone it would be the noisiest figure of the bench).
    const one: Together[] = [], all: Together[] = [];
    for (let i = 0; i < reps; i++) {
      log(`${group}: one client alone, then ${CLIENTS} at once (each a fresh server; own objects, increasing offsets, ${count} writes each) (${i + 1}/${reps})`);
      one.push(await together(1, size, count));
      all.push(await together(CLIENTS, size, count));
    }
    const rate = (t: Together) => (big ? t.bytes / t.seconds / 1e9 : t.ops / t.seconds);
    const of = reps > 1 ? `; median of ${reps}, ratio: median of the pairs` : '';
    pairedRow(group, `aggregate of ${CLIENTS} processes (common start to last end${of})`, all.map(rate), one.map(rate), big ? 'GB/s' : 'ops/s',
      `one client alone, just before each`, 1.0);
    const perGB = (t: Together) => t.cpu / (t.bytes / 1e9);
    infoRow(group, `server CPU per GB written, one client${reps > 1 ? ` (median of ${reps})` : ''}`, median(one.map(perGB)), 's/GB');
    infoRow(group, `server CPU per GB written, ${CLIENTS} clients${reps > 1 ? ` (median of ${reps})` : ''}`, median(all.map(perGB)), 's/GB');
  }
}
