// heat2d: a 2D heat-diffusion stencil whose grid is a region of a checkpoint set
// (openCheckpoints). It commits a version every K steps (the version number is the step);
// --restart resumes from the set's latest complete version and ends with the same grid
// checksum as an uninterrupted run, wherever the previous run was killed. --checkpoint-every 0
// checkpoints nothing: the computation alone, the baseline of a run with checkpoints.
//
//   node dist/examples/heat2d.js [--server 127.0.0.1:8556] [--set heat2d] [--grid 1024]
//        [--steps 400] [--checkpoint-every 50] [--durability server|store] [--restart] [--quiet]
import { createHash } from 'crypto';
import { openCheckpoints } from 'iocatcher';
import type { CheckpointResult } from 'iocatcher';
import { ArgReader } from './args';

interface Args {
  server?: string;
  set: string;
  grid: number;
  steps: number;
  every: number;
  durability: 'server' | 'store';
  restart: boolean;
  quiet: boolean;
}

const USAGE = `Usage: heat2d [options]
  --server HOST[:PORT]     iocatcher server (default $IOC_SERVER or 127.0.0.1:8556)
  --set NAME               checkpoint set (default heat2d)
  --grid N                 grid is N x N float64 (default 1024)
  --steps S                total steps (default 400)
  --checkpoint-every K     commit a version every K steps (default 50; 0: never)
  --durability D           server (default) or store: when a checkpoint counts as done
  --restart                resume from the set's latest complete version
  --quiet                  no per-checkpoint lines
`;

function parseArgs(argv: string[]): Args {
  const a: Args = { server: process.env.IOC_SERVER, set: 'heat2d', grid: 1024, steps: 400, every: 50, durability: 'server', restart: false, quiet: false };
  const r = new ArgReader(argv);
  for (let opt = r.next(); opt !== undefined; opt = r.next()) {
    switch (opt) {
      case '--server': a.server = r.value(); break;
      case '--set': a.set = r.value(); break;
      case '--grid': a.grid = r.int(3); break;
      case '--steps': a.steps = r.int(1); break;
      case '--checkpoint-every': a.every = r.int(0); break;
      case '--durability': {
        const d = r.value();
        if (d !== 'server' && d !== 'store') throw new Error(`--durability is server or store, not '${d}'`);
        a.durability = d;
        break;
      }
      case '--restart': a.restart = true; break;
      case '--quiet': a.quiet = true; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0);
      default: throw new Error(`unknown option ${opt}`);
    }
  }
  return a;
}

function initGrid(g: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      // Hot top edge, a warm diagonal stripe, cold elsewhere: deterministic.
      g[i * n + j] = i === 0 ? 100 : (i + j) % 97 === 0 ? 50 : 0;
    }
  }
}

function step(src: Float64Array, dst: Float64Array, n: number): void {
  const alpha = 0.2;
  for (let i = 1; i < n - 1; i++) {
    const row = i * n;
    for (let j = 1; j < n - 1; j++) {
      const k = row + j;
      dst[k] = src[k] + alpha * (src[k - n] + src[k + n] + src[k - 1] + src[k + 1] - 4 * src[k]);
    }
  }
  // Fixed boundaries.
  for (let j = 0; j < n; j++) {
    dst[j] = src[j];
    dst[(n - 1) * n + j] = src[(n - 1) * n + j];
  }
  for (let i = 0; i < n; i++) {
    dst[i * n] = src[i * n];
    dst[i * n + n - 1] = src[i * n + n - 1];
  }
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`heat2d: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const n = args.grid;
  const t0 = process.hrtime.bigint();
  const ck = await openCheckpoints(args.set, { server: args.server, keep: 2, durability: args.durability });
  // The checkpointed state is the grid; the stencil writes the next one into scratch memory.
  const grid = new Float64Array((await ck.protect('grid', n * n * 8)).buffer);
  const scratch = new Float64Array(n * n);

  let done = 0;
  if (args.restart) {
    const latest = await ck.latest();
    if (latest === undefined) {
      process.stderr.write(`heat2d: checkpoint set '${args.set}' holds no checkpoint\n`);
      await ck.close();
      process.exit(1);
    }
    await ck.restore(latest);
    done = latest;
    console.log(`heat2d: restarting from the checkpoint at step ${done}`);
  } else {
    initGrid(grid, n);
    if (args.every > 0) await ck.checkpoint(0);
  }
  console.log(`heat2d: ${n}x${n} grid (${(n * n * 8 / 1048576).toFixed(1)} MiB, set '${args.set}', objects ${ck.high}:*), steps ${done}..${args.steps}, ` +
    (args.every > 0 ? `checkpoint every ${args.every}` : 'no checkpoints'));

  let checkpoints = 0;
  let sent = 0;
  let blockedMs = 0;
  let writing: Promise<CheckpointResult | void> = Promise.resolve();  // the version being committed while steps go on
  for (let s = done; s < args.steps; s++) {
    step(grid, scratch, n);
    grid.set(scratch);
    const completed = s + 1;
    if (args.every > 0 && (completed % args.every === 0 || completed === args.steps)) {
      await writing;  // one checkpoint in flight at a time
      if (!args.quiet) console.log(`heat2d: checkpointing step ${completed}`);
      // The grid as of this call; the steps go on while it is committed.
      writing = ck.checkpoint(completed).then((r) => {
        sent += r.bytesSent;
        blockedMs += r.blockedMs;
        if (!args.quiet) console.log(`heat2d: checkpoint at step ${completed} committed (${(r.bytesSent / 1048576).toFixed(1)} MiB sent, ${r.durationMs.toFixed(0)} ms)`);
      });
      checkpoints++;
    }
  }
  const checksum = createHash('sha256').update(new Uint8Array(grid.buffer, grid.byteOffset, grid.byteLength)).digest('hex');
  await writing;
  await ck.close();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`heat2d: done: ${args.steps - done} steps, ${checkpoints} checkpoints, ${(sent / 1048576).toFixed(1)} MiB sent, ` +
    `${blockedMs.toFixed(0)} ms blocked by checkpoints, ${seconds.toFixed(2)} s total`);
  console.log(`checksum: ${checksum}`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`heat2d: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
