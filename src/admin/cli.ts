// iocatcher: administration of running iocatcher-servers.
//   ls / stat / rm / get / put / flush / cow are protocol requests sent through the client
//   library (IocClient) to the servers of --server (or $IOC_SERVER);
//   stats reads a server's metrics endpoint (iocatcher-server --metrics HOST:PORT).
import { parseArgs } from 'util';
import { IocClient } from '../client';
import { checkClientEnv } from '../env';
import { IocError } from '../errors';
import { packageVersion } from '../native';
import { parseSize, SIZE_SYNTAX } from '../size';
import type { DaemonStats } from '../server/metrics';
import { idText, LS_HEADER, lsRow, statJson, statText } from './format';
import { formatStats, getJson, MetricsAddressError } from './stats';
import { getObject, putObject } from './transfer';

export const USAGE = `Usage: iocatcher COMMAND [options]

Administration of running iocatcher-servers.

Commands:
  ls [--high N] [--json] [--server LIST]
        every object the servers hold, stored or cached: size, stored, cached and dirty bytes
        (sizes for people; --json: one JSON object per line, sizes in bytes)
  stat HIGH:LOW [--json] [--server LIST]
        what the object's server knows of it (exit 1 when it does not exist)
  rm HIGH:LOW... [--server LIST]
        delete objects: cached data and the stored copy (EBUSY while a mapping holds a range)
  get HIGH:LOW [FILE|-] [--server LIST]
        the object's bytes (its whole size) into FILE, or stdout (- or no FILE)
  put FILE|- HIGH:LOW [--server LIST]
        FILE, or stdin (-), into the object, which it replaces (its size is what was written),
        then flushed to the server's store
  flush HIGH:LOW [--offset N] [--size N] [--server LIST]
        write the object's dirty cached data (the range, or all of it) to the backing store
  cow SRC_HIGH:SRC_LOW DST_HIGH:DST_LOW [--allow-exist] [--offset N] [--size N] [--server LIST]
        copy-on-write copy of an object (or of a range of it) to another object
  stats [--metrics HOST:PORT] [--json]
        the server's counters: requests by type, bytes, eager/RMA transfers, errors, clients,
        cache figures (through the server's --metrics endpoint)

Options:
  --server LIST         the servers' libfabric addresses, HOST:PORT[,HOST:PORT...] (default:
                        $IOC_SERVER, else 127.0.0.1:8556); objects are placed on them by
                        rendezvous hashing, as every client does
  --metrics HOST:PORT   stats: the server's metrics endpoint (default: $IOC_METRICS)
  --high N              ls: only the objects whose high half is N
  --json                machine-readable output
  -h, --help            show this help (also: iocatcher COMMAND --help)
  --version             print the version

Object ids are two signed 64-bit integers HIGH:LOW (decimal, or 0x... hexadecimal).
--offset and --size take a byte count: 0x... hexadecimal, or ${SIZE_SYNTAX}.
get and put draw a progress line (bytes, rate, time left) on stderr when it is a terminal.
Exit status: 0 on success, 1 when a server refused or could not be reached, 2 on bad usage.
`;

const COMMAND_USAGE: Record<string, string> = {
  ls: 'Usage: iocatcher ls [--high N] [--json] [--server LIST]\n\nLists every object of the servers (default $IOC_SERVER), cached or stored or both, each once:\nSIZE (logical), STORED (size in the backing store, - when not stored), CACHED, DIRTY, ID.\nWith --json, one JSON object per line: {"id","high","low","size","storedBytes","cachedBytes",\n"dirtyBytes","stored","server"}, sizes in bytes, ids as strings.\n',
  stat: 'Usage: iocatcher stat HIGH:LOW [--json] [--server LIST]\n\nWhat the server owning object HIGH:LOW knows of it: logical size, stored size, cached and dirty\nbytes. Exit 1 when the object does not exist.\n',
  rm: 'Usage: iocatcher rm HIGH:LOW... [--server LIST]\n\nDeletes each object: its cached segments and its stored copy. An object with a registered range\n(a mapping holds it) is refused (EBUSY). Exit 1 when any could not be deleted.\n',
  get: 'Usage: iocatcher get HIGH:LOW [FILE|-] [--server LIST]\n\nWrites the whole object (its size as stat gives it) into FILE, or to stdout with - or no FILE.\nA progress line goes to stderr when it is a terminal.\n',
  put: 'Usage: iocatcher put FILE|- HIGH:LOW [--server LIST]\n\nReplaces object HIGH:LOW with the bytes of FILE, or of stdin with -: the object\'s size is then\nwhat was written. The data is flushed to the server\'s store at the end. A progress line goes to\nstderr when it is a terminal.\n',
  flush: 'Usage: iocatcher flush HIGH:LOW [--offset N] [--size N] [--server LIST]\n\nWrites the dirty cached data of object HIGH:LOW overlapping [N, N+SIZE) (size 0 or absent:\nthe whole object) to the backing store. Exit 1 when the object does not exist.\n',
  cow: 'Usage: iocatcher cow SRC_HIGH:SRC_LOW DST_HIGH:DST_LOW [--allow-exist] [--offset N] [--size N] [--server LIST]\n\nCopy-on-write copy of the whole object (size 0 or absent; with --allow-exist an existing\ndestination is replaced) or of [offset, offset+size) onto the same range of the destination.\n',
  stats: 'Usage: iocatcher stats [--metrics HOST:PORT] [--json]\n\nPrints the counters of the server whose metrics endpoint is HOST:PORT (default $IOC_METRICS).\n',
};

const COMMANDS = Object.keys(COMMAND_USAGE);

class UsageError extends Error {}

interface Parsed {
  command?: string;
  positional: string[];
  metrics?: string;
  server?: string;
  high?: bigint;
  json: boolean;
  allowExist: boolean;
  offset: bigint;
  size: bigint;
  help: boolean;
  version: boolean;
  /** Options given, by name: each command takes its own. */
  given: Set<string>;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  metrics: { type: 'string' },
  server: { type: 'string' },
  high: { type: 'string' },
  json: { type: 'boolean' },
  'allow-exist': { type: 'boolean' },
  offset: { type: 'string' },
  size: { type: 'string' },
} as const;

// The options each command takes (besides --help and --version).
const TAKES: Record<string, string[]> = {
  ls: ['server', 'high', 'json'],
  stat: ['server', 'json'],
  rm: ['server'],
  get: ['server'],
  put: ['server'],
  flush: ['server', 'offset', 'size'],
  cow: ['server', 'allow-exist', 'offset', 'size'],
  stats: ['metrics', 'json'],
};

function parseCommandLine(argv: string[]): Parsed {
  const p: Parsed = { positional: [], json: false, allowExist: false, offset: 0n, size: 0n, help: false, version: false, given: new Set() };
  // util.parseArgs does the splitting; non-strict mode returns tokens, so that an object id with
  // a negative part (-5:3) and '-' (stdin, stdout) stay arguments and the errors below say what
  // was wrong.
  const { tokens } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const seen = new Set<number>();
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional' || /^-\d/.test(argv[t.index]) || argv[t.index] === '-') {
      if (seen.has(t.index)) continue;
      seen.add(t.index);
      if (p.command === undefined) p.command = argv[t.index];
      else p.positional.push(argv[t.index]);
      continue;
    }
    const name = t.name as keyof typeof OPTIONS;
    if (!(name in OPTIONS)) throw new UsageError(`unknown option '${argv[t.index]}'`);
    const value = (): string => {
      if (t.value === undefined || t.value === '') throw new UsageError(`option ${t.rawName} needs a value`);
      return t.value;
    };
    // Byte counts: hexadecimal, or the size syntax every other iocatcher size uses (1MB, 1.5GiB).
    const count = (): bigint => {
      const v = value();
      if (/^0x[0-9a-f]+$/i.test(v)) return BigInt(v);
      try {
        return BigInt(parseSize(v, t.rawName));
      } catch {
        throw new UsageError(`${t.rawName} takes a byte count (0x... or ${SIZE_SYNTAX}), got '${v}'`);
      }
    };
    if (OPTIONS[name].type === 'boolean' && t.value !== undefined) throw new UsageError(`option ${t.rawName} takes no value`);
    p.given.add(name);
    switch (name) {
      case 'help': p.help = true; break;
      case 'version': p.version = true; break;
      case 'metrics': p.metrics = value(); break;
      case 'server': p.server = value(); break;
      case 'high': p.high = idHalf(value(), '--high'); break;
      case 'json': p.json = true; break;
      case 'allow-exist': p.allowExist = true; break;
      case 'offset': p.offset = count(); break;
      case 'size': p.size = count(); break;
    }
  }
  return p;
}

function idHalf(s: string, what: string): bigint {
  if (!/^-?(?:0x[0-9a-f]+|\d+)$/i.test(s)) throw new UsageError(`${what} takes a signed 64-bit integer (decimal or 0x...), got '${s}'`);
  const v = s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
  if (v < -(1n << 63n) || v >= 1n << 63n) throw new UsageError(`${what} '${s}' is not a signed 64-bit integer`);
  return v;
}

function objectId(text: string): { high: bigint; low: bigint } {
  const m = /^(-?(?:0x[0-9a-f]+|\d+)):(-?(?:0x[0-9a-f]+|\d+))$/i.exec(text);
  if (!m) throw new UsageError(`bad object id '${text}' (expected HIGH:LOW)`);
  const part = (s: string) => {
    try {
      return idHalf(s, 'object id part');
    } catch {
      throw new UsageError(`object id part '${s}' is not a signed 64-bit integer`);
    }
  };
  return { high: part(m[1]), low: part(m[2]) };
}

/** The servers to talk to: --server, else $IOC_SERVER (the whole list), else the default. */
function serverList(p: Parsed): string {
  return p.server ?? (process.env.IOC_SERVER?.trim() || '127.0.0.1:8556');
}

async function connect(p: Parsed): Promise<IocClient> {
  try {
    checkClientEnv(process.env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return IocClient.connect(serverList(p));
}

type Out = (s: string) => void;
type Err = (s: string) => void;

/** Runs one command; resolves with the exit status. */
async function runCommand(p: Parsed, out: Out, err: Err): Promise<number> {
  const command = p.command!;
  const want = (min: number, max = min) => {
    const n = p.positional.length;
    if (n < min || n > max) {
      const takes = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} or ${max}`;
      throw new UsageError(`${command} takes ${takes} argument${max === 1 ? '' : 's'} (see iocatcher ${command} --help)`);
    }
  };
  if (command === 'stats') {
    want(0);
    const metrics = p.metrics ?? process.env.IOC_METRICS;
    if (!metrics) throw new UsageError('stats needs --metrics HOST:PORT (the server\'s --metrics address) or IOC_METRICS');
    let s: DaemonStats;
    try {
      s = await getJson<DaemonStats>(metrics, '/stats');
    } catch (e) {
      if (e instanceof MetricsAddressError) throw new UsageError(e.message);
      throw e;
    }
    out(p.json ? `${JSON.stringify(s)}\n` : formatStats(s));
    return 0;
  }
  switch (command) {
    case 'ls': want(0); break;
    case 'stat': want(1); break;
    case 'rm': want(1, Infinity); break;
    case 'get': want(1, 2); break;
    case 'put': want(2); break;
    case 'flush': want(1); break;
    case 'cow': want(2); break;
  }
  // Ids are checked before anything is sent.
  const ids = command === 'put' ? [objectId(p.positional[1])] : command === 'get' ? [objectId(p.positional[0])]
    : command === 'ls' ? [] : p.positional.map(objectId);
  const client = await connect(p);
  try {
    switch (command) {
      case 'ls': {
        // The header once the listing is known to work (a refused listing prints only its error).
        let header = !p.json;
        for await (const o of client.list({ high: p.high, pageSize: 512 })) {
          if (header) out(LS_HEADER);
          header = false;
          out(p.json ? `${statJson(o, client.serverOf(o.high, o.low))}\n` : lsRow(o));
        }
        if (header) out(LS_HEADER);
        return 0;
      }
      case 'stat': {
        const st = await client.stat(ids[0].high, ids[0].low);
        const server = client.serverOf(st.high, st.low);
        out(p.json ? `${statJson(st, server)}\n` : statText(st, server));
        return 0;
      }
      case 'rm': {
        let failed = 0;
        for (const id of ids) {
          try {
            await client.delete(id.high, id.low);
            out(`removed ${idText(id)}\n`);
          } catch (e) {
            err(`iocatcher: ${(e as Error).message}\n`);
            failed++;
          }
        }
        return failed ? 1 : 0;
      }
      case 'get': {
        const dest = p.positional[1] ?? '-';
        const n = await getObject(client, ids[0], dest);
        if (dest !== '-') out(`got ${n} bytes of ${idText(ids[0])} into ${dest}\n`);
        return 0;
      }
      case 'put': {
        const n = await putObject(client, p.positional[0], ids[0]);
        out(`put ${n} bytes into ${idText(ids[0])}\n`);
        return 0;
      }
      case 'flush': {
        // A flush of an object the server does not know succeeds doing nothing: say so instead
        // (a server without the namespace cannot tell: flushed as asked).
        try {
          await client.stat(ids[0].high, ids[0].low);
        } catch (e) {
          const code = (e as IocError).code;
          if (code === 'ENOENT') {
            const id = idText(ids[0]);
            throw new IocError('ENOENT', `flush of object ${id} on ${client.serverOf(ids[0].high, ids[0].low)}: object ${id} does not exist`);
          }
          if (code !== 'ENOSYS') throw e;
        }
        await client.flush(ids[0].high, ids[0].low, p.offset, p.size);
        out(`flushed ${p.positional[0]}\n`);
        return 0;
      }
      case 'cow':
        await client.cow(ids[0], ids[1], { allowExist: p.allowExist, offset: p.offset, size: p.size });
        out(`copied ${p.positional[0]} to ${p.positional[1]}\n`);
        return 0;
    }
  } finally {
    client.close();
  }
  return 0;
}

export async function run(argv: string[], out: Out = (s) => process.stdout.write(s), err: Err = (s) => process.stderr.write(s)): Promise<number> {
  const p = parseCommandLine(argv);
  if (p.version) {
    out(`iocatcher ${packageVersion}\n`);
    return 0;
  }
  if (p.help || p.command === undefined || p.command === 'help') {
    const usage = p.command && COMMAND_USAGE[p.command] ? COMMAND_USAGE[p.command] : USAGE;
    if (!p.help && p.command === undefined) throw new UsageError(`missing COMMAND (${COMMANDS.join(', ')}; see --help)`);
    out(usage);
    return 0;
  }
  if (!COMMANDS.includes(p.command)) throw new UsageError(`unknown command '${p.command}' (${COMMANDS.join(', ')}; see --help)`);
  for (const name of p.given) {
    if (name === 'help' || name === 'version' || TAKES[p.command].includes(name)) continue;
    const hint = name === 'metrics' ? ': it talks to the servers through the protocol (--server); only stats reads --metrics' : '';
    throw new UsageError(`${p.command} takes no --${name}${hint}`);
  }
  return runCommand(p, out, err);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  try {
    process.exitCode = await run(argv);
  } catch (e) {
    const error = e as Error & { code?: string };
    process.stderr.write(`iocatcher: ${error.message}${error.code && !error.message.includes(error.code) ? ` (${error.code})` : ''}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}

if (require.main === module) void main();
