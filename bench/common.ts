// What the benchmark files share: the log, the rows, starting servers (fresh ones for the cold
// rows), the raw libfabric baseline and the C client tool.
import { ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { nativeBuildDir } from '../src/native';
import { BenchRow, meetsTarget, ratioText } from './report';

export const run = promisify(execFile);
const t0 = Date.now();
export const log = (s: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);
export const elapsedSeconds = () => (Date.now() - t0) / 1000;
export const provider = process.env.FI_PROVIDER ?? 'tcp;ofi_rxm';
export const bin = (name: string) => path.join(nativeBuildDir, name);
export const rows: BenchRow[] = [];
export const MiB = 1 << 20;
export const GiB = 1 << 30;
const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** The ratio as the table prints it (a miss never rounds to its target), and the verdict. */
const verdict = (r: BenchRow) => `${ratioText(r)}${meetsTarget(r) === undefined ? '' : meetsTarget(r) ? ' (target met)' : ' (target MISSED)'}`;

/** A row with a ratio: oriented so that higher is better (see BenchRow.ratio). */
export function ratioRow(group: string, name: string, value: number, unit: string, baselineName: string, baseline: number,
  higherIsBetter: boolean, target?: number): BenchRow {
  const ratio = higherIsBetter ? value / baseline : baseline / value;
  const row = { group, name, value, unit, baselineName, baseline, ratio, target };
  rows.push(row);
  log(`${group}: ${name}: ${value.toFixed(3)} ${unit} vs ${baseline.toFixed(3)} ${unit} (${baselineName}) = ${verdict(row)}`);
  return row;
}

/** A row whose ratio is a cost (ours / baseline: a share of time, a slowdown): the target is a ceiling. */
export function costRow(group: string, name: string, value: number, unit: string, baselineName: string, baseline: number,
  target?: number): BenchRow {
  const row: BenchRow = { group, name, value, unit, baselineName, baseline, ratio: value / baseline, target, lowerIsBetter: true };
  rows.push(row);
  log(`${group}: ${name}: ${value.toFixed(3)} ${unit} vs ${baseline.toFixed(3)} ${unit} (${baselineName}) = ${verdict(row)} (lower is better)`);
  return row;
}

/**
 * A row whose baseline was measured beside each repetition of ours, just before it: on this
 * shared 2-vCPU VM both drift by tens of percent within a minute, so a baseline taken once (or
 * the best of a few) compares different moments. The ratio is the median of the pair ratios;
 * value and baseline are each side's median. The log line also gives every pair and the ratio
 * against the best baseline of the run (the strictest reading).
 */
export function pairedRow(group: string, name: string, ours: number[], baselines: number[], unit: string, baselineName: string,
  target?: number): BenchRow {
  if (ours.length !== baselines.length || !ours.length) throw new Error(`pairedRow ${name}: ${ours.length} figures, ${baselines.length} baselines`);
  const ratios = ours.map((v, i) => v / baselines[i]);
  const row: BenchRow = { group, name, value: median(ours), unit, baselineName, baseline: median(baselines), ratio: median(ratios), target };
  rows.push(row);
  const best = Math.max(...baselines);
  log(`${group}: ${name}: ${row.value.toFixed(3)} ${unit} vs ${row.baseline!.toFixed(3)} ${unit} (${baselineName}) = ${verdict(row)} ` +
    `(pairs ${ours.map((v, i) => `${v.toFixed(2)}/${baselines[i].toFixed(2)}`).join(' ')}; median ours against the best baseline ${best.toFixed(3)}: ${(row.value / best).toFixed(2)}x)`);
  return row;
}

/** An informational row: a figure without a ratio or a target. */
export function infoRow(group: string, name: string, value: number, unit: string): BenchRow {
  const row = { group, name, value, unit };
  rows.push(row);
  log(`${group}: ${name}: ${value.toFixed(3)} ${unit}`);
  return row;
}

let portBase = 30000 + (process.pid % 1000) * 20;
export const nextPort = () => (portBase += 2);

export interface Server {
  port: number;
  pid: number;
  /** The store directory (removed by stop()). */
  store: string;
  /** ms from "ready on" to the "prefaulted" line; undefined if not waited for or not printed within 30 s. */
  prefaultMs?: number;
  /** What the server printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

let prefaultSupport: boolean | undefined;
/** Whether this server build prefaults its cache memory (says so in its --help). */
export function serverPrefaults(): boolean {
  if (prefaultSupport === undefined) {
    const r = spawnSync(bin('iocatcher-serverd'), ['--help'], { encoding: 'utf8' });
    prefaultSupport = /prefault/i.test(`${r.stdout}${r.stderr}`);
  }
  return prefaultSupport;
}

/** Each fresh server's wait for "prefaulted" (undefined: not printed within 30 s). */
export const prefaultWaits: Array<number | undefined> = [];
const PREFAULT_WAIT_MS = 30000;

/**
 * Starts iocatcher-serverd on a new port with a new store directory (a fresh server: new
 * process, empty store, empty cache). `args(store)` gives extra arguments (e.g. --nvdimm in the
 * store directory). After "ready on", waits up to 30 s for the line saying the cache memory is
 * prefaulted (the anonymous cache memory, or the --nvdimm pool's kept slots), unless started
 * with `--prefault 0` (or off) or the server has no such step (no prefault in its --help).
 */
export async function startServer(opts: { args?: (store: string) => string[]; env?: NodeJS.ProcessEnv } = {}): Promise<Server> {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'ioc-bench-store-'));
  const extra = opts.args ? opts.args(store) : [];
  const off = (v?: string) => v === '0' || v === 'off';
  const noPrefault = extra.some((a, i) => (a === '--prefault' && off(extra[i + 1])) || (a.startsWith('--prefault=') && off(a.slice(11))));
  const waitPrefault = !noPrefault && serverPrefaults();
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = nextPort();
    const child = track(spawn(bin('iocatcher-serverd'), ['--port', String(port), '--store', store, ...extra, '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env, IOC_EXIT_WITH_PARENT: '1' } }));
    let out = '';
    let readyAt = 0;
    let prefaultedAt = 0;
    let onOutput = () => {};
    const got = (d: Buffer) => {
      out += d;
      if (!readyAt && out.includes('ready on')) readyAt = Date.now();
      if (readyAt && !prefaultedAt && /prefaulted/.test(out.slice(out.indexOf('ready on')))) prefaultedAt = Date.now();
      onOutput();
    };
    child.stdout!.on('data', got);
    child.stderr!.on('data', got);
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    const ok = await new Promise<boolean>((resolve) => {
      onOutput = () => { if (readyAt) resolve(true); };
      child.on('exit', () => resolve(false));
      onOutput();
    });
    if (!ok) {
      if (attempt === 4) log(`server failed to start: ${out.trim().split('\n').slice(-3).join(' | ')}`);
      continue;
    }
    let prefaultMs: number | undefined;
    if (waitPrefault) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, PREFAULT_WAIT_MS);
        onOutput = () => { if (prefaultedAt) { clearTimeout(timer); resolve(); } };
        onOutput();
      });
      prefaultMs = prefaultedAt ? prefaultedAt - readyAt : undefined;
      prefaultWaits.push(prefaultMs);
      if (prefaultMs === undefined) log(`server on port ${port}: no "prefaulted" line within ${PREFAULT_WAIT_MS / 1000} s; going on`);
    }
    return {
      port,
      pid: child.pid!,
      store,
      prefaultMs,
      output: () => out,
      stop: async () => {
        child.kill('SIGTERM');
        await exited;
        fs.rmSync(store, { recursive: true, force: true });
      },
    };
  }
  fs.rmSync(store, { recursive: true, force: true });
  throw new Error('cannot start the server');
}

/** Runs fn with a fresh server, stopped afterwards whatever happens. */
export async function withServer<T>(fn: (s: Server) => Promise<T>, opts: Parameters<typeof startServer>[0] = {}): Promise<T> {
  const s = await startServer(opts);
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

export interface FabricResult { usPerOp: number; GBps: number }

/**
 * Raw libfabric (our wrappers, passive waits, no protocol): pingpong or RMA write/read of the
 * peer's buffer. RMA read = the initiator pulls (what the server does for a client write), RMA
 * write = it pushes (a client read). The memory on both sides is touched before timing.
 */
export async function fabricBench(mode: string, size: number, count: number): Promise<FabricResult> {
  const port = nextPort();
  const sizeArgs = ['--mode', mode, '--size', String(size)];
  const listener = track(spawn(bin('iocatcher-fabric-bench'), ['--listen', '127.0.0.1', String(port), ...sizeArgs], { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise<void>((resolve) => listener.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('listening')) resolve(); }));
  try {
    const { stdout } = await run(bin('iocatcher-fabric-bench'), ['127.0.0.1', String(port), ...sizeArgs, '--count', String(count)], { timeout: 300000 });
    return JSON.parse(stdout.trim().split('\n').pop()!);
  } finally {
    listener.kill('SIGKILL');
  }
}

export type CResult = Record<string, number | string>;

/** iocatcher-client-bench against 127.0.0.1:port; its JSON lines. */
export async function cClient(port: number, extra: string[]): Promise<CResult[]> {
  const { stdout } = await run(bin('iocatcher-client-bench'), ['--port', String(port), '--json', ...extra, '127.0.0.1'], { timeout: 600000 });
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

export const num = (r: CResult, key: string): number => {
  const v = Number(r[key]);
  if (!Number.isFinite(v)) throw new Error(`iocatcher-client-bench printed no ${key}`);
  return v;
};

let clockTicks: number | undefined;
/** utime + stime of a process, in seconds (/proc/PID/stat). */
export function cpuSeconds(pid: number): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');  // from field 3 (state) on
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;  // fields 14 and 15
}

export const sizeLabel = (bytes: number) => (bytes >= GiB && bytes % GiB === 0 ? `${bytes / GiB} GiB` : bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / 1024} KiB`);

/** How many fresh servers a cold measurement is repeated on (the median is reported). */
export const repetitions = (quick: boolean) => (quick ? 1 : 3);
/** Repetitions of the rows paired with a raw baseline each (pairedRow): more, their spread is wider. */
export const pairedRepetitions = (quick: boolean) => (quick ? 1 : 7);

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
