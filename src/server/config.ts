// Server configuration from three sources besides the command line: a --config file (JSON or
// YAML), IOC_* environment variables, and the defaults. Precedence: command line > environment >
// file > defaults. Each source is turned into command-line arguments and parsed by the same
// parser (parseServerArgs), so that every option is validated the same way wherever it comes from.
import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { z } from 'zod';
import { checkEnvNames, closest } from '../env';
import { IocError } from '../errors';
import { parseServerArgs, ServerOptions } from './options';
import { isConfigOption, LISTEN_IP, optionSpec, SERVER_OPTIONS } from './options-table';
import { envName } from './options-text';

type Kind = 'value' | 'flag' | 'optional';
/** Config-file key (long option name) -> how it takes its value; 'listen-ip' is the LISTEN_IP argument. */
export const SERVER_OPTION_KEYS: Record<string, Kind> = Object.fromEntries([
  [LISTEN_IP.name, 'value'],
  ...SERVER_OPTIONS.filter(isConfigOption).map((s) => [s.name, s.kind === 'flag' ? 'flag' : s.kind === 'categories' ? 'optional' : 'value']),
]);
/** Short flag ('-n') -> long name. */
const SHORT: Record<string, string> = Object.fromEntries(SERVER_OPTIONS.filter((s) => s.short).map((s) => [`-${s.short}`, s.name]));
const isList = (key: string) => optionSpec(key)?.kind === 'list';

export type Source = 'command line' | 'environment' | 'config file' | 'default';
type Values = Map<string, string | boolean>;

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/_/g, '-');
/** IOC_* variable of an option: IOC_CACHE_SIZE for cache-size. */
export { envName };

// The shape of each option's value in a config file or an IOC_* variable (zod schemas). The value
// itself (a port's range, a size's syntax) is then checked by parseServerArgs, once for all sources.
const TRUE_RE = /^(1|true|yes|on)$/i;
const FALSE_RE = /^(0|false|no|off|)$/i;
// false is kept: it overrides a true of a lower-precedence source.
const flagSchema = z.union([z.boolean(), z.string().regex(TRUE_RE).transform(() => true), z.string().regex(FALSE_RE).transform(() => false)]);
const scalarSchema = z.union([z.string(), z.number(), z.bigint()]).transform(String);
const SCHEMAS: Record<Kind, z.ZodType<string | boolean>> = {
  flag: flagSchema,
  value: scalarSchema,
  optional: z.union([flagSchema, scalarSchema]),
};
// A list option (nvdimm) also takes a list.
const listSchema = z.union([scalarSchema, z.array(z.string()).transform((a) => a.join(','))]);

function value(key: string, v: unknown, where: string): string | boolean {
  const kind = SERVER_OPTION_KEYS[key];
  const r = (isList(key) ? listSchema : SCHEMAS[kind]).safeParse(v);
  if (r.success) return r.data;
  const wanted = kind === 'flag' ? 'true or false' : isList(key) ? 'a string or a list of strings' : 'a string or a number';
  throw new IocError('EINVAL', `${where}: '${key}' takes ${wanted}, got ${JSON.stringify(v)}`);
}

/** The options of a configuration file (JSON, or YAML when the name ends in .yaml/.yml or it is not JSON). */
export function readConfigFile(file: string): Values {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new IocError('ENOENT', `cannot read --config ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new IocError('EINVAL', `--config ${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) doc = {};
  const parsed = z.record(z.string(), z.unknown()).safeParse(doc);
  if (!parsed.success || Array.isArray(doc)) throw new IocError('EINVAL', `--config ${file}: expected an object of options`);
  const out: Values = new Map();
  const known = Object.keys(SERVER_OPTION_KEYS);
  for (const [k, v] of Object.entries(parsed.data)) {
    const key = kebab(k);
    if (!(key in SERVER_OPTION_KEYS)) {
      const near = closest(key, known);
      const hint = near.distance <= 2 ? ` (did you mean '${near.name}'?)` : ` (known: ${known.join(', ')})`;
      throw new IocError('EINVAL', `--config ${file}: unknown option '${k}'${hint}`);
    }
    out.set(key, value(key, v, `--config ${file}`));
  }
  return out;
}

/** The options set by IOC_* environment variables. */
export function readEnv(env: NodeJS.ProcessEnv): Values {
  const out: Values = new Map();
  for (const key of Object.keys(SERVER_OPTION_KEYS)) {
    const v = env[envName(key)];
    if (v === undefined) continue;
    out.set(key, value(key, v, `environment ${envName(key)}`));
  }
  return out;
}

/** Options named on a command line (long names), whether LISTEN_IP is there, and --config. */
function scanArgs(argv: string[]): { keys: Set<string>; positional: boolean; config?: string } {
  const keys = new Set<string>();
  let positional = false;
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') {
      positional = true;
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : SHORT[eq > 0 ? a.slice(0, eq) : a];
    if (!name) continue;
    const takesNext = eq < 0 && (name === 'config' || SERVER_OPTION_KEYS[name] === 'value');
    if (name === 'config') config = eq > 0 ? a.slice(eq + 1) : argv[i + 1];
    else keys.add(name);
    if (takesNext) i++;
  }
  return { keys, positional, config };
}

function toArgs(values: Values): string[] {
  const args: string[] = [];
  for (const [k, v] of values) {
    if (k === 'listen-ip' || v === false) continue;
    if (v === true) args.push(`--${k}`);
    else if (SERVER_OPTION_KEYS[k] === 'optional') args.push(`--${k}=${v}`);
    else args.push(`--${k}`, String(v));
  }
  return args;
}

/** Checks one source on its own, so that an error names where the bad value came from. */
function check(values: Values, where: string): void {
  try {
    parseServerArgs([...toArgs(values), '127.0.0.1']);
  } catch (e) {
    const msg = (e as Error).message;
    if (!/low-water must be below/.test(msg)) throw new IocError('EINVAL', `${where}: ${msg}`);
  }
}

export interface ResolvedConfig {
  options: ServerOptions;
  /** Where each option set away from its default came from. */
  sources: Record<string, Source>;
  /** Things worth a warning in the log (unknown IOC_* variables far from any known one). */
  warnings: string[];
}

/** Server options from the command line, the environment and the --config file (or IOC_CONFIG). */
export function resolveServerOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const cli = scanArgs(argv);
  if (cli.keys.has('help') || cli.keys.has('version')) return { options: parseServerArgs(argv), sources: {}, warnings: [] };
  const warnings = checkEnvNames(env, [...Object.keys(SERVER_OPTION_KEYS).map(envName), 'IOC_CONFIG']);
  const configFile = cli.config ?? (env.IOC_CONFIG || undefined);
  const file = configFile ? readConfigFile(configFile) : new Map();
  const fromEnv = readEnv(env);
  check(file, `--config ${configFile}`);
  check(fromEnv, 'environment');
  const sources: Record<string, Source> = {};
  const merged: Values = new Map();
  for (const [k, v] of file) {
    merged.set(k, v);
    sources[k] = 'config file';
  }
  for (const [k, v] of fromEnv) {
    merged.set(k, v);
    sources[k] = 'environment';
  }
  for (const k of cli.keys) {
    merged.delete(k);
    sources[k] = 'command line';
  }
  const args = [...toArgs(merged), ...argv];
  if (cli.positional) sources['listen-ip'] = 'command line';
  else if (merged.has('listen-ip')) args.push(String(merged.get('listen-ip')));
  const options = parseServerArgs(args);
  if (configFile) {
    options.config = path.resolve(configFile);
    sources.config = cli.config ? 'command line' : 'environment';
  }
  return { options, sources, warnings };
}

/** The effective configuration as a plain object (for the start-up log record). */
export function effectiveConfig(o: ServerOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'help' || k === 'version' || v === undefined) continue;
    out[k] = v;
  }
  return out;
}
