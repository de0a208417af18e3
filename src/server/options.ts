// Command line of iocatcher-server: parsing, validation and --help, all from the option table
// (options-table.ts). The daemon itself is native (build/Release/iocatcher-serverd); this module
// turns options into its arguments.
import { isIPv4 } from 'net';
import { parseArgs, ParseArgsConfig } from 'util';
import { IocError } from '../errors';
import { parseSize } from '../size';
import { camelName, DEBUG_CATEGORIES, isDaemonOption, OptionSpec, optionSpec, SERVER_OPTIONS } from './options-table';
import { cliUsage, messages } from './options-text';

export { DEBUG_CATEGORIES };

/**
 * What parseServerArgs returns: one property per option of the table (camelCase: --cache-size is
 * cacheSize; what each means is in options-table.ts), and LISTEN_IP. Options with a default in the
 * table always have a value; those whose default the daemon computes are unset unless given.
 * Sizes are kept as written.
 */
export interface ServerOptions {
  listenIp: string;
  port: number;
  store: string;
  cephConf?: string;
  cephClient: string;
  nvdimm: string[];
  noConsistencyCheck: boolean;
  noAuth: boolean;
  activePolling: boolean;
  /** true: -v; a string: -v=CATS. */
  verbose: string | boolean;
  metrics?: string;
  logFormat: 'text' | 'json';
  /** The configuration file (JSON or YAML) the options were read from, if any. */
  config?: string;
  provider?: string;
  segmentSize: string;
  maxTransfer: string;
  maxMessage: string;
  maxObjectSize: string;
  rmaTimeout: number;
  slowStoreWarning: number;
  shutdownTimeout: number;
  writeBehind: 'on' | 'off';
  cacheSize?: string;
  prefault?: string;
  highWater: number;
  lowWater: number;
  maxClients?: number;
  statsInterval: number;
  help: boolean;
  version: boolean;
}

export const USAGE = cliUsage();

/** The table as util.parseArgs takes it (-v=CATS is rewritten to --verbose=CATS). */
const PARSE_OPTIONS: ParseArgsConfig['options'] = Object.fromEntries(SERVER_OPTIONS.map((s) => [s.name, {
  type: s.kind === 'flag' || s.kind === 'categories' ? 'boolean' : 'string',
  ...(s.short ? { short: s.short } : {}),
}]));

/** The largest int option value when the table gives no max (the daemon keeps them in an int). */
export const INT_MAX = 2 ** 31 - 1;

/** Bytes of a SIZE written in the table (min, max, multipleOf). */
const tableBytes = (text: string | number) => parseSize(String(text));

/**
 * Option `s` given as `v`, checked against the table: a number (int), the strings of a list, or
 * the text itself (sizes are kept as written; the daemon parses them the same way).
 */
export function checkValue(s: OptionSpec, v: string): string | number | string[] {
  switch (s.kind) {
    case 'int': {
      if (!/^\d+$/.test(v) || Number(v) < Number(s.min ?? 0) || Number(v) > Number(s.max ?? INT_MAX)) throw new IocError('EINVAL', messages.int(s, v));
      return Number(v);
    }
    case 'size': {
      if (s.off && v === 'off') return v;
      let bytes: number;
      try {
        bytes = parseSize(v, `--${s.name}`);
      } catch {
        throw new IocError('EINVAL', messages.sizeSyntax(s, v));
      }
      const min = tableBytes(s.min ?? 1);
      if (bytes === 0 && min > 0) throw new IocError('EINVAL', messages.sizeZero(s, v));
      if (bytes < min || (s.max !== undefined && bytes > tableBytes(s.max)) || (s.multipleOf && bytes % tableBytes(s.multipleOf))) {
        throw new IocError('EINVAL', messages.sizeRange(s, v));
      }
      return v;
    }
    case 'enum':
      if (!s.values!.includes(v)) throw new IocError('EINVAL', messages.enum(s, v));
      return v;
    case 'store':
      if (v.startsWith('rados://') && !/^rados:\/\/[^/\s]+$/.test(v)) throw new IocError('EINVAL', messages.store(s, v));
      return v;
    case 'host-port': {
      const m = /^(.+):(\d+)$/.exec(v);
      if (!m || Number(m[2]) > 65535) throw new IocError('EINVAL', messages.hostPort(s, v));
      return v;
    }
    case 'categories': {
      // A misspelt category would silently log nothing: refuse it.
      const bad = v.split(',').find((c) => c && !DEBUG_CATEGORIES.includes(c));
      if (bad !== undefined) throw new IocError('EINVAL', messages.category(s, bad));
      return v;
    }
    case 'list': return v.split(',').filter((x) => x);
    default: return v;
  }
}

/** The options before the command line: the table's defaults (computed ones stay unset: the daemon's). */
function defaults(): ServerOptions {
  const o: Record<string, unknown> = { listenIp: '' };
  for (const s of SERVER_OPTIONS) {
    const key = camelName(s.name);
    if (s.kind === 'flag' || s.kind === 'categories') o[key] = false;
    else if (s.kind === 'list') o[key] = [];
    else if (s.default !== undefined) o[key] = s.default;
  }
  return o as unknown as ServerOptions;
}

export function parseServerArgs(args: string[]): ServerOptions {
  const o = defaults();
  const values = o as unknown as Record<string, unknown>;
  const positional: string[] = [];
  // util.parseArgs splits the command line; token mode (non-strict) lets the checks word every
  // error. -v=CATS is the old spelling of --verbose=CATS, which parseArgs takes as a group of
  // short options.
  const argv = args.map((a) => (a.startsWith('-v=') ? `--verbose=${a.slice(3)}` : a));
  const { tokens } = parseArgs({ args: argv, options: PARSE_OPTIONS, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      positional.push(t.value);
      continue;
    }
    const s = optionSpec(t.name);
    if (!s) throw new IocError('EINVAL', `unknown option '${args[t.index]}' (see --help)`);
    const key = camelName(s.name);
    if (s.kind === 'flag') {
      if (t.value !== undefined) throw new IocError('EINVAL', `option ${t.rawName} takes no value`);
      values[key] = true;
    } else if (s.kind === 'categories') {
      // -v alone: the per-second line; -v=CATS: debug logs of CATS.
      values[key] = t.inlineValue ? checkValue(s, t.value!) : true;
    } else {
      if (t.value === undefined || t.value === '') throw new IocError('EINVAL', messages.needsValue(s));
      const v = checkValue(s, t.value);
      if (Array.isArray(v)) (values[key] as string[]).push(...v);
      else values[key] = v;
    }
  }
  if (o.help || o.version) return o;
  for (const s of SERVER_OPTIONS) {
    if (s.below && Number(values[camelName(s.name)]) >= Number(values[camelName(s.below)])) throw new IocError('EINVAL', messages.below(s));
  }
  if (positional.length !== 1) throw new IocError('EINVAL', 'expected exactly one LISTEN_IP (see --help)');
  if (!isIPv4(positional[0])) throw new IocError('EINVAL', `LISTEN_IP must be an IPv4 address, got '${positional[0]}'`);
  o.listenIp = positional[0];
  return o;
}

/** Arguments of the native daemon for these options: every option of the daemon that is set. */
export function daemonArgs(o: ServerOptions): string[] {
  const a: string[] = [];
  const values = o as unknown as Record<string, unknown>;
  for (const s of SERVER_OPTIONS) {
    const v = values[camelName(s.name)];
    if (!isDaemonOption(s) || v === undefined || v === false || v === '' || (Array.isArray(v) && !v.length)) continue;
    if (v === true) a.push(`--${s.name}`);
    else if (s.kind === 'categories') a.push(`--${s.name}=${v}`);
    else if (Array.isArray(v)) a.push(`--${s.name}`, v.join(','));
    else a.push(`--${s.name}`, s.kind === 'size' ? String(v).replace(/\s+/g, '') : String(v));
  }
  a.push(o.listenIp);
  return a;
}
