// Metrics of a running daemon, served over HTTP by iocatcher-server --metrics HOST:PORT:
//   /metrics   Prometheus text format (prom-client registry)
//   /stats     the daemon's counters as JSON (iocatcher stats)
//   /objects   the objects holding cached segments as JSON (the cache's view)
// The counters live in the native daemon (native/server/metrics.cc); the wrapper asks for them
// over a control socket (the daemon's fd 3, IOC_CONTROL_FD) on each request: one command line
// ("stats", "ls") answered by one JSON line.
//
// A stalled daemon (stopped, swapping, stuck in a store call on its fabric thread) must not
// stall the scrape nor zero the counters (rate() would read a counter reset): /metrics waits at
// most scrapeTimeoutMs for the daemon, then serves the last values it gave, with ioc_up 0 and
// their age in ioc_stats_age_seconds. The daemon's process figures (CPU, memory, descriptors)
// come from /proc, which answers whatever state the daemon is in.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { Duplex } from 'stream';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The daemon's answer to "stats" (see ServerMetrics::json). */
export interface DaemonStats {
  requests: Record<string, number>;
  latency: { bounds: number[]; types: Record<string, { buckets: number[]; sum: number; count: number }> };
  transfers: { eager: { read: number; write: number }; rma: { read: number; write: number } };
  bytes: { read: number; written: number };
  errors: Array<{ type: string; code: string; count: number }>;
  drops: number;
  /** Writes discarded because their deadline passed before they could be applied (fencing). */
  fencedWrites?: number;
  clients: { tcp: number; fabric: number };
  inflight: number;
  cache: {
    segments: number; bytes: number; dirtyBytes: number; pinned: number; hits: number; misses: number;
    flushedBytes: number; spilledBytes: number; drainedBytes: number; writtenThroughBytes?: number; storeJobs: number; refusedWrites: number; evictions: number; limitBytes: number;
    /** Objects the daemon keeps metadata for (with cached segments, or looked up just now). */
    objects: number;
  };
}

export interface CachedObject {
  high: string;
  low: string;
  size: number;
  segments: number;
  cachedBytes: number;
  dirtyBytes: number;
}

/** Request/answer over the daemon's control socket, one command at a time. */
export class DaemonControl {
  private buffer = '';
  // One entry per command sent, in order: answers come back in that order. An entry whose caller
  // gave up stays (abandoned) so that the late answer is matched to it, not to the next command.
  private waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout; abandoned?: boolean }> = [];
  private closed: Error | undefined;

  constructor(private readonly socket: Duplex, private readonly timeoutMs = 15000) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const w = this.waiting.shift();
        if (w && !w.abandoned) {
          clearTimeout(w.timer);
          w.resolve(line);
        }
      }
    });
    const fail = (e: Error) => {
      this.closed = e;
      for (const w of this.waiting.splice(0)) {
        clearTimeout(w.timer);
        w.reject(e);
      }
    };
    socket.on('error', (e) => fail(e));
    socket.on('close', () => fail(new Error('the daemon closed its control channel')));
  }

  /** Sends one command; resolves with the parsed JSON answer (rejects on {"error": ...}). */
  async query<T>(command: 'stats' | 'ls'): Promise<T> {
    if (this.closed) throw this.closed;
    const line = await new Promise<string>((resolve, reject) => {
      const entry: (typeof this.waiting)[number] = { resolve, reject };
      entry.timer = setTimeout(() => {
        entry.abandoned = true;
        reject(new Error(`the daemon did not answer '${command}' within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.push(entry);
      this.socket.write(`${command}\n`);
    });
    const answer = JSON.parse(line);
    if (answer && typeof answer.error === 'string') throw new Error(answer.error);
    return answer as T;
  }

  /** Commands sent and not answered yet (abandoned ones included). */
  get pending(): number {
    return this.waiting.length;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** System constants for /proc figures, asked once (Linux: usually 100 and 4096). */
let sysconf: { clockTicks: number; pageSize: number } | undefined;
function systemConstants(): { clockTicks: number; pageSize: number } {
  if (!sysconf) {
    const ask = (name: string, fallback: number) => {
      try {
        const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
        return Number.isFinite(v) && v > 0 ? v : fallback;
      } catch {
        return fallback;
      }
    };
    sysconf = { clockTicks: ask('CLK_TCK', 100), pageSize: ask('PAGESIZE', 4096) };
  }
  return sysconf;
}

/** Process figures of the daemon, from /proc/PID (undefined when it is gone). */
export interface DaemonProcessStats {
  cpuSeconds: number;
  residentBytes: number;
  virtualBytes: number;
  openFds: number;
  maxFds?: number;
  threads: number;
  startTimeSeconds: number;
  /** The kernel's state letter: R, S, D, T (stopped), Z, ... */
  state: string;
}

export function daemonProcessStats(pid: number): DaemonProcessStats | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after its ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  const field = (n: number) => Number(f[n - 3]);  // f[0] is field 3 (state)
  const { clockTicks, pageSize } = systemConstants();
  let bootTime = 0;
  try {
    bootTime = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0);
  } catch { /* no boot time: start time relative to boot */ }
  let openFds = 0;
  try {
    openFds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch { /* another user's process: unknown */ }
  let maxFds: number | undefined;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (m) maxFds = Number(m[1]);
  } catch { /* unknown */ }
  return {
    state: f[0],
    cpuSeconds: (field(14) + field(15)) / clockTicks,
    threads: field(20),
    startTimeSeconds: bootTime + field(22) / clockTicks,
    virtualBytes: field(23),
    residentBytes: field(24) * pageSize,
    openFds,
    maxFds,
  };
}

/** The package's version (package.json), for ioc_build_info. */
function packageVersion(): string {
  for (let dir = __dirname, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name === 'iocatcher') return String(pkg.version);
    } catch { /* not here */ }
  }
  return 'unknown';
}

/**
 * A histogram whose buckets come from the daemon as absolute, non-cumulative counts: exported in
 * the Prometheus histogram format (cumulative `_bucket{le}`, `_sum`, `_count`) by prom-client.
 */
class DaemonHistogram extends Histogram<'type'> {
  private snapshot: DaemonStats['latency'] = { bounds: [], types: {} };
  private readonly metricName: string;
  private readonly metricHelp: string;

  constructor(cfg: { name: string; help: string; labelNames: 'type'[]; registers: Registry[] }) {
    super(cfg);
    this.metricName = cfg.name;
    this.metricHelp = cfg.help;
  }

  setSnapshot(s: DaemonStats['latency']): void {
    this.snapshot = s;
  }

  // prom-client's Registry prefers getForPromString() when a metric has one.
  async getForPromString(): Promise<any> {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [type, t] of Object.entries(this.snapshot.types)) {
      let cumulative = 0;
      this.snapshot.bounds.forEach((le, i) => {
        cumulative += t.buckets[i] ?? 0;
        values.push({ labels: { le, type }, value: cumulative, metricName: `${this.metricName}_bucket` });
      });
      values.push({ labels: { le: '+Inf', type }, value: t.count, metricName: `${this.metricName}_bucket` });
      values.push({ labels: { type }, value: t.sum, metricName: `${this.metricName}_sum` });
      values.push({ labels: { type }, value: t.count, metricName: `${this.metricName}_count` });
    }
    return { name: this.metricName, help: this.metricHelp, type: 'histogram', values, aggregator: 'sum' };
  }

  override async get(): Promise<any> {
    return this.getForPromString();
  }
}

/**
 * The Prometheus metrics of a daemon. update() sets the daemon's figures from a "stats" answer;
 * stale() keeps the last ones (ioc_up 0, their age in ioc_stats_age_seconds). Until a first
 * answer, the daemon's figures are left out (absent, never 0).
 */
export class ServerMetricsRegistry {
  /** The daemon's own figures (from "stats"). */
  readonly registry = new Registry();
  /** Figures the wrapper always has: up/staleness, build info, process metrics. */
  readonly always = new Registry();
  private readonly counters: Record<string, Counter<string>> = {};
  private readonly gauges: Record<string, Gauge<string>> = {};
  private readonly latency: DaemonHistogram;
  private lastUpdate: number | undefined;
  private readonly up: Gauge<string>;
  private readonly age: Gauge<string>;
  private readonly proc: Record<string, Gauge<string>> = {};
  private readonly procCpu: Counter<string>;

  constructor(opts: { wrapperMetrics?: boolean } = {}) {
    const alwaysGauge = (name: string, help: string, labelNames: string[] = []) =>
      new Gauge({ name, help, labelNames, registers: [this.always] });
    this.up = alwaysGauge('ioc_up', '1 when the daemon answered this scrape; 0: the daemon figures are the last it gave (or absent)');
    this.age = alwaysGauge('ioc_stats_age_seconds', 'Age of the daemon figures served: 0 when the daemon answered this scrape');
    const build = alwaysGauge('ioc_build_info', 'Always 1; labels: iocatcher version, Node.js version, platform', ['version', 'node', 'platform']);
    build.set({ version: packageVersion(), node: process.version, platform: `${process.platform}-${process.arch}` }, 1);
    this.procCpu = new Counter({ name: 'ioc_daemon_cpu_seconds_total', help: 'CPU time of the daemon process (user + system)', registers: [this.always] });
    this.proc.ioc_daemon_resident_memory_bytes = alwaysGauge('ioc_daemon_resident_memory_bytes', 'Resident memory of the daemon process');
    this.proc.ioc_daemon_virtual_memory_bytes = alwaysGauge('ioc_daemon_virtual_memory_bytes', 'Virtual memory of the daemon process');
    this.proc.ioc_daemon_open_fds = alwaysGauge('ioc_daemon_open_fds', 'Open file descriptors of the daemon process');
    this.proc.ioc_daemon_max_fds = alwaysGauge('ioc_daemon_max_fds', 'Open file limit of the daemon process');
    this.proc.ioc_daemon_threads = alwaysGauge('ioc_daemon_threads', 'Threads of the daemon process');
    this.proc.ioc_daemon_start_time_seconds = alwaysGauge('ioc_daemon_start_time_seconds', 'Start time of the daemon process (Unix seconds)');
    this.proc.ioc_daemon_stopped = alwaysGauge('ioc_daemon_stopped', '1 when the daemon process is stopped (SIGSTOP, debugger)');
    // The wrapper's own Node.js process (prom-client's process_* / nodejs_* figures), prefixed.
    if (opts.wrapperMetrics) collectDefaultMetrics({ register: this.always, prefix: 'ioc_wrapper_' });

    const counter = (name: string, help: string, labelNames: string[] = []) => {
      this.counters[name] = new Counter({ name, help, labelNames, registers: [this.registry] });
    };
    const gauge = (name: string, help: string, labelNames: string[] = []) => {
      this.gauges[name] = new Gauge({ name, help, labelNames, registers: [this.registry] });
    };
    counter('ioc_requests_total', 'Protocol messages received, by message type', ['type']);
    this.latency = new DaemonHistogram({
      name: 'ioc_request_duration_seconds',
      help: 'Time from handling a request to queuing its reply (to RMA completion for RMA transfers)',
      labelNames: ['type'],
      registers: [this.registry],
    });
    counter('ioc_transfers_total', 'Completed object reads and writes, by mode (eager: inline data, rma: server-driven RMA) and direction', ['mode', 'op']);
    counter('ioc_read_bytes_total', 'Bytes read by clients (completed reads)');
    counter('ioc_written_bytes_total', 'Bytes written by clients (completed writes)');
    counter('ioc_errors_total', 'Replies carrying an error status, by reply type and errno name', ['type', 'code']);
    counter('ioc_dropped_messages_total', 'Messages dropped without a reply (truncated, malformed, unknown sender)');
    counter('ioc_fenced_writes_total', 'Writes discarded (ETIMEDOUT) because their deadline passed before they could be applied');
    gauge('ioc_connected_clients', 'Connected clients: TCP side channels and libfabric endpoints', ['channel']);
    gauge('ioc_inflight_requests', 'Requests waiting for their RMA transfers');
    counter('ioc_cache_hits_total', 'Segment lookups served from the cache');
    counter('ioc_cache_misses_total', 'Segment lookups that had to allocate or load a segment');
    counter('ioc_cache_spilled_bytes_total', 'Dirty bytes written back to the store by eviction');
    counter('ioc_cache_flushed_bytes_total', 'Dirty bytes written back to the store by flush');
    counter('ioc_cache_drained_bytes_total', 'Dirty bytes written back to the store in the background (write-behind)');
    counter('ioc_cache_written_through_bytes_total', 'Bytes of small writes into segments only the store held, written to the store without loading the segment');
    counter('ioc_cache_refused_writes_total', 'Writes refused with ENOSPC: the cache is full and the store refuses spills');
    gauge('ioc_store_jobs', 'Store jobs (loads, spills, flushes, write-behind) queued or running');
    counter('ioc_cache_evictions_total', 'Segments dropped to make room');
    gauge('ioc_cache_bytes', 'Bytes of cached segments');
    gauge('ioc_cache_dirty_bytes', 'Dirty bytes in the cache (not yet in the store)');
    gauge('ioc_cache_segments', 'Cached segments');
    gauge('ioc_cache_pinned_segments', 'Segments pinned by requests in flight');
    gauge('ioc_cache_limit_bytes', 'Cache size bound (--cache-size)');
  }

  private setCounter(name: string, value: number, labels: Record<string, string> = {}): void {
    this.counters[name].inc(labels, value);
  }

  /** Sets every metric from a daemon snapshot (absolute totals since the daemon started). */
  update(s: DaemonStats, now = Date.now()): void {
    this.lastUpdate = now;
    this.up.set(1);
    this.age.set(0);
    for (const c of Object.values(this.counters)) c.reset();
    for (const [type, n] of Object.entries(s.requests)) this.setCounter('ioc_requests_total', n, { type });
    this.latency.setSnapshot(s.latency);
    for (const mode of ['eager', 'rma'] as const) {
      for (const op of ['read', 'write'] as const) this.setCounter('ioc_transfers_total', s.transfers[mode][op], { mode, op });
    }
    this.setCounter('ioc_read_bytes_total', s.bytes.read);
    this.setCounter('ioc_written_bytes_total', s.bytes.written);
    for (const e of s.errors) this.setCounter('ioc_errors_total', e.count, { type: e.type, code: e.code });
    this.setCounter('ioc_dropped_messages_total', s.drops);
    this.setCounter('ioc_fenced_writes_total', s.fencedWrites ?? 0);
    this.gauges.ioc_connected_clients.set({ channel: 'tcp' }, s.clients.tcp);
    this.gauges.ioc_connected_clients.set({ channel: 'fabric' }, s.clients.fabric);
    this.gauges.ioc_inflight_requests.set(s.inflight);
    this.setCounter('ioc_cache_hits_total', s.cache.hits);
    this.setCounter('ioc_cache_misses_total', s.cache.misses);
    this.setCounter('ioc_cache_spilled_bytes_total', s.cache.spilledBytes);
    this.setCounter('ioc_cache_flushed_bytes_total', s.cache.flushedBytes);
    this.setCounter('ioc_cache_drained_bytes_total', s.cache.drainedBytes ?? 0);
    this.setCounter('ioc_cache_written_through_bytes_total', s.cache.writtenThroughBytes ?? 0);
    this.setCounter('ioc_cache_refused_writes_total', s.cache.refusedWrites ?? 0);
    this.gauges.ioc_store_jobs.set(s.cache.storeJobs ?? 0);
    this.setCounter('ioc_cache_evictions_total', s.cache.evictions);
    this.gauges.ioc_cache_bytes.set(s.cache.bytes);
    this.gauges.ioc_cache_dirty_bytes.set(s.cache.dirtyBytes);
    this.gauges.ioc_cache_segments.set(s.cache.segments);
    this.gauges.ioc_cache_pinned_segments.set(s.cache.pinned);
    this.gauges.ioc_cache_limit_bytes.set(s.cache.limitBytes);
  }

  /** The daemon did not answer: ioc_up 0; the last figures stay, with their age. */
  stale(now = Date.now()): void {
    this.up.set(0);
    if (this.lastUpdate === undefined) this.age.reset();
    else this.age.set((now - this.lastUpdate) / 1000);
  }

  /** The daemon process's figures from /proc (left out when there is no such process). */
  updateProcess(pid: number | undefined): void {
    const p = pid === undefined ? undefined : daemonProcessStats(pid);
    if (!p) {
      this.procCpu.reset();
      for (const g of Object.values(this.proc)) g.reset();
      return;
    }
    this.procCpu.reset();
    this.procCpu.inc(p.cpuSeconds);
    this.proc.ioc_daemon_resident_memory_bytes.set(p.residentBytes);
    this.proc.ioc_daemon_virtual_memory_bytes.set(p.virtualBytes);
    this.proc.ioc_daemon_open_fds.set(p.openFds);
    if (p.maxFds !== undefined) this.proc.ioc_daemon_max_fds.set(p.maxFds);
    this.proc.ioc_daemon_threads.set(p.threads);
    this.proc.ioc_daemon_start_time_seconds.set(p.startTimeSeconds);
    this.proc.ioc_daemon_stopped.set(p.state === 'T' || p.state === 't' ? 1 : 0);
  }

  /** The exposition text: the wrapper's figures, then the daemon's once it has answered. */
  async text(): Promise<string> {
    const head = await this.always.metrics();
    return this.lastUpdate === undefined ? head : `${head}${await this.registry.metrics()}`;
  }
}

/** HOST:PORT -> host and port (IPv6 hosts in brackets). */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  if (!m || !m[1] || Number(m[2]) > 65535) throw new Error(`bad address '${text}' (expected HOST:PORT)`);
  return { host: m[1], port: Number(m[2]) };
}

/** Starts the HTTP endpoint; resolves once listening (rejects when the address cannot be bound). */
export interface MetricsServerOptions {
  /** The daemon's pid, for its process metrics. */
  daemonPid?: () => number | undefined;
  /** How long /metrics waits for the daemon before serving its last figures (default 3000 ms). */
  scrapeTimeoutMs?: number;
}

export async function startMetricsServer(address: string, control: () => DaemonControl | undefined, opts: MetricsServerOptions = {}): Promise<http.Server> {
  const { host, port } = parseHostPort(address);
  const metrics = new ServerMetricsRegistry({ wrapperMetrics: true });
  const envTimeout = Number(process.env.IOC_METRICS_SCRAPE_TIMEOUT_MS);
  const scrapeTimeoutMs = opts.scrapeTimeoutMs ?? (envTimeout > 0 ? envTimeout : 3000);
  // One "stats" question at a time: scrapes of a stalled daemon share the pending one instead
  // of queueing a command each.
  let pendingStats: Promise<DaemonStats> | undefined;
  const askStats = (c: DaemonControl): Promise<DaemonStats> => {
    if (!pendingStats) {
      pendingStats = c.query<DaemonStats>('stats');
      const clear = () => { pendingStats = undefined; };
      pendingStats.then(clear, clear);
    }
    return pendingStats;
  };
  const within = <T>(p: Promise<T>, ms: number): Promise<T> => new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
  const json = (res: http.ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(body)}\n`);
  };
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'only GET' });
    const c = control();
    const handle = async () => {
      switch (url) {
        case '/metrics': {
          try {
            if (!c) throw new Error('daemon not started');
            metrics.update(await within(askStats(c), scrapeTimeoutMs));
          } catch {
            metrics.stale();
          }
          metrics.updateProcess(opts.daemonPid?.());
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          return res.end(await metrics.text());
        }
        case '/stats':
        case '/objects':
          if (!c) return json(res, 503, { error: 'daemon not started' });
          try {
            return json(res, 200, await c.query(url === '/stats' ? 'stats' : 'ls'));
          } catch (e) {
            return json(res, 503, { error: (e as Error).message });
          }
        case '/':
          res.writeHead(200, { 'content-type': 'text/plain' });
          return res.end('iocatcher-server: /metrics (Prometheus), /stats, /objects (JSON)\n');
        default:
          return json(res, 404, { error: `no ${url} (try /metrics, /stats, /objects)` });
      }
    };
    handle().catch((e) => json(res, 500, { error: (e as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
