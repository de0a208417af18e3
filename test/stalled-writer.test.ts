// Issue 26 item 3: a writer stopped in the middle of an in-place write holds only the byte range
// it writes, and gives it back the moment its request fails (--rma-timeout, or its client goes).
// The stop happens mid-transfer by a server failpoint (server.stall_inplace_write: half of the
// in-place transfer is posted, never the rest), then the writer process is SIGSTOPped for real.
//
// The guarantee asserted: while A is stopped, B's writes and reads outside A's range [2, 6) MiB
// are answered. A's request holds its range until A is killed, which the test does only after
// B's calls returned, so a call of B that waited for A's range could only end by B's own client
// timeout (ETIMEDOUT): no timing is bet on. Once A's request has
// failed (timed out, or A killed) every byte of A's range reads back as the old bytes (A's write
// was never acknowledged: none of its bytes, even those that landed, may be served), before and
// after A is killed, and B's acknowledged bytes (at 0 and at 7 MiB, same 8 MiB segment) are kept,
// in the cache and in the store after a flush.
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { hex16 } from './helpers/assertions';
import { failpoints } from './helpers/failpoints';
import { pattern, startServer, tmpDir } from './helpers/server';
import { withBound } from './helpers/faults';

const MiB = 1 << 20;
const distSrc = path.resolve(__dirname, '..', 'src');

async function waitForCount(logs: () => string, re: RegExp, n: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  const g = new RegExp(re.source, 'g');
  while ([...logs().matchAll(g)].length < n) {
    if (Date.now() > deadline) throw new Error(`the server never logged ${re} ${n} times`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a writer stopped mid-transfer (issue 26 item 3)', function () {
  this.timeout(240000);

  // rounds; timedOut: A's request fails by --rma-timeout (3 s) while A stays stopped, and its
  // range is checked then, before A is killed; else it fails when A is killed.
  const stalledRounds = (rounds: number, timedOut: boolean) => async () => {
    const server = await startServer({ args: ['--rma-timeout', timedOut ? '3' : '600'], env: failpoints({ 'server.stall_inplace_write': `value(${4 * MiB})` }) });
    const b = await IocClient.connect(server.host, server.port);
    const dir = tmpDir('ioc-stall-');
    const script = `
      const { IocClient } = require(${JSON.stringify(distSrc)});
      (async () => {
        const c = await IocClient.connect('127.0.0.1', ${server.port});
        await c.write(Number(process.argv[1]), Number(process.argv[2]), ${2 * MiB}, require('fs').readFileSync(process.argv[3]));
        process.stdout.write('acknowledged\\n');
      })().catch((e) => { process.stdout.write('failed ' + e.code + '\\n'); process.exit(1); });`;
    try {
      for (let round = 0; round < rounds; round++) {
        const high = 260, low = round;
        b.setTimeout(10000);
        const oldData = pattern(8 * MiB, 100 + round);
        await withBound(b.write(high, low, 0, oldData), 30000, 'the old bytes');
        await withBound(b.flush(high, low), 30000, 'the flush');  // a clean segment: A's write lands in place
        const file = path.join(dir, `new-${round}.bin`);
        const newData = pattern(4 * MiB, 200 + round);
        fs.writeFileSync(file, newData);
        const writer = spawn(process.execPath, ['-e', script, String(high), String(low), file], { stdio: ['ignore', 'pipe', 'inherit'] });
        let writerOut = '';
        writer.stdout!.on('data', (d: Buffer) => { writerOut += d.toString(); });
        const writerExit = new Promise((r) => writer.on('exit', r));
        try {
          await waitForCount(server.logs, /stalled mid-transfer/, round + 1, 20000);
          process.kill(writer.pid!, 'SIGSTOP');
          // B, same segment, outside A's range: at once, while A's request is still in flight.
          const small0 = pattern(4096, 300 + round), small7 = pattern(4096, 400 + round);
          for (const [off, data] of [[0, small0], [7 * MiB, small7]] as const) assert.equal(await b.write(high, low, off, data), 4096);
          assert.ok((await b.read(high, low, MiB, 4096)).equals(oldData.subarray(MiB, MiB + 4096)));
          assert.ok((await b.read(high, low, 6 * MiB, 64 * 1024)).equals(oldData.subarray(6 * MiB, 6 * MiB + 64 * 1024)));
          const expected = Buffer.from(oldData);
          small0.copy(expected, 0);
          small7.copy(expected, 7 * MiB);
          if (timedOut) {
            // The request fails by --rma-timeout while A stays stopped: its range is free at once.
            await waitForCount(server.logs, /did not complete within 3 s/, round + 1, 60000);
            const during = await withBound(b.read(high, low, 2 * MiB, 4 * MiB), 30000, 'A\'s range after its failure');
            assert.ok(during.equals(oldData.subarray(2 * MiB, 6 * MiB)), `round ${round}: A's failed range is not the old bytes`);
            const all = await b.read(high, low, 0, 8 * MiB);
            assert.ok(all.equals(expected), `round ${round}: the segment differs while A is stopped`);
          }
          writer.kill('SIGKILL');
          await writerExit;
          b.setTimeout(10000);
          // A's range, after A's death: old; B's bytes kept.
          const back = await withBound(b.read(high, low, 0, 8 * MiB), 30000, 'the segment after A died');
          for (let p = 0; p < 8 * MiB; p += 4096)
            assert.ok(back.subarray(p, p + 4096).equals(expected.subarray(p, p + 4096)), `round ${round}: page at ${p} differs`);
          assert.equal(writerOut, '', 'A\'s write was never acknowledged');
          await withBound(b.flush(high, low), 30000, 'the final flush');
          const stored = fs.readFileSync(path.join(server.store, `${hex16(high)}-${hex16(low)}`));
          assert.ok(stored.subarray(0, 8 * MiB).equals(expected), `round ${round}: the store differs`);
        } finally {
          if (writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
          await writerExit;
        }
      }
      assert.match(server.logs(), /restored from the store/);
      assert.doesNotMatch(server.logs(), /cannot restore/);
    } finally {
      b.close();
      await server.stop();
    }
  };

  it('20 rounds, A killed while stopped: other clients\' writes and reads outside the stalled range are answered; A\'s range reads back old; theirs are kept',
    stalledRounds(20, false));
  it('4 rounds, A\'s request failed by --rma-timeout while A stays stopped: its range is old at once, before and after A is killed',
    stalledRounds(4, true));
});
