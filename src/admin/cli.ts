// iocatcher: administration of a running iocatcher-server.
//   stats / ls go through the server's metrics endpoint (iocatcher-server --metrics HOST:PORT);
//   flush / cow are protocol requests sent through the client library (IocClient).
import * as http from 'http';
import { parseArgs } from 'util';
import { IocClient } from '../client';
import { checkClientEnv } from '../env';
import { packageVersion } from '../native';
import { parseSize, SIZE_SYNTAX } from '../size';
import type { CachedObject, DaemonStats } from '../server/metrics';

export const USAGE = `Usage: iocatcher COMMAND [options]

Administration of a running iocatcher-server.

Commands:
  stats [--metrics HOST:PORT] [--json]
        the server's counters: requests by type, bytes, eager/RMA transfers, errors, clients,
        cache figures (through the server's --metrics endpoint)
  ls [--metrics HOST:PORT] [--json]
        the objects holding cached segments: id, logical size, cached and dirty bytes
  flush HIGH:LOW [--offset N] [--size N] [--server HOST:PORT]
        write the object's dirty cached data (the range, or all of it) to the backing store
  cow SRC_HIGH:SRC_LOW DST_HIGH:DST_LOW [--allow-exist] [--offset N] [--size N] [--server HOST:PORT]
        copy-on-write copy of an object (or of a range of it) to another object

Options:
  --metrics HOST:PORT   the server's metrics endpoint (default: $IOC_METRICS)
  --server HOST:PORT    the server's libfabric address (default: first of $IOC_SERVER, else
                        127.0.0.1:8556)
  --json                print the server's JSON answer as it is
  -h, --help            show this help (also: iocatcher COMMAND --help)
  --version             print the version

Object ids are two signed 64-bit integers HIGH:LOW (decimal, or 0x... hexadecimal).
--offset and --size take a byte count: 0x... hexadecimal, or ${SIZE_SYNTAX}.
Exit status: 0 on success, 1 when the server refused or could not be reached, 2 on bad usage.
`;

const COMMAND_USAGE: Record<string, string> = {
  stats: 'Usage: iocatcher stats [--metrics HOST:PORT] [--json]\n\nPrints the counters of the server whose metrics endpoint is HOST:PORT (default $IOC_METRICS).\n',
  ls: 'Usage: iocatcher ls [--metrics HOST:PORT] [--json]\n\nLists the objects holding cached segments on the server whose metrics endpoint is HOST:PORT\n(default $IOC_METRICS): HIGH, LOW, logical size, segments, cached and dirty bytes.\n',
  flush: 'Usage: iocatcher flush HIGH:LOW [--offset N] [--size N] [--server HOST:PORT]\n\nWrites the dirty cached data of object HIGH:LOW overlapping [N, N+SIZE) (size 0 or absent:\nthe whole object) to the backing store.\n',
  cow: 'Usage: iocatcher cow SRC_HIGH:SRC_LOW DST_HIGH:DST_LOW [--allow-exist] [--offset N] [--size N] [--server HOST:PORT]\n\nCopy-on-write copy of the whole object (size 0 or absent; with --allow-exist an existing\ndestination is replaced) or of [offset, offset+size) onto the same range of the destination.\n',
};

class UsageError extends Error {}

interface Parsed {
  command?: string;
  positional: string[];
  metrics?: string;
  server?: string;
  json: boolean;
  allowExist: boolean;
  offset: bigint;
  size: bigint;
  help: boolean;
  version: boolean;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  metrics: { type: 'string' },
  server: { type: 'string' },
  json: { type: 'boolean' },
  'allow-exist': { type: 'boolean' },
  offset: { type: 'string' },
  size: { type: 'string' },
} as const;

function parseCommandLine(argv: string[]): Parsed {
  const p: Parsed = { positional: [], json: false, allowExist: false, offset: 0n, size: 0n, help: false, version: false };
  // util.parseArgs does the splitting; non-strict mode returns tokens, so that an object id with
  // a negative part (-5:3) stays an argument and the errors below say what was wrong.
  const { tokens } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const seen = new Set<number>();
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional' || /^-\d/.test(argv[t.index])) {
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
    switch (name) {
      case 'help': p.help = true; break;
      case 'version': p.version = true; break;
      case 'metrics': p.metrics = value(); break;
      case 'server': p.server = value(); break;
      case 'json': p.json = true; break;
      case 'allow-exist': p.allowExist = true; break;
      case 'offset': p.offset = count(); break;
      case 'size': p.size = count(); break;
    }
  }
  return p;
}

function objectId(text: string): { high: bigint; low: bigint } {
  const m = /^(-?(?:0x[0-9a-f]+|\d+)):(-?(?:0x[0-9a-f]+|\d+))$/i.exec(text);
  if (!m) throw new UsageError(`bad object id '${text}' (expected HIGH:LOW)`);
  const part = (s: string) => {
    const v = s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
    if (v < -(1n << 63n) || v >= 1n << 63n) throw new UsageError(`object id part '${s}' is not a signed 64-bit integer`);
    return v;
  };
  return { high: part(m[1]), low: part(m[2]) };
}

function getJson<T>(metrics: string, route: string): Promise<T> {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(metrics);
  if (!m || !m[1]) throw new UsageError(`bad --metrics '${metrics}' (expected HOST:PORT)`);
  return new Promise<T>((resolve, reject) => {
    const req = http.get({ host: m[1], port: Number(m[2]), path: route, timeout: 20000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        let doc: any;
        try {
          doc = JSON.parse(body);
        } catch {
          return reject(new Error(`unexpected answer from http://${metrics}${route} (HTTP ${res.statusCode})`));
        }
        if (res.statusCode !== 200) return reject(new Error(`server: ${doc?.error ?? `HTTP ${res.statusCode}`}`));
        resolve(doc as T);
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', (e) => reject(new Error(`cannot reach the metrics endpoint http://${metrics}${route}: ${e.message}`)));
  });
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function formatStats(s: DaemonStats): string {
  const lines: string[] = [];
  const req = Object.entries(s.requests).map(([t, n]) => `${t}=${n}`).join(' ');
  lines.push(`requests   ${req || '(none)'}`);
  lines.push(`bytes      read ${s.bytes.read} (${mib(s.bytes.read)}), written ${s.bytes.written} (${mib(s.bytes.written)})`);
  lines.push(`transfers  eager read ${s.transfers.eager.read}, eager write ${s.transfers.eager.write}, rma read ${s.transfers.rma.read}, rma write ${s.transfers.rma.write}`);
  for (const [t, l] of Object.entries(s.latency.types)) {
    lines.push(`latency    ${t}: ${l.count} requests, mean ${l.count ? ((l.sum / l.count) * 1e6).toFixed(1) : '0'} us`);
  }
  const errs = s.errors.map((e) => `${e.type}/${e.code}=${e.count}`).join(' ');
  lines.push(`errors     ${errs || '0'}; dropped messages ${s.drops}`);
  lines.push(`clients    tcp ${s.clients.tcp}, fabric ${s.clients.fabric}; requests in flight ${s.inflight}`);
  const c = s.cache;
  lines.push(`cache      ${c.segments} segments, ${mib(c.bytes)} of ${mib(c.limitBytes)}, ${mib(c.dirtyBytes)} dirty, ${c.pinned} pinned`);
  lines.push(`           hits ${c.hits}, misses ${c.misses}, evictions ${c.evictions}, spilled ${mib(c.spilledBytes)}, flushed ${mib(c.flushedBytes)}`);
  return `${lines.join('\n')}\n`;
}

function formatObjects(doc: { segmentSize: number; objects: CachedObject[] }): string {
  const rows = [['HIGH', 'LOW', 'SIZE', 'SEGMENTS', 'CACHED', 'DIRTY'],
    ...doc.objects.map((o) => [o.high, o.low, String(o.size), String(o.segments), String(o.cachedBytes), String(o.dirtyBytes)])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padStart(widths[i])).join('  ')).join('\n') + '\n';
}

function defaultServer(): string {
  const first = (process.env.IOC_SERVER ?? '').split(',')[0].trim();
  return first || '127.0.0.1:8556';
}

export async function run(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const p = parseCommandLine(argv);
  if (p.version) {
    out(`iocatcher ${packageVersion}\n`);
    return 0;
  }
  if (p.help || p.command === undefined || p.command === 'help') {
    const usage = p.command && COMMAND_USAGE[p.command] ? COMMAND_USAGE[p.command] : USAGE;
    if (!p.help && p.command === undefined) throw new UsageError('missing COMMAND (stats, ls, flush, cow; see --help)');
    out(usage);
    return 0;
  }
  const want = (n: number) => {
    if (p.positional.length !== n) throw new UsageError(`${p.command} takes ${n} argument${n === 1 ? '' : 's'} (see iocatcher ${p.command} --help)`);
  };
  switch (p.command) {
    case 'stats':
    case 'ls': {
      want(0);
      const metrics = p.metrics ?? process.env.IOC_METRICS;
      if (!metrics) throw new UsageError(`${p.command} needs --metrics HOST:PORT (the server's --metrics address) or IOC_METRICS`);
      if (p.command === 'stats') {
        const s = await getJson<DaemonStats>(metrics, '/stats');
        out(p.json ? `${JSON.stringify(s)}\n` : formatStats(s));
      } else {
        const doc = await getJson<{ segmentSize: number; objects: CachedObject[] }>(metrics, '/objects');
        out(p.json ? `${JSON.stringify(doc)}\n` : formatObjects(doc));
      }
      return 0;
    }
    case 'flush':
    case 'cow': {
      want(p.command === 'flush' ? 1 : 2);
      const ids = p.positional.map(objectId);
      try {
        checkClientEnv(process.env);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const server = p.server ?? defaultServer();
      const client = await IocClient.connect(server);
      try {
        if (p.command === 'flush') {
          await client.flush(ids[0].high, ids[0].low, p.offset, p.size);
          out(`flushed ${p.positional[0]}\n`);
        } else {
          await client.cow(ids[0], ids[1], { allowExist: p.allowExist, offset: p.offset, size: p.size });
          out(`copied ${p.positional[0]} to ${p.positional[1]}\n`);
        }
      } finally {
        client.close();
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown command '${p.command}' (stats, ls, flush, cow; see --help)`);
  }
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  try {
    process.exitCode = await run(argv);
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(`iocatcher: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}

if (require.main === module) void main();
