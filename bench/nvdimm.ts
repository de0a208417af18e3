// Issue 12, --nvdimm: the cold C-client checkpoint of bench/cold.ts with the server's segments in
// a persistent-memory pool, where each write is made durable before it is acknowledged. On
// /dev/shm with PMEM_IS_PMEM_FORCE=1 (libpmem flushes CPU caches, as on real pmem) beside the
// same checkpoint without --nvdimm, on a fresh server just before each; then with the pool on a
// disk file (msync per commit: the server's group commit), an informational figure.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cCheckpoint } from './cold';
import { GiB, log, median, MiB, num, pairedRepetitions, pairedRow, ratioRow, Server, sizeLabel, withServer } from './common';

/** The server's cache line names the pool and how it is made durable: check it is the one meant. */
function poolMode(s: Server, expected: string): void {
  const line = s.output().split('\n').find((l) => /info cache\]/.test(l) && /iocatcher-pool/.test(l)) ?? '';
  if (!line.includes(expected)) throw new Error(`--nvdimm server: expected a pool ${expected}, it says: ${line || s.output()}`);
}

export async function runNvdimm(quick: boolean): Promise<void> {
  const total = quick ? 256 * MiB : GiB;
  const group = `--nvdimm cold ${sizeLabel(total)} checkpoint`;
  const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const pool = fs.mkdtempSync(path.join(shm, 'ioc-bench-pmem-'));
  // Pairs of fresh servers, the one without --nvdimm just before the one with it.
  const reps = pairedRepetitions(quick);
  const without: number[] = [], absorbed: number[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      log(`${group}: fresh server without --nvdimm, then one with its pool in ${pool} (PMEM_IS_PMEM_FORCE=1) (${i + 1}/${reps})`);
      without.push(num(await withServer((s) => cCheckpoint(s, total, '0x132:1')), 'absorbGBps'));
      const dir = fs.mkdtempSync(path.join(pool, 'run-'));
      const r = await withServer(async (s) => {
        poolMode(s, '(pmem)');
        return cCheckpoint(s, total, '0x132:2');
      }, { args: () => ['--nvdimm', dir], env: { PMEM_IS_PMEM_FORCE: '1' } });
      fs.rmSync(dir, { recursive: true, force: true });  // RAM: one pool at a time
      absorbed.push(num(r, 'absorbGBps'));
    }
  } finally {
    fs.rmSync(pool, { recursive: true, force: true });
  }
  const of = reps > 1 ? `, median of ${reps} fresh servers` : '';
  const pairs = reps > 1 ? `, each just before; ratio: median of the ${reps} pairs` : '';
  pairedRow(group, `C client absorbed, pool on /dev/shm as pmem (PMEM_IS_PMEM_FORCE=1${of})`, absorbed, without, 'GB/s',
    `same without --nvdimm${pairs}`, 0.8);
  log(`${group}: pool file in the store directory (msync), fresh server`);
  // The pool lives in the store directory, removed with it when the server stops.
  const d = await withServer(async (s) => {
    poolMode(s, '(msync)');
    return cCheckpoint(s, total, '0x132:3');
  }, { args: (store) => ['--nvdimm', path.join(store, 'pmem-pool')] });
  ratioRow(group, 'group commit on a disk file: C client absorbed, pool file in the store directory', num(d, 'absorbGBps'), 'GB/s',
    `same without --nvdimm (median of the ${reps} above)`, median(without), true);
}
