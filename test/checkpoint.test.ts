// Checkpoint sets (src/checkpoint): versions commit whole, restore alone, cost what changed,
// and keep N.
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { IocClient, IocError, openCheckpoints, optimalInterval, setHigh, splitLow } from '../src';
import { repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';
import { contentAt, PAGE, writeVersion } from './checkpoint-content';

const SIZE = 4 << 20;

describe('checkpoint sets', function () {
  this.timeout(120000);
  let server: ServerHandle;
  let client: IocClient;
  before(async () => {
    server = await startServer({ args: ['--segment-size', '1MB'] });
    client = await IocClient.connect(server.address);
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  /** The set's objects as (seq, slot) pairs, from the namespace listing. */
  async function objectsOf(high: bigint): Promise<{ seq: bigint; slot: number }[]> {
    const out: { seq: bigint; slot: number }[] = [];
    for await (const o of client.list({ high })) out.push(splitLow(o.low));
    return out;
  }

  it('commits versions that restore exactly, in a new process-like set, also an older one', async () => {
    const ck = await openCheckpoints('roundtrip', { server: server.address, keep: 3 });
    const mems = [new Uint8Array((await ck.protect('a', SIZE)).buffer), new Uint8Array((await ck.protect('b', '1MB')).buffer)];
    assert.strictEqual(await ck.latest(), undefined);
    for (let v = 1; v <= 3; v++) {
      mems.forEach((m, r) => writeVersion(m, v, r));
      const res = await ck.checkpoint(v);
      assert.strictEqual(res.version, v);
    }
    // Written after the last checkpoint: never part of a version, even when the set is closed.
    mems[0].fill(0xee, 0, PAGE);
    await ck.close();

    const again = await openCheckpoints('roundtrip', { server: server.address });
    const back = [new Uint8Array((await again.protect('a', SIZE)).buffer), new Uint8Array((await again.protect('b', '1MB')).buffer)];
    assert.strictEqual(await again.latest(), 3);
    assert.deepStrictEqual((await again.versions()).map((v) => v.version), [3, 2, 1]);
    await again.restore(3);
    assert.ok(Buffer.from(back[0]).equals(Buffer.from(contentAt(3, 0, SIZE))), 'region a at version 3');
    assert.ok(Buffer.from(back[1]).equals(Buffer.from(contentAt(3, 1, 1 << 20))), 'region b at version 3');
    // Touched memory is replaced too.
    back[0].fill(1);
    await again.restore(1);
    assert.ok(Buffer.from(back[0]).equals(Buffer.from(contentAt(1, 0, SIZE))), 'region a at version 1');
    await assert.rejects(again.restore(7), (e: IocError) => e.code === 'ENOENT' && /no complete version 7/.test(e.message));
    await again.close();
  });

  it('sends only the pages written since the previous checkpoint, and each version restores alone after older ones are deleted', async () => {
    const ck = await openCheckpoints('delta', { server: server.address, keep: 1 });
    const mem = new Uint8Array((await ck.protect('grid', SIZE)).buffer);
    mem.fill(7);
    const first = await ck.checkpoint(1);
    assert.strictEqual(first.bytesSent, SIZE);
    mem[5 * PAGE + 3] = 9;
    mem[900 * PAGE] = 9;
    const second = await ck.checkpoint(2);
    assert.strictEqual(second.bytesSent, 2 * PAGE, 'two pages written, two pages sent');
    assert.ok(second.blockedMs <= second.durationMs);
    // keep: 1 deleted version 1's objects: version 2 stands alone (beside the next commit's copy, made ahead).
    const objs = await objectsOf(ck.high);
    assert.deepStrictEqual(objs.filter((o) => o.slot === 0).map((o) => o.seq), [second.seq]);
    assert.ok(objs.every((o) => o.seq >= second.seq), 'nothing of version 1 is left');
    await ck.close();
    assert.deepStrictEqual([...new Set((await objectsOf(ck.high)).map((o) => o.seq))], [second.seq], 'close() removed the copy made ahead');
    const again = await openCheckpoints('delta', { server: server.address });
    const back = new Uint8Array((await again.protect('grid', SIZE)).buffer);
    await again.restore(2);
    const expected = new Uint8Array(SIZE).fill(7);
    expected[5 * PAGE + 3] = 9;
    expected[900 * PAGE] = 9;
    assert.ok(Buffer.from(back).equals(Buffer.from(expected)));
    await again.close();
  });

  it('overlapping checkpoints each take the content of their call and commit in call order', async () => {
    const ck = await openCheckpoints('overlap', { server: server.address, keep: 3 });
    const mem = new Uint8Array((await ck.protect('a', SIZE)).buffer);
    writeVersion(mem, 1, 0);
    const first = ck.checkpoint(1);
    writeVersion(mem, 2, 0);  // while version 1 is under way
    const second = ck.checkpoint(2);
    writeVersion(mem, 3, 0);  // never checkpointed
    const [r1, r2] = await Promise.all([first, second]);
    assert.ok(r1.seq < r2.seq);
    await ck.close();
    const again = await openCheckpoints('overlap', { server: server.address });
    const back = new Uint8Array((await again.protect('a', SIZE)).buffer);
    assert.strictEqual(await again.latest(), 2);
    for (const v of [1, 2]) {
      await again.restore(v);
      assert.ok(Buffer.from(back).equals(Buffer.from(contentAt(v, 0, SIZE))), `version ${v}`);
    }
    await again.close();
  });

  it('keep: 2 and 10 checkpoints leave exactly 2 versions\' objects (iocatcher ls)', async () => {
    const ck = await openCheckpoints('keep2', { server: server.address, keep: 2 });
    const mems = [new Uint8Array((await ck.protect('a', '1MB')).buffer), new Uint8Array((await ck.protect('b', '1MB')).buffer)];
    const seqs: bigint[] = [];
    for (let v = 1; v <= 10; v++) {
      mems.forEach((m, r) => writeVersion(m, v, r));
      seqs.push((await ck.checkpoint(v)).seq);
    }
    await ck.close();
    const high = setHigh('keep2');
    const out = execFileSync(process.execPath, [path.join(repoRoot, 'bin', 'iocatcher.js'), 'ls', '--server', server.address, '--high', high.toString(), '--json'], { encoding: 'utf8' });
    const listed = out.trim().split('\n').map((l) => JSON.parse(l) as { high: string; low: string }).map((o) => splitLow(BigInt(o.low)));
    const expected = seqs.slice(-2).flatMap((s) => [0, 1, 2].map((slot) => `${s}:${slot}`)).sort();
    assert.deepStrictEqual(listed.map((o) => `${o.seq}:${o.slot}`).sort(), expected);
  });

  it('names its objects as documented: high from the name, low = seq * 65536 + slot', async () => {
    assert.strictEqual(setHigh('heat2d'), setHigh('heat2d'));
    assert.notStrictEqual(setHigh('heat2d'), setHigh('heat2e'));
    assert.strictEqual(setHigh('heat2d') >> 48n, 0x4943n);
    const ck = await openCheckpoints('ids', { server: server.address });
    await ck.protect('x', '64KB');
    const res = await ck.checkpoint(5);
    const objs = (await objectsOf(setHigh('ids'))).filter((o) => o.seq === res.seq).map((o) => o.slot).sort();
    assert.deepStrictEqual(objs, [0, 1]);
    const st = await client.stat(setHigh('ids'), res.seq * 65536n + 1n);
    assert.ok(st.size <= 65536);
    await ck.close();
  });

  it('refuses bad arguments with typed errors', async () => {
    await assert.rejects(openCheckpoints('', { server: server.address }), (e: IocError) => e.code === 'EINVAL');
    await assert.rejects(openCheckpoints('x', { server: server.address, keep: 0 }), (e: IocError) => e.code === 'EINVAL');
    await assert.rejects(openCheckpoints('x', { server: `${server.address},${server.address.replace(/:\d+$/, ':1')}` }),
      (e: IocError) => e.code === 'EINVAL' && /needs one server/.test(e.message));
    const ck = await openCheckpoints('bad', { server: server.address });
    await assert.rejects(ck.checkpoint(1), (e: IocError) => e.code === 'EINVAL' && /protect/.test(e.message));
    await ck.protect('a', '64KB');
    await assert.rejects(ck.protect('a', '64KB'), (e: IocError) => e.code === 'EEXIST');
    await assert.rejects(ck.checkpoint(2 ** 53), (e: IocError) => e.code === 'EINVAL' && /safe integer/.test(e.message));
    await assert.rejects(ck.checkpoint(1, { durability: 'disk' as never }), (e: IocError) => e.code === 'EINVAL');
    await ck.close();
    await assert.rejects(ck.checkpoint(1), (e: IocError) => e.code === 'EBADF');
  });

  it('suggests an interval by Young\'s and Daly\'s formulas from the measured cost', async () => {
    assert.strictEqual(optimalInterval(2, 3600, 'young'), Math.sqrt(2 * 2 * 3600));
    const daly = optimalInterval(2, 3600, 'daly');
    assert.ok(daly > 0 && Math.abs(daly - (Math.sqrt(14400) * (1 + Math.sqrt(2 / 7200) / 3 + 2 / 7200 / 9) - 2)) < 1e-9);
    assert.strictEqual(optimalInterval(10, 4), 4);
    const ck = await openCheckpoints('interval', { server: server.address });
    await ck.protect('a', '64KB');
    assert.throws(() => ck.suggestedInterval({ mtbfSeconds: 3600 }), (e: IocError) => e.code === 'EINVAL');
    const res = await ck.checkpoint(1);
    const advice = ck.suggestedInterval({ mtbfSeconds: 3600, formula: 'young' });
    assert.ok(Math.abs(advice.costSeconds - res.durationMs / 1000) < 1e-9);
    assert.ok(Math.abs(advice.seconds - Math.sqrt(2 * advice.costSeconds * 3600)) < 1e-9);
    await ck.close();
  });
});

describe('checkpoint sets across a server restart without --nvdimm', function () {
  this.timeout(120000);

  it('versions held only in the lost memory are no longer complete; the next checkpoint fails with ESTALE, the one after it holds every page', async () => {
    const store = tmpDir('ioc-store-');
    let server = await startServer({ store, args: ['--segment-size', '1MB'] });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const ck = await openCheckpoints('restart', { server: server.address, keep: 4 });
      const mem = new Uint8Array((await ck.protect('a', SIZE)).buffer);
      for (let v = 1; v <= 2; v++) {
        writeVersion(mem, v, 0);
        await ck.checkpoint(v, { durability: v === 1 ? 'store' : 'server' });
      }
      await ck.idle();
      const port = server.port;
      await server.kill();
      server = await startServer({ store, port, args: ['--segment-size', '1MB'] });
      // Version 2 was only in the server's memory: gone. Version 1 was in its store.
      assert.deepStrictEqual((await ck.versions()).map((v) => v.version), [1]);
      writeVersion(mem, 3, 0);
      await assert.rejects(ck.checkpoint(3), (e: IocError) => e.code === 'ESTALE' && /nothing committed/.test(e.message));
      await new Promise((r) => setImmediate(r));  // warnings are emitted on the next tick
      assert.ok(warnings.some((w) => (w as Error & { code?: string }).code === 'IOC_SERVER_RESTARTED'), 'the restart was reported as a warning');
      // The pages the server lost went with this checkpoint's snapshot: version 3 is whole.
      await ck.checkpoint(3);
      await ck.close();
      const again = await openCheckpoints('restart', { server: server.address });
      const back = new Uint8Array((await again.protect('a', SIZE)).buffer);
      assert.strictEqual(await again.latest(), 3);
      await again.restore(3);
      assert.ok(Buffer.from(back).equals(Buffer.from(contentAt(3, 0, SIZE))));
      await again.close();
    } finally {
      process.off('warning', onWarning);
      await server.stop();
    }
  });
});
