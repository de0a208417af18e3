// versioned-checkpoints: a simulation whose state lives in an ummap mapping of a "live" object
// keeps its last K checkpoints as separate objects made with the server's copy-on-write (cow),
// and can restore any of them.
//
//   node dist/examples/versioned-checkpoints.js run     [--keep 3] [--every 20] [--steps 100] [--cells 262144]
//   node dist/examples/versioned-checkpoints.js list
//   node dist/examples/versioned-checkpoints.js restore --version V
// common: [--server 127.0.0.1:8556] [--object HIGH:LOW]
//
// Objects: live = (HIGH, LOW); version slots = (HIGH, LOW+1 .. LOW+K); the catalog (which
// version sits in which slot, at which step, with which checksum) = (HIGH, LOW+K+1).
import { createHash } from 'crypto';
import { IocClient, ummap } from '../src';
import { ArgReader } from './args';

interface Args {
  cmd: 'run' | 'list' | 'restore';
  server: string;
  high: bigint;
  low: bigint;
  keep: number;
  every: number;
  steps: number;
  cells: number;
  version: number;
}

interface Entry {
  version: number;
  step: number;
  checksum: string;
}

const USAGE = `Usage: versioned-checkpoints run|list|restore [options]
  --server HOST:PORT   iocatcher server (default $IOC_SERVER or 127.0.0.1:8556)
  --object HIGH:LOW    live object (default 0x7e75:100)
  --keep K             checkpoints kept (default 3, at most 64)
  --every N            checkpoint every N steps (default 20)
  --steps S            steps to run (default 100)
  --cells C            float64 cells of state (default 262144 = 2 MiB)
  --version V          version to restore
`;

function parse(argv: string[]): Args {
  const cmd = argv[0];
  if (cmd !== 'run' && cmd !== 'list' && cmd !== 'restore') throw new Error('expected a command: run, list or restore');
  const a: Args = { cmd, server: process.env.IOC_SERVER ?? '127.0.0.1:8556', high: 0x7e75n, low: 100n, keep: 3, every: 20, steps: 100, cells: 262144, version: -1 };
  const r = new ArgReader(argv.slice(1));
  for (let opt = r.next(); opt !== undefined; opt = r.next()) {
    switch (opt) {
      case '--server': a.server = r.value(); break;
      case '--object': ({ high: a.high, low: a.low } = r.objectId()); break;
      case '--keep': a.keep = r.int(1, 64); break;
      case '--every': a.every = r.int(1); break;
      case '--steps': a.steps = r.int(1); break;
      case '--cells': a.cells = r.int(1); break;
      case '--version': a.version = r.int(1); break;
      default: throw new Error(`unknown option ${opt}`);
    }
  }
  if (a.cmd === 'restore' && a.version < 1) throw new Error('restore needs --version V');
  return a;
}

const CATALOG_BYTES = 8192;

function checksum(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

async function readCatalog(c: IocClient, a: Args): Promise<{ keep: number; cells: number; entries: Entry[] }> {
  const raw = await c.read(a.high, a.low + BigInt(a.keep) + 1n, 0, CATALOG_BYTES);
  const text = raw.toString('utf8').replace(/\0+$/, '');
  if (!text) return { keep: a.keep, cells: a.cells, entries: [] };
  return JSON.parse(text);
}

async function writeCatalog(c: IocClient, a: Args, entries: Entry[]): Promise<void> {
  const buf = Buffer.alloc(CATALOG_BYTES);
  const json = JSON.stringify({ keep: a.keep, cells: a.cells, entries });
  if (json.length >= CATALOG_BYTES) throw new Error('catalog too large');
  buf.write(json);
  const id = a.low + BigInt(a.keep) + 1n;
  await c.write(a.high, id, 0, buf);
  await c.flush(a.high, id);
}

const host = (s: string): [string, string | undefined] => s.split(":") as [string, string | undefined];

async function run(a: Args): Promise<void> {
  const [h, p] = host(a.server);
  const client = await IocClient.connect(h, Number(p ?? 8556));
  const bytes = a.cells * 8;
  const m = ummap(a.high, a.low, bytes, { server: a.server });
  const state = new Float64Array(m.buffer, 0, a.cells);
  for (let i = 0; i < a.cells; i++) state[i] = (i % 1000) / 1000;
  const entries: Entry[] = [];
  let version = 0;
  const t0 = Date.now();
  for (let s = 1; s <= a.steps; s++) {
    for (let i = 0; i < a.cells; i++) state[i] = 3.7 * state[i] * (1 - state[i]); // logistic map: chaotic, deterministic
    if (s % a.every === 0) {
      version++;
      await m.sync(); // the live object now holds step s
      const slot = 1 + ((version - 1) % a.keep);
      await client.cow({ high: a.high, low: a.low }, { high: a.high, low: a.low + BigInt(slot) }, { allowExist: true });
      const sum = checksum(new Uint8Array(m.buffer, 0, bytes));
      entries.push({ version, step: s, checksum: sum });
      while (entries.length > a.keep) entries.shift();
      await writeCatalog(client, a, entries);
      console.log(`version ${version} at step ${s}: checksum ${sum} (slot ${slot})`);
    }
  }
  await m.unmap({ sync: true });
  client.close();
  console.log(`versioned-checkpoints: ${a.steps} steps, ${version} versions made, kept ${entries.map((e) => e.version).join(', ')}, ${((Date.now() - t0) / 1000).toFixed(2)} s`);
}

async function list(a: Args): Promise<void> {
  const [h, p] = host(a.server);
  const client = await IocClient.connect(h, Number(p ?? 8556));
  const cat = await readCatalog(client, a);
  client.close();
  if (cat.entries.length === 0) console.log('no checkpoints');
  for (const e of cat.entries) console.log(`version ${e.version} at step ${e.step}: checksum ${e.checksum}`);
}

async function restore(a: Args): Promise<void> {
  const [h, p] = host(a.server);
  const client = await IocClient.connect(h, Number(p ?? 8556));
  try {
    const cat = await readCatalog(client, a);
    const idx = cat.entries.findIndex((e) => e.version === a.version);
    if (idx < 0) {
      throw new Error(`version ${a.version} is not kept (kept: ${cat.entries.map((e) => e.version).join(', ') || 'none'})`);
    }
    const e = cat.entries[idx];
    const slot = 1 + ((e.version - 1) % cat.keep);
    await client.cow({ high: a.high, low: a.low + BigInt(slot) }, { high: a.high, low: a.low }, { allowExist: true });
    const m = ummap(a.high, a.low, cat.cells * 8, { server: a.server, readOnly: true });
    const sum = checksum(new Uint8Array(m.buffer, 0, cat.cells * 8));
    await m.unmap();
    if (sum !== e.checksum) throw new Error(`restored data of version ${e.version} has checksum ${sum}, expected ${e.checksum}`);
    console.log(`restored version ${e.version} (step ${e.step}) into the live object: checksum ${sum} ok`);
  } finally {
    client.close();
  }
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let a: Args;
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(USAGE);
      return;
    }
    a = parse(argv);
  } catch (e) {
    process.stderr.write(`versioned-checkpoints: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  try {
    await (a.cmd === 'run' ? run(a) : a.cmd === 'list' ? list(a) : restore(a));
  } catch (e) {
    process.stderr.write(`versioned-checkpoints: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

if (require.main === module) void main();
