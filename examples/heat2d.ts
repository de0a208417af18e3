// heat2d: a 2D heat-diffusion stencil whose state lives in an ummap mapping of an iocatcher
// object. It checkpoints with sync() every N steps; --restart resumes from the last checkpoint
// and ends with the same grid checksum as an uninterrupted run. --checkpoint-every 0 writes
// nothing back at all (no initial, periodic or final checkpoint): the computation alone, the
// baseline of a run with checkpoints.
//
//   node dist/examples/heat2d.js [--server 127.0.0.1:8556] [--object 0x4ea7:1] [--grid 1024]
//        [--steps 400] [--checkpoint-every 50] [--restart] [--quiet]
//
// Object layout: a 4 KiB header (magic, grid size, completed steps) then two grids of
// grid*grid float64 (the stencil reads one and writes the other, alternating each step).
import { createHash } from 'crypto';
import { ummap } from '../src';
import { ArgReader } from './args';

const MAGIC = 0x48454154; // "HEAT"
const HEADER = 4096;

interface Args {
  server: string;
  high: bigint;
  low: bigint;
  grid: number;
  steps: number;
  every: number;
  restart: boolean;
  quiet: boolean;
  segmentSize: string;
}

const USAGE = `Usage: heat2d [options]
  --server HOST:PORT       iocatcher server (default $IOC_SERVER or 127.0.0.1:8556)
  --object HIGH:LOW        object id (default 0x4ea7:1)
  --grid N                 grid is N x N float64 (default 1024)
  --steps S                total steps (default 400)
  --checkpoint-every K     sync() every K steps (default 50; 0: never, nothing written back)
  --segment-size SIZE      ummap segment size (default 1MB)
  --restart                resume from the object's last checkpoint
  --quiet                  no per-checkpoint lines
`;

function parseArgs(argv: string[]): Args {
  const a: Args = {
    server: process.env.IOC_SERVER ?? '127.0.0.1:8556', high: 0x4ea7n, low: 1n, grid: 1024, steps: 400, every: 50,
    restart: false, quiet: false, segmentSize: '1MB',
  };
  const r = new ArgReader(argv);
  for (let opt = r.next(); opt !== undefined; opt = r.next()) {
    switch (opt) {
      case '--server': a.server = r.value(); break;
      case '--object': ({ high: a.high, low: a.low } = r.objectId()); break;
      case '--grid': a.grid = r.int(3); break;
      case '--steps': a.steps = r.int(1); break;
      case '--checkpoint-every': a.every = r.int(0); break;
      case '--segment-size': a.segmentSize = r.value(); break;
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
  const gridBytes = n * n * 8;
  const size = HEADER + 2 * gridBytes;
  const t0 = process.hrtime.bigint();
  const m = ummap(args.high, args.low, size, { server: args.server, segmentSize: args.segmentSize });
  const header = new BigInt64Array(m.buffer, 0, 3);
  const grids = [new Float64Array(m.buffer, HEADER, n * n), new Float64Array(m.buffer, HEADER + gridBytes, n * n)];

  let done = 0;
  if (args.restart) {
    if (Number(header[0]) !== MAGIC || Number(header[1]) !== n) {
      process.stderr.write(`heat2d: object ${args.high}:${args.low} holds no checkpoint of a ${n}x${n} grid\n`);
      await m.unmap();
      process.exit(1);
    }
    done = Number(header[2]);
    console.log(`heat2d: restarting from the checkpoint at step ${done}`);
  } else {
    initGrid(grids[0], n);
    header[0] = BigInt(MAGIC);
    header[1] = BigInt(n);
    header[2] = 0n;
    if (args.every > 0) await m.sync();
  }
  console.log(`heat2d: ${n}x${n} grid (${(size / 1048576).toFixed(1)} MiB mapped from ${args.server}), steps ${done}..${args.steps}, ` +
    (args.every > 0 ? `checkpoint every ${args.every}` : 'no checkpoints'));

  let checkpoints = 0;
  let checkpointNs = 0n;  // time the steps waited for checkpoints (copies at the calls, earlier write-backs)
  let writing: Promise<void> = Promise.resolve();  // the checkpoint being written while steps go on
  for (let s = done; s < args.steps; s++) {
    step(grids[s % 2], grids[(s + 1) % 2], n);
    const completed = s + 1;
    if (args.every > 0 && (completed % args.every === 0 || completed === args.steps)) {
      const c0 = process.hrtime.bigint();
      await writing;
      // The grid first, then the header that points at it: a crash in between keeps the old
      // checkpoint valid. The grid is copied at the call; the steps go on while it is written.
      const grid = m.sync(HEADER + (completed % 2) * gridBytes, gridBytes);
      writing = grid.then(async () => {
        header[2] = BigInt(completed);
        await m.sync(0, HEADER);
        if (!args.quiet) console.log(`heat2d: checkpoint at step ${completed}`);  // durable now
      });
      checkpointNs += process.hrtime.bigint() - c0;
      checkpoints++;
    }
  }
  const final = grids[args.steps % 2];
  const checksum = createHash('sha256').update(new Uint8Array(final.buffer, final.byteOffset, final.byteLength)).digest('hex');
  await writing;
  const stats = m.stats();
  await m.unmap({ sync: args.every > 0 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ckptSeconds = Number(checkpointNs) / 1e9;
  console.log(`heat2d: done: ${args.steps - done} steps, ${checkpoints} checkpoints, ` +
    `${(stats.bytesWritten / 1048576).toFixed(1)} MiB written back, ${(stats.bytesRead / 1048576).toFixed(1)} MiB read, ` +
    `${seconds.toFixed(2)} s total, checkpoint throughput ${ckptSeconds > 0 ? (stats.bytesWritten / 1e6 / ckptSeconds).toFixed(0) : '-'} MB/s`);
  console.log(`checksum: ${checksum}`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`heat2d: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
