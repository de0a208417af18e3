// The one description of iocatcher-server's options. Everything else comes from it: the CLI's
// parser and --help (options.ts, options-text.ts), the config-file keys and IOC_* variables
// (config.ts), the daemon's arguments (daemonArgs), the daemon's getopt table, usage text, checks
// and defaults (native/server/options_table.h) and the option reference in docs/operations.md.
// After a change: `node scripts/gen-options.js` rewrites the last two (bash scripts/setup.sh runs
// it); test/options-table.test.ts fails while they differ from this table.

/**
 * How an option takes its value:
 * flag: none; int: digits, within min-max; size: the SIZE syntax (src/size.ts), within min-max,
 * a multiple of multipleOf; enum: one of values; string: any, not empty; list: comma-separated
 * strings (a list in a config file); store: a directory or rados://POOL; categories: an optional
 * =CATS of DEBUG_CATEGORIES; host-port: HOST:PORT.
 */
export type OptionKind = 'flag' | 'int' | 'size' | 'enum' | 'string' | 'list' | 'store' | 'categories' | 'host-port';

export interface OptionSpec {
  /** Long name: --NAME; also the config-file key (kebab- or camelCase) and IOC_NAME. */
  readonly name: string;
  readonly short?: string;
  readonly kind: OptionKind;
  /** The value's placeholder in --help (PORT, SIZE); enums show their values. */
  readonly arg?: string;
  /** Default, as written on a command line; absent: none, or computed at start (defaultText). */
  readonly default?: string | number;
  /** The default in words when the daemon computes it at start. */
  readonly defaultText?: string;
  /** int: numbers; size: SIZE strings (min 1 unless given: a size is never 0). */
  readonly min?: number | string;
  readonly max?: number | string;
  /** size: the value is a multiple of this SIZE. */
  readonly multipleOf?: string;
  /** size: 'off' is accepted too (as 0). */
  readonly off?: boolean;
  /** int: what the number counts, in error messages ("seconds"). */
  readonly unit?: string;
  readonly values?: readonly string[];
  /** int: must be below this option's value (defaults included). */
  readonly below?: string;
  /** One line of help, without the default ({categories}: the --verbose categories). */
  readonly help: string;
  /** Other spellings with their own help line (--store rados://POOL, -v=CATS). */
  readonly forms?: ReadonlyArray<{ readonly syntax: string; readonly help: string }>;
  /** Accepted by the native daemon (false: the wrapper's own option, never passed on). Default true. */
  readonly daemon?: boolean;
  /** A config-file key and an IOC_* variable. Default true. */
  readonly config?: boolean;
}

/** Categories of -v=CATS: the daemon's (native/server/log.cc) and the wrapper's; "all": every one. */
export const DEBUG_CATEGORIES: readonly string[] = ['fabric', 'protocol', 'auth', 'server', 'cache', 'tcp', 'rados', 'stats', 'config', 'metrics', 'all'];

/** The positional argument; a config key (listen-ip) and IOC_LISTEN_IP too. */
export const LISTEN_IP = {
  name: 'listen-ip',
  arg: 'LISTEN_IP',
  help: 'IPv4 address to serve on: libfabric on LISTEN_IP:PORT, the TCP side channel on PORT+1',
} as const;

export const SERVER_OPTIONS: readonly OptionSpec[] = [
  { name: 'port', kind: 'int', arg: 'PORT', default: 8556, min: 1, max: 65534, help: 'libfabric port; the TCP side channel uses PORT+1' },
  {
    name: 'store', kind: 'store', arg: 'DIR', default: './iocatcher-store', help: 'backing store: one sparse file per object under DIR',
    forms: [{ syntax: '--store rados://POOL', help: 'backing store: one RADOS object per object in the Ceph pool POOL (named ioc.<HIGH>.<LOW>, 16 hex digits each)' }],
  },
  { name: 'ceph-conf', kind: 'string', arg: 'FILE', defaultText: '$CEPH_CONF, then /etc/ceph/ceph.conf', help: 'Ceph configuration of a rados:// store' },
  { name: 'ceph-client', kind: 'string', arg: 'NAME', default: 'client.admin', help: 'Ceph client name of a rados:// store' },
  {
    name: 'nvdimm', short: 'n', kind: 'list', arg: 'DIR[,DIR...]',
    help: 'keep the segment cache in persistent memory: one pool file (DIR/iocatcher-pool, mapped with libpmem) per directory, ' +
      'segments spread across them; acknowledged writes survive a crash and are recovered at the next start on the same ' +
      'directories and --store',
  },
  { name: 'no-consistency-check', short: 'c', kind: 'flag', help: 'accept overlapping write range registrations' },
  {
    name: 'no-auth', short: 'a', kind: 'flag',
    help: "do not check client keys (the TCP side channel is still kept: its close releases a dead client's range registrations)",
  },
  { name: 'active-polling', short: 'p', kind: 'flag', help: 'busy-poll the completion queue (lower latency, uses a core)' },
  {
    name: 'verbose', short: 'v', kind: 'categories', help: 'print read/write throughput and cache figures every second',
    forms: [{
      syntax: '-v=CATS, --verbose=CATS',
      help: 'debug logs of the comma-separated categories CATS ({categories}; "all": every one); the per-second line too if ' +
        'CATS has "stats". IOC_DEBUG=1: debug logs of every category',
    }],
  },
  {
    name: 'metrics', kind: 'host-port', arg: 'HOST:PORT', daemon: false,
    help: 'serve Prometheus metrics on http://HOST:PORT/metrics (and JSON on /stats and /objects for the iocatcher admin command); off by default',
  },
  { name: 'log-format', kind: 'enum', values: ['text', 'json'], default: 'text', daemon: false, help: 'log lines as text or as JSON records (pino), on stderr' },
  {
    name: 'config', kind: 'string', arg: 'FILE', daemon: false, config: false,
    help: 'read options from FILE (JSON, or YAML for .yaml/.yml): keys are the long option names, kebab-case or camelCase ' +
      '("cache-size": "1GB", "noAuth": true, "listenIp": "10.0.0.5", "nvdimm": ["/a", "/b"])',
  },
  { name: 'provider', kind: 'string', arg: 'NAME', defaultText: '$FI_PROVIDER or tcp;ofi_rxm', help: 'libfabric provider, e.g. shm or net' },
  { name: 'segment-size', kind: 'size', arg: 'SIZE', default: '8MB', multipleOf: '4096', max: '1GB', help: 'cache segment size' },
  { name: 'max-transfer', kind: 'size', arg: 'SIZE', default: '4GB', help: 'largest single read or write accepted' },
  {
    name: 'max-message', kind: 'size', arg: 'SIZE', default: '36KB', min: '64B', max: '36KB',
    help: 'largest request message accepted; larger ones are refused with EMSGSIZE',
  },
  { name: 'max-object-size', kind: 'size', arg: 'SIZE', default: '1TB', help: 'no object byte at or beyond this offset: a request past it fails with EFBIG' },
  {
    name: 'rma-timeout', kind: 'int', arg: 'SECONDS', default: 30, min: 1, max: 86400, unit: 'seconds',
    help: 'an RMA transfer with a client that has not completed by then fails its request with ETIMEDOUT',
  },
  {
    name: 'slow-store-warning', kind: 'int', arg: 'SECONDS', default: 10, min: 0, max: 86400, unit: 'seconds',
    help: 'log a warning, naming the object, when a store operation (load, write-back, lookup, delete...) has run this ' +
      'long, and again when it ends; 0: never',
  },
  {
    name: 'shutdown-timeout', kind: 'int', arg: 'SECONDS', default: 60, min: 1, max: 86400, unit: 'seconds',
    help: 'at SIGINT/SIGTERM, wait at most this long for the store to take the dirty data; then exit 1, logging every ' +
      'object whose dirty bytes stay in the --nvdimm pool or are lost',
  },
  {
    name: 'write-behind', kind: 'enum', values: ['on', 'off'], default: 'on',
    help: 'start writing dirty segments to the store as soon as they land, in the background (a flush then waits only ' +
      'for what is left); off keeps them in the cache until a flush or a spill',
  },
  {
    name: 'cache-size', kind: 'size', arg: 'SIZE', defaultText: 'a quarter of the RAM, at most 64GB',
    help: 'bound of the segment cache; beyond it, dirty segments spill to the store and the least recently used are dropped',
  },
  {
    name: 'prefault', kind: 'size', arg: 'SIZE', off: true, min: '0', defaultText: '--cache-size, at most 1GB',
    help: 'cache memory faulted in at start by a background thread at low priority and kept that far ahead of the memory ' +
      'in use (up to --cache-size); it is kept when segments are dropped, so that a burst of writes does not pay page ' +
      'faults; what it faulted in stays resident',
  },
  { name: 'high-water', kind: 'int', arg: 'PCT', default: 90, min: 1, max: 100, unit: 'a percentage', help: 'start spilling/dropping above PCT% of --cache-size' },
  {
    name: 'low-water', kind: 'int', arg: 'PCT', default: 70, min: 1, max: 100, unit: 'a percentage', below: 'high-water',
    help: 'once above --high-water, spill/drop until the cache is down to PCT% of --cache-size',
  },
  {
    name: 'max-clients', kind: 'int', arg: 'N', min: 1, max: 1000000,
    defaultText: 'from the open-file limit, raised to its hard limit: (limit - 256) / 9',
    help: 'clients served at once (one TCP side channel and up to 8 libfabric connections each); a client beyond it is ' +
      'refused at once (EUSERS), logged once per episode',
  },
  {
    name: 'stats-interval', kind: 'int', arg: 'SECONDS', default: 60, min: 0, unit: 'seconds',
    help: 'log the cache figures (hits, misses, spilled and dirty bytes) this often when they change; 0: never',
  },
  { name: 'help', short: 'h', kind: 'flag', config: false, help: 'show this help' },
  { name: 'version', kind: 'flag', config: false, help: 'print the version' },
];

/** The option named `name` (long name), if any. */
export function optionSpec(name: string): OptionSpec | undefined {
  return SERVER_OPTIONS.find((s) => s.name === name);
}

/** ServerOptions' property of an option: cache-size -> cacheSize. */
export const camelName = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Whether the native daemon takes the option (the wrapper passes it on). */
export const isDaemonOption = (s: OptionSpec): boolean => s.daemon !== false;

/** Whether the option is a config-file key and an IOC_* variable. */
export const isConfigOption = (s: OptionSpec): boolean => s.config !== false;
