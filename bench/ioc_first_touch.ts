// ummap first touch over ioc (a restart reading its checkpoint): a `size`-byte object already on
// the server, mapped with `segmentSize` segments and scanned front to back, one word per 4 KiB
// page. Run alone: `node dist/bench/ioc_first_touch.js HOST:PORT [SIZE_MiB] [SEGMENT_MiB...]`.
import { execFileSync } from 'child_process';
import * as path from 'path';
import { nativeBuildDir } from '../src/native';
import { ummap } from '../src/ummap';

const MiB = 1 << 20;
const PAGE_WORDS = 4096 / 4;

/** Objects already written by this process (one per server and size). */
const filled = new Set<string>();

/** The object the bench reads: written once (non-zero words, all pages), synced. */
function objectFor(server: string, size: number): string {
  const uri = `ioc://0x1f7:${size}`;
  if (filled.has(`${server}/${uri}`)) return uri;
  const m = ummap(uri, size, { server, segmentSize: 8 * MiB, noFirstRead: true });
  const words = new Uint32Array(m.buffer);
  for (let i = 0; i < words.length; i += 1024) words.fill(0x01020304 + i, i, Math.min(words.length, i + 1024));
  m.unmapSync({ sync: true });
  filled.add(`${server}/${uri}`);
  return uri;
}

/** GB/s of one first-touch scan of a `size`-byte object of `server` with `segmentSize` segments. */
export async function ummapIocFirstTouch(server: string, size: number, segmentSize: number): Promise<number> {
  const uri = objectFor(server, size);
  const m = ummap(uri, size, { server, segmentSize });
  try {
    const words = new Int32Array(m.buffer);
    let sum = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < words.length; i += PAGE_WORDS) sum = (sum + words[i]) | 0;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (sum === 0x7fffffff) console.log('');  // keep the loop observable
    return size / seconds / 1e9;
  } finally {
    await m.unmap({ sync: false });
  }
}

/** The C client's 1 MiB read bandwidth against `server` (iocatcher-client-bench), GB/s: the baseline. */
export function clientReadGbps(server: string): number {
  const [host, port] = server.split(':');
  const out = execFileSync(path.join(nativeBuildDir, 'iocatcher-client-bench'), ['--port', port, '--mode', 'read', '--size', '1M', '--json', host], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`iocatcher-client-bench printed no result: ${out}`);
  return (JSON.parse(line) as { GBps: number }).GBps;
}

if (require.main === module) {
  const [server, sizeMiB = '1024', ...segs] = process.argv.slice(2);
  if (!server) {
    console.error('usage: ioc_first_touch HOST:PORT [SIZE_MiB] [SEGMENT_MiB...]');
    process.exit(2);
  }
  (async () => {
    const size = Number(sizeMiB) * MiB;
    for (const seg of segs.length ? segs.map(Number) : [1, 8]) {
      const runs: number[] = [];
      for (let r = 0; r < 5; r++) runs.push(await ummapIocFirstTouch(server, size, seg * MiB));
      const sorted = [...runs].sort((a, b) => a - b);
      console.log(`ioc first touch ${sizeMiB} MiB, ${seg} MiB segments: median ${sorted[2].toFixed(2)} GB/s (runs ${runs.map((v) => v.toFixed(2)).join(' ')})`);
    }
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
