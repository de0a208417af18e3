// The original iocatcher's own benchmark shape: C client writes and reads at offsets cycling over
// a 64 MiB region of one object, so that every pass rewrites segments that are dirty or being
// drained, beside the same sizes written to fresh objects (a new object per write) and beside
// raw RMA of that size, measured in the same run; with 1, 2 and 4 client processes; and single
// 64 MiB rewrites of one object beside 64 MiB writes to fresh objects.
import { cClient, CResult, fabricBench, log, median, MiB, num, pairedRow, Server, withServer } from './common';

const REGION = 64 * MiB;
const GROUP = "rewrite (the original's benchmark shape)";

/** Bytes each measurement moves: enough passes over the region to rewrite it several times. */
const countFor = (size: number, quick: boolean) => Math.max(quick ? 8 : 16, Math.round((quick ? 256 : 768) * MiB / size));

/** n clients at once on server s, each on its own object (0x151:i+1), the same arguments. */
async function clients(s: Server, n: number, args: (i: number) => string[]): Promise<number> {
  const startAt = (Date.now() + 1500) * 1000;
  const results: CResult[] = (await Promise.all(
    Array.from({ length: n }, (_, i) => cClient(s.port, [...args(i), '--start-at', String(startAt)])),
  )).map((r) => r[0]);
  const start = Math.min(...results.map((r) => num(r, 'startEpochUs')));
  const end = Math.max(...results.map((r) => num(r, 'endEpochUs')));
  const bytes = results.reduce((sum, r) => sum + num(r, 'size') * num(r, 'count'), 0);
  return bytes / ((end - start) / 1e6) / 1e9;
}

export async function runRewrite(quick: boolean): Promise<void> {
  const reps = quick ? 1 : 3;
  const of = reps > 1 ? `; median of ${reps} fresh servers, ratio: median of the pairs` : '';
  for (const n of [1, 2, 4]) {
    for (const size of [1 * MiB, 8 * MiB, 16 * MiB]) {
      const label = `${size / MiB} MiB`;
      const count = Math.max(4, Math.round(countFor(size, quick) / n));
      const rewrite: number[] = [], fresh: number[] = [], read: number[] = [], rawRead: number[] = [], rawWrite: number[] = [];
      for (let i = 0; i < reps; i++) {
        log(`${GROUP}: ${n} client(s), ${label}: raw RMA, then rewrites, reads and fresh-object writes on a fresh server (${i + 1}/${reps})`);
        // A client write is the server's RMA read of the client's buffer; a client read its RMA write.
        rawRead.push((await fabricBench('read', size, count)).GBps);
        rawWrite.push((await fabricBench('write', size, count)).GBps);
        await withServer(async (s) => {
          const cycling = (mode: string) => (c: number) => ['--mode', mode, '--size', String(size), '--count', String(count),
            '--sweep', '--total', String(REGION), '--object', `0x151:${c + 1}`];
          // The first pass fills the region: every timed pass after it rewrites.
          await clients(s, n, (c) => ['--mode', 'write', '--size', String(size), '--count', String(REGION / size),
            '--sweep', '--total', String(REGION), '--object', `0x151:${c + 1}`]);
          rewrite.push(await clients(s, n, cycling('write')));
          read.push(await clients(s, n, cycling('read')));
          fresh.push(await clients(s, n, (c) => ['--mode', 'write', '--size', String(size), '--count', String(count),
            '--fresh', '--object', `0x${(0x160 + c).toString(16)}:1`]));
        });
      }
      const who = n === 1 ? 'one client' : `${n} clients (aggregate)`;
      pairedRow(GROUP, `${who}, ${label} rewrites cycling over 64 MiB of one object, vs fresh-object writes${of}`, rewrite, fresh, 'GB/s',
        `${label} writes to fresh objects, same server`, 0.95);
      pairedRow(GROUP, `${who}, ${label} rewrites cycling over 64 MiB of one object, vs raw RMA${of}`, rewrite, rawRead, 'GB/s',
        `raw RMA read ${label} (one pair of processes)`, 0.9);
      pairedRow(GROUP, `${who}, ${label} reads cycling over 64 MiB of one object, vs raw RMA${of}`, read, rawWrite, 'GB/s',
        `raw RMA write ${label} (one pair of processes)`, 0.9);
    }
  }
  // Single 64 MiB writes: each rewrites the whole region of one object, beside fresh objects.
  const rewrite64: number[] = [], fresh64: number[] = [];
  const count64 = quick ? 4 : 12;
  for (let i = 0; i < reps; i++) {
    log(`${GROUP}: single 64 MiB rewrites of one object, then 64 MiB writes to fresh objects (${i + 1}/${reps})`);
    await withServer(async (s) => {
      const one = async (extra: string[]) => median((await cClient(s.port, ['--mode', 'write', '--size', String(REGION), ...extra])).map((r) => num(r, 'GBps')));
      await one(['--count', '1', '--object', '0x170:1']);  // the object exists and is cached
      rewrite64.push(await one(['--count', String(count64), '--object', '0x170:1']));
      fresh64.push(await one(['--count', String(count64), '--fresh', '--object', '0x171:1']));
    });
  }
  pairedRow(GROUP, `single 64 MiB rewrites of one object, vs 64 MiB writes to fresh objects${of}`, rewrite64, fresh64, 'GB/s',
    '64 MiB writes to fresh objects, same server', 0.9);
}
