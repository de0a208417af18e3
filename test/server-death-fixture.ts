// Child process for test/server-death.test.ts: keeps calling a server that the test kills and
// restarts under it, and reports what every call gave.
//   node server-death-fixture.js client PORT   three loops of 4 KiB writes and reads (IocClient)
//   node server-death-fixture.js ummap PORT    faults (a fifo policy keeps evicting) and syncs
// stdin: "mark" -> prints "resumed" once calls (ummap: syncs) succeed again after it; "stop" -> prints one
// JSON summary line and exits 0. The process dying (an abort, a signal) is what the test catches.
import * as readline from 'readline';
import { IocClient, IocError, ummap } from '../src';

const [mode, portArg] = process.argv.slice(2);
const port = Number(portArg);
let ok = 0;
let markAt = -1;
let stopping = false;
const codes: Record<string, number> = {};
const uncoded: string[] = [];

function succeeded(): void {
  ok++;
  if (markAt >= 0 && ok >= markAt + 6) {
    markAt = -1;
    process.stdout.write('resumed\n');
  }
}
function failed(e: unknown): void {
  const code = e instanceof IocError ? e.code : undefined;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) codes[code] = (codes[code] ?? 0) + 1;
  else uncoded.push(String((e as Error)?.stack ?? e));
}
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function clientLoops(): Promise<void> {
  const c = await IocClient.connect('127.0.0.1', port);
  c.setTimeout(3000);
  const loops = [0, 1, 2].map(async (n) => {
    const data = Buffer.alloc(4096, n + 1);
    while (!stopping) {
      try {
        await c.write(0xdea7, n, 0, data);
        const back = await c.read(0xdea7, n, 0, data.length);
        if (back.length !== data.length) throw new Error(`short read: ${back.length}`);
        succeeded();
      } catch (e) {
        failed(e);
        await pause(5);  // a down server fails fast: do not spin on it
      }
    }
  });
  await Promise.all(loops);
  c.close();
}

async function ummapLoop(): Promise<void> {
  const SEG = 1 << 20;
  const SIZE = 32 * SEG;
  // Four segments resident at most: touches keep faulting segments in and evicting dirty ones.
  const m = ummap(0xdea7, 100, SIZE, { server: `127.0.0.1:${port}`, segmentSize: SEG, policy: 'fifo://4MB', readAhead: 0 });
  const u = new Uint8Array(m.buffer);
  for (let i = 0; !stopping; i++) {
    const seg = (i * 7) % 32;
    u[seg * SEG + (i % 256) * 4096] = i & 0xff;  // a fault (and an eviction's write-back)
    if (i % 16 === 15) {
      try {
        await m.sync();
        succeeded();
      } catch (e) {
        failed(e);
      }
    }
    await pause(1);
  }
  try {
    await m.unmap({ sync: false });
  } catch (e) {
    failed(e);
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'mark') markAt = ok;
  if (line === 'stop') stopping = true;
});
(mode === 'ummap' ? ummapLoop() : clientLoops()).then(() => {
  process.stdout.write(`${JSON.stringify({ ok, codes, uncoded })}\n`);
  process.exit(0);
}, (e) => {
  process.stderr.write(`fixture failed: ${(e as Error).stack}\n`);
  process.exit(3);
});
