// Command line of iocatcher-server: parsing, validation and --help. The daemon itself is native
// (build/Release/iocatcher-serverd); this module turns options into its arguments.
import { isIPv4 } from 'net';
import { parseArgs } from 'util';
import { IocError } from '../errors';
import { parseSize, SIZE_SYNTAX } from '../size';

export interface ServerOptions {
  listenIp: string;
  port: number;
  store: string;
  /** Ceph configuration file of a rados:// store (default: $CEPH_CONF or Ceph's search path). */
  cephConf?: string;
  /** Ceph client (entity) name of a rados:// store (default client.admin). */
  cephClient?: string;
  nvdimm: string[];
  noConsistencyCheck: boolean;
  noAuth: boolean;
  activePolling: boolean;
  verbose: string | boolean;
  provider?: string;
  segmentSize?: string;
  maxTransfer?: string;
  /** Largest request message accepted (at most 36KB, the default). */
  maxMessage?: string;
  /** No object byte at or beyond this offset (default 1TB). */
  maxObjectSize?: string;
  /** Seconds before an RMA transfer that has not completed fails its request (default 30). */
  rmaTimeout?: number;
  shutdownTimeout?: number;
  writeBehind?: 'on' | 'off';
  cacheSize?: string;
  prefault?: string;
  highWater?: number;
  lowWater?: number;
  statsInterval?: number;
  /** Clients (TCP side channels) served at once; beyond it a new client is refused with EUSERS. */
  maxClients?: number;
  /** HOST:PORT of the Prometheus metrics / admin HTTP endpoint (off when absent). */
  metrics?: string;
  /** Configuration file (JSON or YAML) the options were read from, if any. */
  config?: string;
  /** Log output: 'text' (default; `[iocatcher TIME LEVEL CATEGORY] message` lines) or 'json' (pino NDJSON). */
  logFormat?: 'text' | 'json';
  help: boolean;
  version?: boolean;
}

/** Categories of -v=CATS (native/server/log.cc and this CLI log under these names). */
export const DEBUG_CATEGORIES = ['fabric', 'protocol', 'auth', 'server', 'cache', 'tcp', 'rados', 'stats', 'config', 'metrics', 'all'];

export const USAGE = `Usage: iocatcher-server [options] LISTEN_IP

Serves iocatcher objects (protocol v2) over libfabric on LISTEN_IP:PORT, with a TCP side
channel on PORT+1, caching segments in memory and persisting them to a backing store.

Options:
  --port PORT                 libfabric port (default 8556; the TCP side channel uses PORT+1)
  --store DIR                 backing store: one sparse file per object under DIR
                              (default ./iocatcher-store)
  --store rados://POOL        backing store: one RADOS object per object in the Ceph pool POOL
                              (named ioc.<HIGH>.<LOW>, 16 hex digits each)
  --ceph-conf FILE            Ceph configuration of a rados:// store (default: $CEPH_CONF, then
                              /etc/ceph/ceph.conf)
  --ceph-client NAME          Ceph client name of a rados:// store (default client.admin)
  -n, --nvdimm DIR[,DIR...]   keep the segment cache in persistent memory: one pool file
                              (DIR/iocatcher-pool, mapped with libpmem) per directory, segments
                              spread across them; acknowledged writes survive a crash and are
                              recovered at the next start on the same directories and --store
  -c, --no-consistency-check  accept overlapping write range registrations
  -a, --no-auth               do not check client keys (the TCP side channel is still kept:
                              its close releases a dead client's range registrations)
  -p, --active-polling        busy-poll the completion queue (lower latency, uses a core)
  -v, --verbose               print read/write throughput and cache figures every second
  -v=CATS, --verbose=CATS     debug logs of the comma-separated categories CATS (fabric,
                              protocol, auth, server, cache, tcp, rados, stats, config, metrics;
                              "all": every one); the per-second line too if CATS has "stats".
                              IOC_DEBUG=1: debug logs of every category
  --metrics HOST:PORT         serve Prometheus metrics on http://HOST:PORT/metrics (and JSON on
                              /stats and /objects for the iocatcher admin command); off by default
  --log-format text|json      log lines as text (default) or as JSON records (pino), on stderr
  --config FILE               read options from FILE (JSON, or YAML for .yaml/.yml): keys are the
                              long option names, kebab-case or camelCase ("cache-size": "1GB",
                              "noAuth": true, "listenIp": "10.0.0.5", "nvdimm": ["/a", "/b"])
  --provider NAME             libfabric provider (default: $FI_PROVIDER or tcp;ofi_rxm; also shm, net)
  --segment-size SIZE         cache segment size, multiple of 4096 (default 8MB)
  --max-transfer SIZE         largest single read or write accepted (default 4GB)
  --max-message SIZE          largest request message accepted, at most and by default 36KB
                              (larger ones are refused with EMSGSIZE)
  --max-object-size SIZE      no object byte at or beyond this offset (default 1TB; EFBIG)
  --rma-timeout SECONDS       an RMA transfer with a client that has not completed by then
                              fails its request with ETIMEDOUT (default 30)
  --shutdown-timeout SECONDS  at SIGINT/SIGTERM, wait at most this long for the store to take
                              the dirty data (default 60); then exit 1, logging every object
                              whose dirty bytes stay in the --nvdimm pool or are lost
  --write-behind on|off       start writing dirty segments to the store as soon as they land,
                              in the background (default on: a flush then waits only for what
                              is left); off keeps them in the cache until a flush or a spill
  --cache-size SIZE           bound of the segment cache (default: a quarter of the RAM, at
                              most 64GB); beyond it, dirty segments spill to the store and the
                              least recently used are dropped
  --prefault SIZE|off         cache memory faulted in at start by a background thread at low
                              priority and kept that far ahead of the memory in use (up to
                              --cache-size); it is kept when segments are dropped, so that a
                              burst of writes does not pay page faults (default: --cache-size,
                              at most 1GB; what it faulted in stays resident)
  --high-water PCT            start spilling/dropping above PCT% of --cache-size (default 90)
  --low-water PCT             ... until the cache is down to PCT% (default 70)
  --max-clients N             clients served at once (one TCP side channel and up to 8
                              libfabric connections each); a client beyond it is refused at
                              once (EUSERS), logged once per episode (default: from the
                              open-file limit, raised to its hard limit: (limit - 256) / 9)
  --stats-interval SECONDS    log the cache figures (hits, misses, spilled and dirty bytes)
                              this often when they change (default 60; 0: never)
  -h, --help                  show this help
  --version                   print the version

Every option can also come from an IOC_* environment variable named after it (IOC_PORT,
IOC_STORE, IOC_CACHE_SIZE, IOC_NO_AUTH=1, IOC_METRICS, IOC_LISTEN_IP, IOC_CONFIG, ...).
Precedence: command line, then environment, then --config file, then defaults; the effective
configuration is logged at start.

SIZE: ${SIZE_SYNTAX}.
An IOC_* variable that is not one of iocatcher's and is within two letters of one is an error.
Signals: SIGINT/SIGTERM flush dirty data to the store and stop cleanly; SIGUSR1 (to the
daemon, iocatcher-serverd) logs the cache figures now.
`;

/** A SIZE option: the shared syntax (src/size.ts), and not zero. */
function sizeValue(name: string, v: string): string {
  let bytes: number;
  try {
    bytes = parseSize(v, name);
  } catch {
    throw new IocError('EINVAL', `invalid size for ${name}: '${v}' (expected ${SIZE_SYNTAX})`);
  }
  if (bytes === 0) throw new IocError('EINVAL', `invalid size for ${name}: '${v}' (must not be 0)`);
  return v;
}

/** Options of the command line, for util.parseArgs (-v=CATS is rewritten to --verbose=CATS). */
const OPTION_TYPES = {
  help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' }, port: { type: 'string' }, store: { type: 'string' },
  'ceph-conf': { type: 'string' }, 'ceph-client': { type: 'string' }, nvdimm: { type: 'string', short: 'n' },
  'no-consistency-check': { type: 'boolean', short: 'c' }, 'no-auth': { type: 'boolean', short: 'a' },
  'active-polling': { type: 'boolean', short: 'p' }, verbose: { type: 'boolean', short: 'v' }, provider: { type: 'string' },
  'segment-size': { type: 'string' }, 'max-transfer': { type: 'string' }, 'max-message': { type: 'string' },
  'max-object-size': { type: 'string' }, 'rma-timeout': { type: 'string' }, 'shutdown-timeout': { type: 'string' },
  'write-behind': { type: 'string' }, prefault: { type: 'string' }, 'cache-size': { type: 'string' }, 'high-water': { type: 'string' },
  'low-water': { type: 'string' }, 'stats-interval': { type: 'string' }, 'max-clients': { type: 'string' },
  metrics: { type: 'string' }, config: { type: 'string' }, 'log-format': { type: 'string' },
} as const;

export function parseServerArgs(args: string[]): ServerOptions {
  const o: ServerOptions = {
    listenIp: '', port: 8556, store: './iocatcher-store', nvdimm: [], noConsistencyCheck: false,
    noAuth: false, activePolling: false, verbose: false, help: false,
  };
  const positional: string[] = [];
  // util.parseArgs splits the command line; token mode (non-strict) lets the checks below word
  // every error. -v=CATS is the old spelling of --verbose=CATS, which parseArgs takes as a group
  // of short options.
  const argv = args.map((a) => (a.startsWith('-v=') ? `--verbose=${a.slice(3)}` : a));
  const { tokens } = parseArgs({ args: argv, options: OPTION_TYPES, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      positional.push(t.value);
      continue;
    }
    if (!(t.name in OPTION_TYPES)) throw new IocError('EINVAL', `unknown option '${args[t.index]}' (see --help)`);
    const a = `--${t.name}`;
    const inline = t.inlineValue ? t.value : undefined;
    if (OPTION_TYPES[t.name as keyof typeof OPTION_TYPES].type === 'boolean' && t.value !== undefined && t.name !== 'verbose') {
      throw new IocError('EINVAL', `option ${t.rawName} takes no value`);
    }
    const value = (name: string): string => {
      if (t.value === undefined || t.value === '') throw new IocError('EINVAL', `option ${name} needs a value`);
      return t.value;
    };
    switch (a) {
      case '--help': o.help = true; break;
      case '--version': o.version = true; break;
      case '--port': {
        const v = value(a);
        const p = Number(v);
        if (!/^\d+$/.test(v) || p < 1 || p > 65534) throw new IocError('EINVAL', `invalid --port '${v}' (1-65534)`);
        o.port = p;
        break;
      }
      case '--store': {
        const v = value(a);
        if (v.startsWith('rados://') && !/^rados:\/\/[^/\s]+$/.test(v)) {
          throw new IocError('EINVAL', `invalid --store '${v}' (expected rados://POOL)`);
        }
        o.store = v;
        break;
      }
      case '--ceph-conf': o.cephConf = value(a); break;
      case '--ceph-client': o.cephClient = value(a); break;
      case '--nvdimm': o.nvdimm.push(...value(a).split(',').filter((s) => s)); break;
      case '--no-consistency-check': o.noConsistencyCheck = true; break;
      case '--no-auth': o.noAuth = true; break;
      case '--active-polling': o.activePolling = true; break;
      case '--verbose': {
        // A misspelt category would silently log nothing: refuse it.
        const bad = (inline ?? '').split(',').filter((c) => c && !DEBUG_CATEGORIES.includes(c));
        if (bad.length) throw new IocError('EINVAL', `unknown --verbose category '${bad[0]}' (${DEBUG_CATEGORIES.join(', ')})`);
        o.verbose = inline ?? true;
        break;
      }
      case '--provider': o.provider = value(a); break;
      case '--max-message': case '--max-object-size': {
        const v = sizeValue(a, value(a));
        if (a === '--max-message') o.maxMessage = v; else o.maxObjectSize = v;
        break;
      }
      case '--prefault': {
        const v = value(a);
        // 0 is allowed here (nothing faulted in), as off.
        if (v !== 'off') {
          try {
            parseSize(v, a);
          } catch {
            throw new IocError('EINVAL', `invalid --prefault '${v}' (off, or ${SIZE_SYNTAX})`);
          }
        }
        o.prefault = v;
        break;
      }
      case '--write-behind': {
        const v = value(a);
        if (v !== 'on' && v !== 'off') throw new IocError('EINVAL', `invalid --write-behind '${v}' (on or off)`);
        o.writeBehind = v;
        break;
      }
      case '--rma-timeout': case '--shutdown-timeout': {
        const v = value(a);
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 86400) throw new IocError('EINVAL', `invalid ${a} '${v}' (seconds, 1-86400)`);
        if (a === '--rma-timeout') o.rmaTimeout = Number(v); else o.shutdownTimeout = Number(v);
        break;
      }
      case '--segment-size': case '--max-transfer': case '--cache-size': {
        const v = sizeValue(a, value(a));
        if (a === '--segment-size') o.segmentSize = v;
        else if (a === '--max-transfer') o.maxTransfer = v;
        else o.cacheSize = v;
        break;
      }
      case '--high-water': case '--low-water': {
        const v = value(a);
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > 100) throw new IocError('EINVAL', `${a} takes a percentage (1-100), got '${v}'`);
        if (a === '--high-water') o.highWater = n; else o.lowWater = n;
        break;
      }
      case '--metrics': {
        const v = value(a);
        const m = /^(.+):(\d+)$/.exec(v);
        if (!m || Number(m[2]) > 65535) throw new IocError('EINVAL', `invalid --metrics '${v}' (expected HOST:PORT)`);
        o.metrics = v;
        break;
      }
      case '--config': o.config = value(a); break;
      case '--log-format': {
        const v = value(a);
        if (v !== 'text' && v !== 'json') throw new IocError('EINVAL', `invalid --log-format '${v}' (text or json)`);
        o.logFormat = v;
        break;
      }
      case '--max-clients': {
        const v = value(a);
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1000000) throw new IocError('EINVAL', `invalid --max-clients '${v}' (1-1000000)`);
        o.maxClients = Number(v);
        break;
      }
      case '--stats-interval': {
        const v = value(a);
        if (!/^\d+$/.test(v)) throw new IocError('EINVAL', `invalid --stats-interval '${v}' (seconds)`);
        o.statsInterval = Number(v);
        break;
      }
      default:
        throw new IocError('EINVAL', `unknown option '${args[t.index]}' (see --help)`);
    }
  }
  if (o.help || o.version) return o;
  if ((o.lowWater ?? 70) >= (o.highWater ?? 90)) throw new IocError('EINVAL', '--low-water must be below --high-water');
  if (positional.length !== 1) throw new IocError('EINVAL', 'expected exactly one LISTEN_IP (see --help)');
  if (!isIPv4(positional[0])) throw new IocError('EINVAL', `LISTEN_IP must be an IPv4 address, got '${positional[0]}'`);
  o.listenIp = positional[0];
  return o;
}

/** Arguments of the native daemon for these options. */
export function daemonArgs(o: ServerOptions): string[] {
  const a = ['--port', String(o.port), '--store', o.store];
  if (o.nvdimm.length) a.push('--nvdimm', o.nvdimm.join(','));
  if (o.noConsistencyCheck) a.push('--no-consistency-check');
  if (o.noAuth) a.push('--no-auth');
  if (o.activePolling) a.push('--active-polling');
  if (o.verbose) a.push(typeof o.verbose === 'string' && o.verbose ? `--verbose=${o.verbose}` : '--verbose');
  if (o.provider) a.push('--provider', o.provider);
  if (o.cephConf) a.push('--ceph-conf', o.cephConf);
  if (o.cephClient) a.push('--ceph-client', o.cephClient);
  if (o.segmentSize) a.push('--segment-size', o.segmentSize.replace(/\s+/g, ''));
  if (o.maxTransfer) a.push('--max-transfer', o.maxTransfer.replace(/\s+/g, ''));
  if (o.maxMessage) a.push('--max-message', o.maxMessage.replace(/\s+/g, ''));
  if (o.maxObjectSize) a.push('--max-object-size', o.maxObjectSize.replace(/\s+/g, ''));
  if (o.rmaTimeout !== undefined) a.push('--rma-timeout', String(o.rmaTimeout));
  if (o.shutdownTimeout !== undefined) a.push('--shutdown-timeout', String(o.shutdownTimeout));
  if (o.writeBehind) a.push('--write-behind', o.writeBehind);
  if (o.cacheSize) a.push('--cache-size', o.cacheSize.replace(/\s+/g, ''));
  if (o.prefault) a.push('--prefault', o.prefault.replace(/\s+/g, ''));
  if (o.highWater !== undefined) a.push('--high-water', String(o.highWater));
  if (o.lowWater !== undefined) a.push('--low-water', String(o.lowWater));
  if (o.statsInterval !== undefined) a.push('--stats-interval', String(o.statsInterval));
  if (o.maxClients !== undefined) a.push('--max-clients', String(o.maxClients));
  a.push(o.listenIp);
  return a;
}
