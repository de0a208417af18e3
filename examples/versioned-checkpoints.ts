// versioned-checkpoints: a simulation whose state is a region of a checkpoint set keeps its last
// K versions and can restore any of them. The set keeps the versions (keep: K); each version is
// complete on its own, so any kept one restores.
//
//   node dist/examples/versioned-checkpoints.js run     [--keep 3] [--every 20] [--steps 100] [--cells 262144]
//   node dist/examples/versioned-checkpoints.js list
//   node dist/examples/versioned-checkpoints.js restore --version V
// common: [--server 127.0.0.1:8556] [--set NAME]
//
// Version V is the state after step V * every; the run prints each version's checksum, restore
// prints the checksum of what it brought back.
import { createHash } from 'crypto';
import { openCheckpoints } from 'iocatcher';
import { ArgReader } from './args';

interface Args {
  cmd: 'run' | 'list' | 'restore';
  server?: string;
  set: string;
  keep: number;
  every: number;
  steps: number;
  cells: number;
  version: number;
}

const USAGE = `Usage: versioned-checkpoints run|list|restore [options]
  --server HOST[:PORT] iocatcher server (default $IOC_SERVER or 127.0.0.1:8556)
  --set NAME           checkpoint set (default versioned-checkpoints)
  --keep K             versions kept (default 3)
  --every N            checkpoint every N steps (default 20)
  --steps S            steps to run (default 100)
  --cells C            float64 cells of state (default 262144 = 2 MiB)
  --version V          version to restore
`;

function parse(argv: string[]): Args {
  const cmd = argv[0];
  if (cmd !== 'run' && cmd !== 'list' && cmd !== 'restore') throw new Error('expected a command: run, list or restore');
  const a: Args = { cmd, server: process.env.IOC_SERVER, set: 'versioned-checkpoints', keep: 3, every: 20, steps: 100, cells: 262144, version: -1 };
  const r = new ArgReader(argv.slice(1));
  for (let opt = r.next(); opt !== undefined; opt = r.next()) {
    switch (opt) {
      case '--server': a.server = r.value(); break;
      case '--set': a.set = r.value(); break;
      case '--keep': a.keep = r.int(1); break;
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

function checksum(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

async function run(a: Args): Promise<void> {
  const ck = await openCheckpoints(a.set, { server: a.server, keep: a.keep });
  const state = new Float64Array((await ck.protect('state', a.cells * 8)).buffer);
  for (let i = 0; i < a.cells; i++) state[i] = (i % 1000) / 1000;
  let version = 0;
  const t0 = Date.now();
  for (let s = 1; s <= a.steps; s++) {
    for (let i = 0; i < a.cells; i++) state[i] = 3.7 * state[i] * (1 - state[i]); // logistic map: chaotic, deterministic
    if (s % a.every === 0) {
      version++;
      const sum = checksum(new Uint8Array(state.buffer, 0, a.cells * 8));
      await ck.checkpoint(version);
      console.log(`version ${version} at step ${s}: checksum ${sum}`);
    }
  }
  const kept = (await ck.versions()).map((v) => v.version).reverse();
  await ck.close();
  console.log(`versioned-checkpoints: ${a.steps} steps, ${version} versions made, kept ${kept.join(', ')}, ${((Date.now() - t0) / 1000).toFixed(2)} s`);
}

async function list(a: Args): Promise<void> {
  const ck = await openCheckpoints(a.set, { server: a.server });
  const versions = await ck.versions();
  await ck.close();
  if (versions.length === 0) console.log('no checkpoints');
  for (const v of versions.reverse()) console.log(`version ${v.version}: committed ${v.committedAt.toISOString()}, ${v.durability}`);
}

async function restore(a: Args): Promise<void> {
  const ck = await openCheckpoints(a.set, { server: a.server });
  try {
    const state = new Uint8Array((await ck.protect('state', a.cells * 8)).buffer);
    const kept = (await ck.versions()).map((v) => v.version).reverse();
    if (!kept.includes(a.version)) throw new Error(`version ${a.version} is not kept (kept: ${kept.join(', ') || 'none'})`);
    await ck.restore(a.version);
    console.log(`restored version ${a.version}: checksum ${checksum(state)}`);
  } finally {
    await ck.close();
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
