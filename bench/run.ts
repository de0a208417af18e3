// npm run bench: our figures beside baselines measured the same way, in the same run, on this
// machine. Prints a table with ratios, writes bench/results/latest.json, latest.svg and
// bench/README.md.
//   node dist/bench/run.js [--quick] [--skip-GROUP ...]   (see --help)
// The warm rows (one long-running server, objects rewritten in place) are here; issue 12's cold
// rows, each on a fresh server, are in cold.ts, app.ts, clients.ts and nvdimm.ts.
import { spawn } from 'child_process';
import * as path from 'path';
import { IocClient, ummap } from '../src';
import { packageRoot } from '../src/native';
import { runFirstTouch, runHeat2d, runStall } from './app';
import { runCheckpointSets } from './checkpoints';
import { runClients } from './clients';
import { runRewrite } from './rewrite';
import { runNamespace } from './namespace';
import { runCold } from './cold';
import {
  cClient, costRow, elapsedSeconds, fabricBench, infoRow, log, median, nextPort, prefaultWaits, provider, ratioRow, rows, run,
  serverPrefaults, startServer, track,
} from './common';
import { runNvdimm } from './nvdimm';
import { QUICK, SKIPS } from './options';
import { machineDescription, table } from './report';
import { runUmapBench } from './ummap';
import { writeResults } from './write-results';

const args = new Set(process.argv.slice(2));
const known = new Set(['--quick', '--help', '-h', ...SKIPS.map(([k]) => k)]);
if (args.has('--help') || args.has('-h')) {
  console.log(`Usage: npm run bench [-- OPTIONS]   (or node dist/bench/run.js [OPTIONS])

Measures iocatcher beside baselines taken in the same run on this machine (fi_pingpong, raw
libfabric RMA, dd, the kernel's mmap, bulk UFFDIO_COPY, one client alone, heat2d without
checkpoints), prints the table with ratios, and writes bench/results/latest.json,
latest.svg and bench/README.md. Rows marked (warm) rewrite one object already in the server's
cache; the cold rows each start a fresh server (new process, empty store) and write new objects.
About 4.5 minutes on 2 cores; --quick about 2.

  --quick             ${QUICK}
${SKIPS.map(([k, v]) => `  ${k.padEnd(19)} leave out ${v}`).join('\n')}
  FI_PROVIDER         libfabric provider (default tcp;ofi_rxm)`);
  process.exit(0);
}
for (const a of args) {
  if (!known.has(a)) {
    process.stderr.write(`bench: unknown option ${a} (see --help)\n`);
    process.exit(2);
  }
}
const quick = args.has('--quick');
const skip = (group: string) => args.has(`--skip-${group}`);

/** Raw round trip with Debian's fi_pingpong (busy-polling both sides); microseconds per round trip. */
async function fiPingpong(size: number, iterations: number): Promise<number | undefined> {
  const port = nextPort();
  const common = ['-p', provider, '-e', 'rdm', '-S', String(size), '-I', String(iterations)];
  const server = track(spawn('fi_pingpong', [...common, '-B', String(port)], { stdio: 'ignore' }));
  await new Promise((r) => setTimeout(r, 400));
  try {
    const { stdout } = await run('fi_pingpong', [...common, '-P', String(port), '127.0.0.1'], { timeout: 60000 });
    const line = stdout.split('\n').find((l) => /^\d+\w?\s+\d/.test(l.trim()));
    if (!line) return undefined;
    const cols = line.trim().split(/\s+/);
    return 2 * Number(cols[6]); // usec/xfer counts each direction
  } catch (e) {
    log(`fi_pingpong failed: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  } finally {
    server.kill('SIGKILL');
  }
}

async function tsOps(fn: () => Promise<unknown>, seconds: number): Promise<number> {
  for (let i = 0; i < 50; i++) await fn();
  const start = process.hrtime.bigint();
  let n = 0;
  while (Number(process.hrtime.bigint() - start) / 1e9 < seconds) {
    await fn();
    n++;
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function warmRows(port: number): Promise<void> {
  const n = quick ? 2000 : 10000;
  // --- small messages: round trips and 4 KiB ops/s (each op rewrites/rereads offset 0 of one object) ---
  log('raw round trips (fi_pingpong, iocatcher-fabric-bench)');
  const fiRtt4k = await fiPingpong(4096, n);
  const raw4k = await fabricBench('pingpong', 4096, n);
  const rawRtt8 = await fabricBench('pingpong', 8, n);
  log('C client: ping and 4 KiB read/write');
  const [cPing] = await cClient(port, ['--mode', 'ping', '--count', String(n)]);
  const c4k = await cClient(port, ['--mode', 'all', '--size', '4096', '--count', String(n)]);
  const cRead4k = c4k.find((r) => r.mode === 'read')!;
  const cWrite4k = c4k.find((r) => r.mode === 'write')!;
  const rawOps4k = 1e6 / raw4k.usPerOp;
  ratioRow('round trip', 'C client ping (empty)', Number(cPing.usPerOp), 'us', 'raw blocking-wait 8 B RTT', rawRtt8.usPerOp, false);
  if (fiRtt4k) {
    ratioRow('4 KiB (warm)', 'C client read ops/s', Number(cRead4k.opsPerSec), 'ops/s', 'fi_pingpong 4 KiB RTT', 1e6 / fiRtt4k, true, 0.8);
    ratioRow('4 KiB (warm)', 'C client write ops/s', Number(cWrite4k.opsPerSec), 'ops/s', 'fi_pingpong 4 KiB RTT', 1e6 / fiRtt4k, true, 0.8);
  }
  // Also beside a raw round trip whose both sides only block (no polling at all).
  ratioRow('4 KiB (warm)', 'C client read ops/s', Number(cRead4k.opsPerSec), 'ops/s', 'raw blocking-wait 4 KiB RTT', rawOps4k, true);
  ratioRow('4 KiB (warm)', 'C client write ops/s', Number(cWrite4k.opsPerSec), 'ops/s', 'raw blocking-wait 4 KiB RTT', rawOps4k, true);

  log('TypeScript client: ping and 4 KiB read/write');
  const client = await IocClient.connect('127.0.0.1', port);
  const small = Buffer.alloc(4096, 1);
  const secs = quick ? 0.5 : 1.5;
  const tsPing = await tsOps(() => client.ping(), secs);
  const tsRead = await tsOps(() => client.read(0x10c, 3, 0, 4096), secs);
  const tsWrite = await tsOps(() => client.write(0x10c, 3, 0, small), secs);
  ratioRow('TS client', 'ping', 1e6 / tsPing, 'us', 'C client ping', Number(cPing.usPerOp), false, 0.7);
  ratioRow('TS client (warm)', '4 KiB read ops/s', tsRead, 'ops/s', 'C client', Number(cRead4k.opsPerSec), true, 0.7);
  ratioRow('TS client (warm)', '4 KiB write ops/s', tsWrite, 'ops/s', 'C client', Number(cWrite4k.opsPerSec), true, 0.7);

  // --- bandwidth: client read = server RMA write into the client, client write = server RMA read ---
  for (const size of [1 << 20, 8 << 20]) {
    const label = size === 1 << 20 ? '1 MiB' : '8 MiB';
    const count = quick ? 50 : size === 1 << 20 ? 1500 : 300;
    log(`bandwidth ${label}: raw RMA, C client, TS client`);
    const rawW = await fabricBench('write', size, count);
    const rawR = await fabricBench('read', size, count);
    const c = await cClient(port, ['--mode', 'all', '--size', String(size), '--count', String(count)]);
    const cR = c.find((r) => r.mode === 'read')!;
    const cW = c.find((r) => r.mode === 'write')!;
    const target = size === 8 << 20 ? 0.8 : undefined;
    const g = `${label} bandwidth (warm)`;
    ratioRow(g, 'C client read', Number(cR.GBps), 'GB/s', 'raw RMA write', rawW.GBps, true, target);
    ratioRow(g, 'C client write', Number(cW.GBps), 'GB/s', 'raw RMA read', rawR.GBps, true, target);
    const big = Buffer.alloc(size, 2);
    const tsR = await tsOps(() => client.readInto(0x10c, 4, 0, big), secs);
    const tsW = await tsOps(() => client.write(0x10c, 4, 0, big), secs);
    ratioRow(g, 'TS client read', (tsR * size) / 1e9, 'GB/s', 'C client read', Number(cR.GBps), true, 0.7);
    ratioRow(g, 'TS client write', (tsW * size) / 1e9, 'GB/s', 'C client write', Number(cW.GBps), true, 0.7);
  }
  client.close();
}

async function ummapRows(port: number): Promise<void> {
  log('ummap: first touch and sync (bench/ummap.ts)');
  for (const r of await runUmapBench(log, { server: `127.0.0.1:${port}` })) {
    if (/event loop blocked/.test(r.name)) {
      // The share of an asynchronous checkpoint during which the JS thread could not run.
      costRow('ummap', r.name, r.value, r.unit, 'checkpoint time', r.baseline!);
    } else if (r.unit === 'ms') {
      // sync times: shown beside the clean sync; the "ratio" is a cost factor, not a score.
      rows.push({ group: 'ummap', name: r.name, value: r.value, unit: r.unit, baseline: r.baseline, baselineName: r.baseline !== undefined ? 'all-clean sync' : undefined });
    } else if (/min\(client/.test(r.name) && r.baseline !== undefined) {
      // First touch over ioc on this long-running server (the cold row is in bench/app.ts).
      rows.push({ group: 'ummap', name: r.name.replace(/ \(goal >= [\d.]+\)/, ''), value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.ratio, baselineName: 'lower of C client 1 MiB reads and bulk UFFDIO_COPY', target: 0.7 });
    } else if (/bulk UFFDIO_COPY/.test(r.name) && r.baseline !== undefined) {
      rows.push({ group: 'ummap', name: r.name.replace(' (goal >= 0.75)', ''), value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.ratio, baselineName: 'bulk UFFDIO_COPY', target: 0.75 });
    } else {
      rows.push({ group: 'ummap', name: r.name, value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.ratio, baselineName: r.baseline !== undefined ? 'kernel tmpfs mmap' : undefined });
    }
  }
}

/** A checkpoint on the long-running server, through ummap beside the same bytes with the C client. */
async function sharedServerCheckpoint(port: number): Promise<void> {
  const total = quick ? 256 << 20 : 1 << 30;
  const label = `${total >> 20} MiB checkpoint`;
  const group = 'checkpoint (long-running server)';
  // Each measurement starts with the page cache written out, so that neither pays for the
  // other's disk write-back (the server's flush goes to its store on disk).
  await run('sync');
  log(`${label}: C client writes + flush`);
  const [cc] = await cClient(port, ['--mode', 'checkpoint', '--total', String(total), '--size', String(8 << 20)]);
  await run('sync');
  log(`${label}: ummap fill + sync`);
  // The mapping is made once, as an application would at start (the C client's connection is
  // not timed either); then the state is computed into it (first touch) and checkpointed.
  const m = ummap(0x10c, 5, total, { server: `127.0.0.1:${port}`, segmentSize: '8MB', noFirstRead: true });
  const words = new Float64Array(m.buffer);
  const start = process.hrtime.bigint();
  for (let i = 0; i < words.length; i++) words[i] = i;
  const filled = process.hrtime.bigint();
  await m.sync();
  const synced = process.hrtime.bigint();
  await m.unmap();
  const fillSecs = Number(filled - start) / 1e9;
  const syncSecs = Number(synced - filled) / 1e9;
  ratioRow(group, `${label} via ummap: sync of the filled mapping`, total / syncSecs / 1e9, 'GB/s', 'C client write + flush', Number(cc.GBps), true);
  ratioRow(group, `${label} via ummap: first-touch fill + sync`, total / (fillSecs + syncSecs) / 1e9, 'GB/s', 'C client write + flush', Number(cc.GBps), true);
}

async function main(): Promise<void> {
  log(`machine: ${machineDescription()}; provider ${provider}`);
  if (!skip('warm') || !skip('ummap') || !skip('checkpoint')) {
    const server = await startServer();
    try {
      if (!skip('warm')) await warmRows(server.port);
      if (!skip('ummap')) await ummapRows(server.port);
      if (!skip('checkpoint')) await sharedServerCheckpoint(server.port);
    } finally {
      await server.stop();
    }
  }
  if (!skip('cold')) await runCold(quick);
  if (!skip('stall')) await runStall(quick);
  if (!skip('first-touch')) await runFirstTouch(quick);
  if (!skip('heat2d')) await runHeat2d(quick);
  if (!skip('clients')) await runClients(quick);
  if (!skip('rewrite')) await runRewrite(quick);
  if (!skip('namespace')) await runNamespace(quick);
  if (!skip('nvdimm')) await runNvdimm(quick);
  if (!skip('checkpoint-sets')) await runCheckpointSets(quick);

  // Informational: how long a fresh server took from "ready on" to its cache being prefaulted.
  if (serverPrefaults()) {
    const seen = prefaultWaits.filter((w): w is number => w !== undefined);
    const missing = prefaultWaits.length - seen.length;
    const note = `median of ${seen.length} server${seen.length === 1 ? '' : 's'}${missing ? `; ${missing} printed no "prefaulted" within 30 s` : ''}`;
    if (seen.length) infoRow('server start', `cache prefault, "ready on" to "prefaulted" (${note})`, median(seen) / 1000, 's');
    else if (missing) infoRow('server start', `cache prefault: none of ${missing} servers printed "prefaulted" within 30 s (waited 30 s each)`, 30, 's');
  } else {
    infoRow('server start', 'cache prefault: not waited for (this server prints no "prefaulted": no prefault in its --help)', 0, 's');
  }

  const out = writeResults(rows, path.join(packageRoot, 'bench', 'results'), { provider, quick });
  console.log(`\niocatcher benchmark, ${new Date().toISOString()}\nmachine: ${machineDescription()}\nprovider: ${provider}\n`);
  console.log(table(rows));
  const rel = (f: string) => path.relative(process.cwd(), f);
  console.log(`\nresults: ${rel(out.json)}, chart: ${rel(out.svg)}, summary: ${rel(out.readme)} (${elapsedSeconds().toFixed(0)} s)`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
