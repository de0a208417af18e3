// Body of a worker thread for ummap-workers.test.ts: maps its own store, writes, syncs,
// unmaps, maps again and checks, then reports to the parent.
import { parentPort, workerData } from 'worker_threads';
import { ummap } from '../src/ummap';
import { firstDifference, randomWrites } from './ummap-util';

const { uri, size, seed, policy, gate } = workerData as { uri: string; size: number; seed: number; policy?: string; gate?: SharedArrayBuffer };
try {
  const reference = new Uint8Array(size);
  let m = ummap(uri, size, { segmentSize: 256 * 1024, policy });
  randomWrites(new Uint8Array(m.buffer), reference, 3000, seed);
  if (gate) {
    // Written: say how much is resident, and keep the mapping until the parent has looked.
    parentPort!.postMessage({ written: true, resident: m.stats().residentBytes });
    Atomics.wait(new Int32Array(gate), 0, 0);
  }
  const evictions = m.stats().evictions;
  m.syncSync();
  m.unmapSync();
  m = ummap(uri, size);
  const diff = firstDifference(new Uint8Array(m.buffer), reference);
  m.unmapSync({ sync: false });
  parentPort!.postMessage({ ok: diff === -1, diff, evictions, threadFaults: true });
} catch (e) {
  parentPort!.postMessage({ ok: false, error: String((e as Error).stack ?? e) });
}
