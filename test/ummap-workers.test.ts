// Two worker threads map and use two mappings at the same time (one process-wide userfaultfd
// and handler thread serve both).
import { strict as assert } from 'assert';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { IocError } from '../src/errors';
import { createPolicy, dropMemStore, ummap } from '../src/ummap';
import { MiB, tmpFile } from './ummap-util';

interface WorkerResult {
  ok: boolean;
  diff?: number;
  evictions?: number;
  error?: string;
}

function runWorker(data: object, onWritten?: (resident: number) => void): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(__dirname, 'ummap-worker-fixture.js'), { workerData: data });
    let result: WorkerResult | undefined;
    w.on('message', (m: WorkerResult & { written?: boolean; resident?: number }) => {
      if (m.written) onWritten?.(m.resident!);
      else result = m;
    });
    w.on('error', reject);
    w.on('exit', (code) => (result ? resolve(result) : reject(new Error(`worker exited with ${code} and no result`))));
  });
}

describe('ummap worker threads', function () {
  this.timeout(60000);

  it('two workers on two mappings at once, with the main thread using a third', async () => {
    try {
      const main = ummap('dummy://3', 16 * MiB);
      const results = runWorkers();
      // Keep the main thread faulting meanwhile.
      const view = new Uint8Array(main.buffer);
      let sum = 0;
      for (let i = 0; i < view.length; i += 4096) sum += view[i];
      assert.equal(sum, 3 * 4096);
      const [a, b] = await results;
      assert.equal(a.error, undefined);
      assert.equal(b.error, undefined);
      assert.ok(a.ok, `worker a mismatch at ${a.diff}`);
      assert.ok(b.ok, `worker b mismatch at ${b.diff}`);
      assert.ok((b.evictions ?? 0) > 0, 'worker b ran under its fifo policy');
      main.unmapSync();
    } finally {
      dropMemStore('worker-a');
    }
  });
});

describe('ummap named policies', function () {
  this.timeout(60000);

  it('two workers with fifo://4MB?name=... share one quota: their resident sum stays under it', async () => {
    const spec = 'fifo://4MB?name=workers-shared';
    const policy = createPolicy(spec);  // the same quota, seen from the main thread
    const gate = new SharedArrayBuffer(4);
    const resident: number[] = [];
    let used = -1;
    const written = () => {
      if (resident.length < 2) return;
      used = policy.stats().used;  // both hold their mappings until the gate opens
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
    };
    const onWritten = (r: number) => { resident.push(r); written(); };
    try {
      const [a, b] = await Promise.all([
        runWorker({ uri: 'mem://32MB?name=shared-a', size: 32 * MiB, seed: 21, policy: spec, gate }, onWritten),
        runWorker({ uri: 'mem://32MB?name=shared-b', size: 32 * MiB, seed: 22, policy: spec, gate }, onWritten),
      ]);
      for (const r of [a, b]) {
        assert.equal(r.error, undefined);
        assert.ok(r.ok, `mismatch at ${r.diff}`);
        assert.ok((r.evictions ?? 0) > 0, 'each worker evicted under the shared quota');
      }
      // One quota: the main thread's handle counts the workers' segments (the last worker to
      // report is exact; the first may have lost segments to the second since), within 4 MiB.
      assert.ok(used >= resident[1] && used <= resident[0] + resident[1], `quota used ${used}, resident ${resident}`);
      assert.ok(used > 0 && used <= 4 * MiB, `used ${used} within 4 MiB`);
      // A process-wide quota with wp-async tracking would lose writes that race an eviction
      // from another thread (seen here: 3 failures in 15 runs of this test): refused.
      assert.throws(() => ummap('mem://1MB', MiB, { policy: spec, dirtyTracking: 'wp-async' }), (e: IocError) => e.code === 'EINVAL' && /wp-fault/.test(e.message));
      // The name is taken with other parameters: refused.
      assert.throws(() => createPolicy('fifo://8MB?name=workers-shared'), (e: IocError) => e.code === 'EINVAL' && /other parameters/.test(e.message));
    } finally {
      dropMemStore('shared-a');
      dropMemStore('shared-b');
    }
  });
});

function runWorkers(): Promise<[WorkerResult, WorkerResult]> {
  return Promise.all([
    runWorker({ uri: 'mem://32MB?name=worker-a', size: 32 * MiB, seed: 11 }),
    runWorker({ uri: `file://${tmpFile('worker-b.bin')}`, size: 32 * MiB, seed: 12, policy: 'fifo://4MB' }),
  ]);
}
