// npm run bench: our figures beside baselines measured the same way, in the same run, on this
// machine. Prints a table with ratios, writes bench/results/latest.json and latest.svg.
//   node dist/bench/run.js [--quick] [--skip-ummap] [--skip-checkpoint]
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { IocClient, ummap } from '../src';
import { nativeBuildDir, packageRoot } from '../src/native';
import { BenchRow, machineDescription, table, writeResults } from './report';

const run = promisify(execFile);
const t0 = Date.now();
const log = (s: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);
const args = new Set(process.argv.slice(2));
const known = new Set(['--quick', '--skip-ummap', '--skip-checkpoint', '--help', '-h']);
if (args.has('--help') || args.has('-h')) {
  console.log(`Usage: npm run bench [-- OPTIONS]   (or node dist/bench/run.js [OPTIONS])

Measures iocatcher beside baselines taken in the same run on this machine (fi_pingpong, raw
libfabric, the kernel's mmap, bulk UFFDIO_COPY), prints the table with ratios, and writes
bench/results/latest.json and latest.svg. About a minute on 2 cores.

  --quick            fewer iterations, a 256 MiB checkpoint
  --skip-ummap       leave out the ummap first-touch and sync figures
  --skip-checkpoint  leave out the 1 GiB checkpoint
  FI_PROVIDER        libfabric provider (default tcp;ofi_rxm)`);
  process.exit(0);
}
for (const a of args) {
  if (!known.has(a)) {
    process.stderr.write(`bench: unknown option ${a} (see --help)\n`);
    process.exit(2);
  }
}
const quick = args.has('--quick');
const provider = process.env.FI_PROVIDER ?? 'tcp;ofi_rxm';
const bin = (name: string) => path.join(nativeBuildDir, name);
const rows: BenchRow[] = [];
const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

function ratioRow(group: string, name: string, value: number, unit: string, baselineName: string, baseline: number,
  higherIsBetter: boolean, target?: number): BenchRow {
  const ratio = higherIsBetter ? value / baseline : baseline / value;
  const row = { group, name, value, unit, baselineName, baseline, ratio, target };
  rows.push(row);
  log(`${group}: ${name}: ${value.toFixed(2)} ${unit} vs ${baseline.toFixed(2)} ${unit} (${baselineName}) = ${ratio.toFixed(2)}x`);
  return row;
}

let portBase = 30000 + (process.pid % 1000) * 20;
const nextPort = () => (portBase += 2);

async function startServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'ioc-bench-store-'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = nextPort();
    const child = spawn(bin('iocatcher-serverd'), ['--port', String(port), '--store', store, '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, IOC_EXIT_WITH_PARENT: '1' } });
    children.add(child);
    let out = '';
    const ok = await new Promise<boolean>((resolve) => {
      child.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('ready on')) resolve(true); });
      child.stderr!.on('data', (d: Buffer) => { out += d; });
      child.on('exit', () => resolve(false));
    });
    if (ok) {
      return {
        port,
        stop: async () => {
          child.kill('SIGTERM');
          await new Promise((r) => child.on('exit', r));
          children.delete(child);
          fs.rmSync(store, { recursive: true, force: true });
        },
      };
    }
    children.delete(child);
  }
  throw new Error('cannot start the server');
}

/** Raw round trip with Debian's fi_pingpong (busy-polling both sides); microseconds per round trip. */
async function fiPingpong(size: number, iterations: number): Promise<number | undefined> {
  const port = nextPort();
  const common = ['-p', provider, '-e', 'rdm', '-S', String(size), '-I', String(iterations)];
  const server = spawn('fi_pingpong', [...common, '-B', String(port)], { stdio: 'ignore' });
  children.add(server);
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
    children.delete(server);
  }
}

/** Raw libfabric (our wrappers, passive waits, no protocol): pingpong or RMA write/read. */
async function fabricBench(mode: string, size: number, count: number): Promise<{ usPerOp: number; GBps: number }> {
  const port = nextPort();
  const listener = spawn(bin('iocatcher-fabric-bench'), ['--listen', '127.0.0.1', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(listener);
  await new Promise<void>((resolve) => listener.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('listening')) resolve(); }));
  try {
    const { stdout } = await run(bin('iocatcher-fabric-bench'), ['127.0.0.1', String(port), '--mode', mode, '--size', String(size), '--count', String(count)], { timeout: 120000 });
    return JSON.parse(stdout.trim().split('\n').pop()!);
  } finally {
    listener.kill('SIGKILL');
    children.delete(listener);
  }
}

async function cClient(port: number, extra: string[]): Promise<Array<Record<string, number | string>>> {
  const { stdout } = await run(bin('iocatcher-client-bench'), ['--port', String(port), '--json', ...extra, '127.0.0.1'], { timeout: 300000 });
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
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

async function main(): Promise<void> {
  log(`machine: ${machineDescription()}; provider ${provider}`);
  const server = await startServer();
  const { port } = server;
  const n = quick ? 2000 : 10000;

  // --- small messages: round trips and 4 KiB ops/s ---
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
    ratioRow('4 KiB', 'C client read ops/s', Number(cRead4k.opsPerSec), 'ops/s', 'fi_pingpong 4 KiB RTT', 1e6 / fiRtt4k, true, 0.8);
    ratioRow('4 KiB', 'C client write ops/s', Number(cWrite4k.opsPerSec), 'ops/s', 'fi_pingpong 4 KiB RTT', 1e6 / fiRtt4k, true, 0.8);
  }
  // Also beside a raw round trip whose both sides only block (no polling at all).
  ratioRow('4 KiB', 'C client read ops/s', Number(cRead4k.opsPerSec), 'ops/s', 'raw blocking-wait 4 KiB RTT', rawOps4k, true);
  ratioRow('4 KiB', 'C client write ops/s', Number(cWrite4k.opsPerSec), 'ops/s', 'raw blocking-wait 4 KiB RTT', rawOps4k, true);

  log('TypeScript client: ping and 4 KiB read/write');
  const client = await IocClient.connect('127.0.0.1', port);
  const small = Buffer.alloc(4096, 1);
  const secs = quick ? 0.5 : 1.5;
  const tsPing = await tsOps(() => client.ping(), secs);
  const tsRead = await tsOps(() => client.read(0x10c, 3, 0, 4096), secs);
  const tsWrite = await tsOps(() => client.write(0x10c, 3, 0, small), secs);
  ratioRow('TS client', 'ping', 1e6 / tsPing, 'us', 'C client ping', Number(cPing.usPerOp), false, 0.7);
  ratioRow('TS client', '4 KiB read ops/s', tsRead, 'ops/s', 'C client', Number(cRead4k.opsPerSec), true, 0.7);
  ratioRow('TS client', '4 KiB write ops/s', tsWrite, 'ops/s', 'C client', Number(cWrite4k.opsPerSec), true, 0.7);

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
    ratioRow(`${label} bandwidth`, 'C client read', Number(cR.GBps), 'GB/s', 'raw RMA write', rawW.GBps, true, target);
    ratioRow(`${label} bandwidth`, 'C client write', Number(cW.GBps), 'GB/s', 'raw RMA read', rawR.GBps, true, target);
    const big = Buffer.alloc(size, 2);
    const tsR = await tsOps(() => client.readInto(0x10c, 4, 0, big), secs);
    const tsW = await tsOps(() => client.write(0x10c, 4, 0, big), secs);
    ratioRow(`${label} bandwidth`, 'TS client read', (tsR * size) / 1e9, 'GB/s', 'C client read', Number(cR.GBps), true, 0.7);
    ratioRow(`${label} bandwidth`, 'TS client write', (tsW * size) / 1e9, 'GB/s', 'C client write', Number(cW.GBps), true, 0.7);
  }
  client.close();

  // --- ummap: first touch and sync beside the kernel's mmap ---
  if (!args.has('--skip-ummap')) {
    const ummapBench = path.join(__dirname, 'ummap.js');
    if (fs.existsSync(ummapBench)) {
      log('ummap: first touch and sync (bench/ummap.ts)');
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { runUmapBench } = require(ummapBench) as { runUmapBench(l: (s: string) => void, o?: { server?: string }): Promise<Array<{ name: string; value: number; unit: string; baseline?: number; ratio?: number; baselineName?: string; target?: number }>> };
      for (const r of await runUmapBench(log, { server: `127.0.0.1:${server.port}` })) {
        if (/event loop blocked/.test(r.name)) {
          // The share of an asynchronous checkpoint during which the JS thread could not run.
          rows.push({ group: 'ummap', name: r.name, value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.ratio, baselineName: 'checkpoint time' });
        } else if (r.unit === 'ms') {
          // sync times: shown beside the clean sync; the "ratio" is a cost factor, not a score.
          rows.push({ group: 'ummap', name: r.name, value: r.value, unit: r.unit, baseline: r.baseline, baselineName: 'all-clean sync' });
        } else if (/bulk UFFDIO_COPY/.test(r.name) && r.baseline !== undefined) {
          rows.push({ group: 'ummap', name: r.name.replace(' (goal >= 0.75)', ''), value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.ratio, baselineName: 'bulk UFFDIO_COPY', target: 0.75 });
        } else {
          rows.push({ group: 'ummap', name: r.name, value: r.value, unit: r.unit, baseline: r.baseline, ratio: r.ratio, baselineName: r.baseline !== undefined ? 'kernel tmpfs mmap' : undefined });
        }
      }
    } else {
      log('ummap bench not built: skipped');
    }
  }

  // --- a 1 GiB checkpoint through ummap beside the same bytes written with the C client ---
  if (!args.has('--skip-checkpoint')) {
    const total = quick ? 256 << 20 : 1 << 30;
    const label = `${total >> 20} MiB checkpoint`;
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
    ratioRow('checkpoint', `${label} via ummap: sync of the filled mapping`, total / syncSecs / 1e9, 'GB/s', 'C client write + flush', Number(cc.GBps), true);
    ratioRow('checkpoint', `${label} via ummap: first-touch fill + sync`, total / (fillSecs + syncSecs) / 1e9, 'GB/s', 'C client write + flush', Number(cc.GBps), true);
  }

  await server.stop();
  const out = writeResults(rows, path.join(packageRoot, 'bench', 'results'), { provider, quick });
  console.log(`\niocatcher benchmark, ${new Date().toISOString()}\nmachine: ${machineDescription()}\nprovider: ${provider}\n`);
  console.log(table(rows));
  console.log(`\nresults: ${path.relative(process.cwd(), out.json)}, chart: ${path.relative(process.cwd(), out.svg)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
