// Issue 23, checkpoint sets: a 1 GiB protected region with 1% of its pages written between
// checkpoints against a full checkpoint of it (every page written) in the same run, on a fresh
// server; the bytes sent beside the dirty bytes; the JS thread's blocked share of each
// checkpoint; and the event loop while ummap.open waits on a server that does not answer.
import * as net from 'net';
import { performance } from 'perf_hooks';
import { openCheckpoints, ummap } from '../src';
import { costRow, GiB, infoRow, log, median, MiB, nextPort, repetitions, sizeLabel, withServer } from './common';

const PAGE = 4096;

/** The longest gap between ticks of a 1 ms timer while fn runs (the event loop's worst delay). */
async function loopDelayDuring<T>(fn: () => Promise<T>): Promise<{ maxDelayMs: number; result: T }> {
  let last = performance.now();
  let maxDelayMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxDelayMs = Math.max(maxDelayMs, now - last - 1);
    last = now;
  }, 1);
  try {
    const result = await fn();
    const now = performance.now();
    maxDelayMs = Math.max(maxDelayMs, now - last - 1);
    return { maxDelayMs, result };
  } finally {
    clearInterval(timer);
  }
}

/** The rows of one server configuration: a full checkpoint, then 1% checkpoints. */
async function checkpointRows(quick: boolean, size: number, group: string, serverArgs: string[]): Promise<void> {
  await withServer(async (s) => {
    const ck = await openCheckpoints('bench', { server: `127.0.0.1:${s.port}`, keep: 2 });
    try {
      const mem = new Uint8Array((await ck.protect('state', size)).buffer);
      const pages = size / PAGE;
      mem.fill(1);
      log(`${group}: full checkpoint (every page written)`);
      const full = await ck.checkpoint(1);
      await ck.idle();
      const reps = repetitions(quick) + 2;
      const durations: number[] = [], blocked: number[] = [], sent: number[] = [], dirty: number[] = [], staging: number[] = [], delays: number[] = [];
      for (let i = 0; i < reps; i++) {
        // 1% of the pages, scattered.
        const chosen = new Set<number>();
        while (chosen.size < Math.round(pages / 100)) chosen.add(Math.floor(Math.random() * pages));
        for (const p of chosen) mem[p * PAGE + (i % PAGE)] = (i + 2) & 0xff;
        const { maxDelayMs, result } = await loopDelayDuring(() => ck.checkpoint(2 + i));
        durations.push(result.durationMs);
        blocked.push(result.blockedMs);
        sent.push(result.bytesSent);
        dirty.push(chosen.size * PAGE);
        delays.push(maxDelayMs);
        // The server-side copy the next checkpoint builds on runs here, while an application would compute.
        const t0 = performance.now();
        await ck.idle();
        staging.push(performance.now() - t0);
        log(`${group}: 1% checkpoint ${i + 1}/${reps}: ${result.durationMs.toFixed(1)} ms, blocked ${result.blockedMs.toFixed(2)} ms, ` +
          `event loop max delay ${maxDelayMs.toFixed(1)} ms, sent ${(result.bytesSent / MiB).toFixed(2)} MiB, then staging ${staging[i].toFixed(0)} ms`);
      }
      costRow(group, `1% of the pages written: checkpoint time (median of ${reps})`, median(durations), 'ms',
        'full checkpoint, every page written', full.durationMs, 0.05);
      infoRow(group, `1% checkpoint: network bytes sent (dirty bytes ${(median(dirty) / MiB).toFixed(2)} MiB)`, median(sent) / MiB, 'MiB');
      costRow(group, '1% checkpoint: JS thread blocked (the snapshot)', median(blocked), 'ms', 'the checkpoint\'s duration', median(durations), 0.2);
      infoRow(group, '1% checkpoint: event-loop max delay during it', median(delays), 'ms');
      infoRow(group, 'server-side copy of the version between checkpoints (not on the checkpoint\'s path)', median(staging), 'ms');
    } finally {
      await ck.close();
    }
  }, { args: () => ['--cache-size', quick ? '1GB' : '3GB', ...serverArgs] });
}

export async function runCheckpointSets(quick: boolean): Promise<void> {
  const size = quick ? 256 * MiB : GiB;
  await checkpointRows(quick, size, `checkpoint set, ${sizeLabel(size)} region`, []);
  // A version made by the server-side copy is in the store only: the default 8 MiB segments take
  // its page writes straight to the store (write-through); page-sized segments load nothing
  // either, which shows the cost of the client's side alone.
  await checkpointRows(quick, size, `checkpoint set, ${sizeLabel(size)} region, server --segment-size 4KB`, ['--segment-size', '4KB']);

  // A server that accepts connections and never answers: the handshake waits for its timeout.
  const port = nextPort();
  const silent: net.Socket[] = [];
  const servers = [port, port + 1].map((p) => net.createServer((sock) => { silent.push(sock); }).listen(p, '127.0.0.1'));
  await Promise.all(servers.map((srv) => new Promise((r) => srv.once('listening', r))));
  try {
    const opts = { server: `127.0.0.1:${port}` };
    log('ummap.open against a server that does not answer (waits for the client\'s connect timeout)');
    const open = await loopDelayDuring(() => ummap.open(1n, 2n, '1MB', opts).then(() => 'mapped', (e: Error & { code?: string }) => e.code ?? 'error'));
    const t0 = performance.now();
    let how = 'mapped';
    try {
      ummap(1n, 2n, '1MB', opts);
    } catch (e) {
      how = (e as { code?: string }).code ?? 'error';
    }
    const syncMs = performance.now() - t0;
    log(`ummap.open ended with ${open.result}, ummap() with ${how} after blocking ${syncMs.toFixed(0)} ms`);
    costRow('ummap.open', 'event-loop max delay while ummap.open waits on a server that does not answer', open.maxDelayMs, 'ms',
      `the 20 ms target (ummap() blocked the loop ${syncMs.toFixed(0)} ms on the same server)`, 20, 1);
  } finally {
    for (const sock of silent) sock.destroy();
    for (const srv of servers) srv.close();
  }
}
