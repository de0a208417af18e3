// multi-worker: several worker_threads each evolve and checkpoint their own slice of one shared
// problem into ONE object. Each worker maps only its slice (ummap with storageOffset); the ioc
// driver registers that range for writing on the server, so the slices are registered,
// non-overlapping ranges, and a mapping that overlaps a running worker's slice is refused.
//
//   node dist/examples/multi-worker.js [--server 127.0.0.1:8556] [--object 0x3017:1]
//        [--workers 4] [--slice-bytes 4194304] [--steps 60] [--every 20]
import { createHash } from 'crypto';
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import { IocClient, IocError, ummap } from 'iocatcher';
import { ArgReader } from './args';

interface Job {
  server: string;
  high: string;
  low: string;
  index: number;
  sliceBytes: number;
  steps: number;
  every: number;
  /** Int32 flag set by the main thread once it has tried the overlapping mapping: a worker keeps
   * its slice mapped (and so registered) until then, however fast it would otherwise finish. */
  gate: SharedArrayBuffer;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 32);

async function workerMain(job: Job): Promise<void> {
  const m = ummap(BigInt(job.high), BigInt(job.low), job.sliceBytes, {
    server: job.server, storageOffset: job.index * job.sliceBytes, segmentSize: '256KB',
  });
  const cells = new Float64Array(m.buffer);
  for (let i = 0; i < cells.length; i++) cells[i] = ((i + job.index * 7919) % 1000) / 1000;
  parentPort!.postMessage({ type: 'mapped', index: job.index });
  Atomics.wait(new Int32Array(job.gate), 0, 0);
  let checkpoints = 0;
  let writing: Promise<void> = Promise.resolve();  // the last checkpoint, written while steps go on
  for (let s = 1; s <= job.steps; s++) {
    const r = 3.6 + job.index * 0.05;
    for (let i = 0; i < cells.length; i++) cells[i] = r * cells[i] * (1 - cells[i]);
    if (s % job.every === 0 || s === job.steps) {
      await writing;
      writing = m.sync();  // copies the slice now
      checkpoints++;
    }
  }
  await writing;
  const sum = sha(new Uint8Array(m.buffer));
  const stats = m.stats();
  await m.unmap();
  parentPort!.postMessage({ type: 'done', index: job.index, checksum: sum, checkpoints, bytesWritten: stats.bytesWritten });
}

async function main(argv: string[]): Promise<void> {
  const o = { server: process.env.IOC_SERVER ?? '127.0.0.1:8556', object: '0x3017:1', workers: 4, sliceBytes: 4 << 20, steps: 60, every: 20 };
  const r = new ArgReader(argv);
  for (let opt = r.next(); opt !== undefined; opt = r.next()) {
    switch (opt) {
      case '--server': o.server = r.value(); break;
      case '--object': o.object = r.value(); break;
      case '--workers': o.workers = r.int(1, 64); break;
      case '--slice-bytes': o.sliceBytes = r.int(4096); break;
      case '--steps': o.steps = r.int(1); break;
      case '--every': o.every = r.int(1); break;
      case '-h': case '--help':
        console.log('Usage: multi-worker [--server H:P] [--object HIGH:LOW] [--workers N] [--slice-bytes B] [--steps S] [--every K]');
        return;
      default: throw new IocError('EINVAL', `unknown option ${opt}`);
    }
  }
  if (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > 64) throw new IocError('EINVAL', '--workers must be 1..64');
  if (!Number.isInteger(o.sliceBytes) || o.sliceBytes <= 0 || o.sliceBytes % 4096) throw new IocError('EINVAL', '--slice-bytes must be a positive multiple of 4096');
  const [high, low] = o.object.split(':');
  const t0 = Date.now();
  const results = new Map<number, { checksum: string; checkpoints: number; bytesWritten: number }>();
  let mapped = 0;
  let overlapRefused = false;
  let overlapOutcome = 'not tried';
  const gate = new SharedArrayBuffer(4);
  const openGate = () => { Atomics.store(new Int32Array(gate), 0, 1); Atomics.notify(new Int32Array(gate), 0); };
  await new Promise<void>((resolve, reject) => {
    let finished = 0;
    for (let i = 0; i < o.workers; i++) {
      const job: Job = { server: o.server, high, low, index: i, sliceBytes: o.sliceBytes, steps: o.steps, every: o.every, gate };
      const w = new Worker(__filename, { workerData: job });
      w.on('message', async (msg) => {
        if (msg.type === 'mapped' && ++mapped === o.workers) {
          // Every slice is registered for writing: a mapping across two slices must be refused.
          try {
            const intruder = ummap(BigInt(high), BigInt(low), 8192, { server: o.server, storageOffset: o.sliceBytes - 4096 });
            await intruder.unmap();
            overlapOutcome = 'mapped';
          } catch (e) {
            overlapRefused = (e as IocError).code === 'EBUSY';
            overlapOutcome = `${(e as IocError).code}: ${(e as Error).message}`;
          } finally {
            openGate();
          }
        }
        if (msg.type === 'done') {
          results.set(msg.index, msg);
          if (++finished === o.workers) resolve();
        }
      });
      w.on('error', (e) => { openGate(); reject(e); });
    }
  });
  // Read the assembled object back through the client and check every slice.
  const [h, p] = o.server.split(':');
  const client = await IocClient.connect(h, Number(p ?? 8556));
  let ok = true;
  for (let i = 0; i < o.workers; i++) {
    const slice = await client.read(BigInt(high), BigInt(low), i * o.sliceBytes, o.sliceBytes);
    const r = results.get(i)!;
    const match = sha(slice) === r.checksum;
    ok &&= match;
    console.log(`worker ${i}: ${r.checkpoints} checkpoints, ${(r.bytesWritten / 1048576).toFixed(1)} MiB written back, slice checksum ${r.checksum} ${match ? 'ok' : 'MISMATCH'}`);
  }
  client.close();
  console.log(`multi-worker: ${o.workers} workers x ${(o.sliceBytes / 1048576).toFixed(1)} MiB, ${o.steps} steps, overlapping mapping ${overlapRefused ? 'refused (EBUSY)' : 'NOT refused'}, ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  if (!overlapRefused) process.stderr.write(`multi-worker: the overlapping mapping was not refused with EBUSY (${overlapOutcome})\n`);
  if (!ok) process.stderr.write('multi-worker: a slice read back differs from what its worker wrote\n');
  if (!ok || !overlapRefused) process.exitCode = 1;
}

if (isMainThread) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`multi-worker: ${(e as Error).message}\n`);
    process.exit(1);
  });
} else {
  workerMain(workerData as Job);  // a rejection ends the worker with an error event: main rejects
}
