// Two worker threads map and use two mappings at the same time (one process-wide userfaultfd
// and handler thread serve both).
import { strict as assert } from 'assert';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { dropMemStore, ummap } from '../src/ummap';
import { MiB, tmpFile } from './ummap-util';

interface WorkerResult {
  ok: boolean;
  diff?: number;
  evictions?: number;
  error?: string;
}

function runWorker(data: object): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(__dirname, 'ummap-worker-fixture.js'), { workerData: data });
    let result: WorkerResult | undefined;
    w.on('message', (m: WorkerResult) => (result = m));
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
      main.unmap();
    } finally {
      dropMemStore('worker-a');
    }
  });
});

function runWorkers(): Promise<[WorkerResult, WorkerResult]> {
  return Promise.all([
    runWorker({ uri: 'mem://32MB?name=worker-a', size: 32 * MiB, seed: 11 }),
    runWorker({ uri: `file://${tmpFile('worker-b.bin')}`, size: 32 * MiB, seed: 12, policy: 'fifo://4MB' }),
  ]);
}
