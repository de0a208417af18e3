// Metrics of a running daemon, served over HTTP by iocatcher-server --metrics HOST:PORT:
//   /metrics   Prometheus text format (prom-client registry)
//   /stats     the daemon's counters as JSON (iocatcher stats)
//   /objects   the objects holding cached segments as JSON (iocatcher ls)
// The counters live in the native daemon (native/server/metrics.cc); the wrapper asks for them
// over a control socket (the daemon's fd 3, IOC_CONTROL_FD) on each request: one command line
// ("stats", "ls") answered by one JSON line.
import * as http from 'http';
import { Duplex } from 'stream';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The daemon's answer to "stats" (see ServerMetrics::json). */
export interface DaemonStats {
  requests: Record<string, number>;
  latency: { bounds: number[]; types: Record<string, { buckets: number[]; sum: number; count: number }> };
  transfers: { eager: { read: number; write: number }; rma: { read: number; write: number } };
  bytes: { read: number; written: number };
  errors: Array<{ type: string; code: string; count: number }>;
  drops: number;
  clients: { tcp: number; fabric: number };
  inflight: number;
  cache: {
    segments: number; bytes: number; dirtyBytes: number; pinned: number; hits: number; misses: number;
    flushedBytes: number; spilledBytes: number; drainedBytes: number; storeJobs: number; refusedWrites: number; evictions: number; limitBytes: number;
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
  private waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
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
        if (w) {
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
      const timer = setTimeout(() => {
        const i = this.waiting.findIndex((w) => w.timer === timer);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`the daemon did not answer '${command}' within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.push({ resolve, reject, timer });
      this.socket.write(`${command}\n`);
    });
    const answer = JSON.parse(line);
    if (answer && typeof answer.error === 'string') throw new Error(answer.error);
    return answer as T;
  }

  close(): void {
    this.socket.destroy();
  }
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

/** The Prometheus metrics of a daemon; update() sets them from a "stats" answer. */
export class ServerMetricsRegistry {
  readonly registry = new Registry();
  private readonly counters: Record<string, Counter<string>> = {};
  private readonly gauges: Record<string, Gauge<string>> = {};
  private readonly latency: DaemonHistogram;

  constructor() {
    const counter = (name: string, help: string, labelNames: string[] = []) => {
      this.counters[name] = new Counter({ name, help, labelNames, registers: [this.registry] });
    };
    const gauge = (name: string, help: string, labelNames: string[] = []) => {
      this.gauges[name] = new Gauge({ name, help, labelNames, registers: [this.registry] });
    };
    gauge('ioc_up', '1 when the daemon answered the last scrape');
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
    gauge('ioc_connected_clients', 'Connected clients: TCP side channels and libfabric endpoints', ['channel']);
    gauge('ioc_inflight_requests', 'Requests waiting for their RMA transfers');
    counter('ioc_cache_hits_total', 'Segment lookups served from the cache');
    counter('ioc_cache_misses_total', 'Segment lookups that had to allocate or load a segment');
    counter('ioc_cache_spilled_bytes_total', 'Dirty bytes written back to the store by eviction');
    counter('ioc_cache_flushed_bytes_total', 'Dirty bytes written back to the store by flush');
    counter('ioc_cache_drained_bytes_total', 'Dirty bytes written back to the store in the background (write-behind)');
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
  update(s: DaemonStats): void {
    for (const c of Object.values(this.counters)) c.reset();
    this.gauges.ioc_up.set(1);
    for (const [type, n] of Object.entries(s.requests)) this.setCounter('ioc_requests_total', n, { type });
    this.latency.setSnapshot(s.latency);
    for (const mode of ['eager', 'rma'] as const) {
      for (const op of ['read', 'write'] as const) this.setCounter('ioc_transfers_total', s.transfers[mode][op], { mode, op });
    }
    this.setCounter('ioc_read_bytes_total', s.bytes.read);
    this.setCounter('ioc_written_bytes_total', s.bytes.written);
    for (const e of s.errors) this.setCounter('ioc_errors_total', e.count, { type: e.type, code: e.code });
    this.setCounter('ioc_dropped_messages_total', s.drops);
    this.gauges.ioc_connected_clients.set({ channel: 'tcp' }, s.clients.tcp);
    this.gauges.ioc_connected_clients.set({ channel: 'fabric' }, s.clients.fabric);
    this.gauges.ioc_inflight_requests.set(s.inflight);
    this.setCounter('ioc_cache_hits_total', s.cache.hits);
    this.setCounter('ioc_cache_misses_total', s.cache.misses);
    this.setCounter('ioc_cache_spilled_bytes_total', s.cache.spilledBytes);
    this.setCounter('ioc_cache_flushed_bytes_total', s.cache.flushedBytes);
    this.setCounter('ioc_cache_drained_bytes_total', s.cache.drainedBytes ?? 0);
    this.setCounter('ioc_cache_refused_writes_total', s.cache.refusedWrites ?? 0);
    this.gauges.ioc_store_jobs.set(s.cache.storeJobs ?? 0);
    this.setCounter('ioc_cache_evictions_total', s.cache.evictions);
    this.gauges.ioc_cache_bytes.set(s.cache.bytes);
    this.gauges.ioc_cache_dirty_bytes.set(s.cache.dirtyBytes);
    this.gauges.ioc_cache_segments.set(s.cache.segments);
    this.gauges.ioc_cache_pinned_segments.set(s.cache.pinned);
    this.gauges.ioc_cache_limit_bytes.set(s.cache.limitBytes);
  }

  /** The daemon did not answer: ioc_up 0, nothing else exported. */
  down(): void {
    for (const c of Object.values(this.counters)) c.reset();
    for (const g of Object.values(this.gauges)) g.reset();
    this.latency.setSnapshot({ bounds: [], types: {} });
    this.gauges.ioc_up.set(0);
  }
}

/** HOST:PORT -> host and port (IPv6 hosts in brackets). */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  if (!m || !m[1] || Number(m[2]) > 65535) throw new Error(`bad address '${text}' (expected HOST:PORT)`);
  return { host: m[1], port: Number(m[2]) };
}

/** Starts the HTTP endpoint; resolves once listening (rejects when the address cannot be bound). */
export async function startMetricsServer(address: string, control: () => DaemonControl | undefined): Promise<http.Server> {
  const { host, port } = parseHostPort(address);
  const metrics = new ServerMetricsRegistry();
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
            metrics.update(await c.query<DaemonStats>('stats'));
          } catch {
            metrics.down();
          }
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          return res.end(await metrics.registry.metrics());
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
