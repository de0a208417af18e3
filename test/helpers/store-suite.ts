// The backing-store test suite, run against every store the server has (test/server.test.ts: the
// directory store; test/rados.test.ts: RADOS on a real cluster). Each test starts its own server
// processes on the store given by the fixture, so that restarts read what the store holds.
import { strict as assert } from 'assert';
import { IocClient, IocError } from '../../src';
import { pattern, serversWithClients } from './server';

const MiB = 1 << 20;

export interface StoreFixture {
  /** A store for one test: startServer() options (store, extra args, environment). */
  newStore(): { store: string; args?: string[]; env?: NodeJS.ProcessEnv };
  /** Bytes the store holds for object (high, low) (undefined: no such object). */
  stored(store: string, high: number, low: number): Promise<Buffer | undefined>;
}

/** Registers the suite; `fixture` is called when the tests run (after the caller's before hooks). */
export function backingStoreSuite(name: string, fixture: () => StoreFixture, idBase: number): void {
  describe(`backing store suite: ${name}`, function () {
    this.timeout(120000);
    const start = serversWithClients();
    const H = idBase;

    it('writes and reads back byte for byte (eager, RMA, across segments), flush stores the logical size', async () => {
      const spec = fixture().newStore();
      const { client } = await start(spec);
      const cases: Array<[number, number]> = [[1, 0], [32 * 1024 + 1, 0], [9 * MiB + 5, 8 * MiB - 333], [4096, 77777]];
      for (const [i, [size, offset]] of cases.entries()) {
        const data = pattern(size, H + i);
        assert.equal(await client.write(H, i + 1, offset, data), size);
        assert.ok((await client.read(H, i + 1, offset, size)).equals(data), `case ${i}: data differs`);
        await client.flush(H, i + 1);
        const stored = await fixture().stored(spec.store, H, i + 1);
        assert.ok(stored, `case ${i}: the store holds the object`);
        assert.equal(stored!.length, offset + size, `case ${i}: stored size`);
        assert.ok(stored!.subarray(offset).equals(data), `case ${i}: stored bytes`);
      }
    });

    it('reads never-written ranges as zeros, before and after a restart', async () => {
      const spec = fixture().newStore();
      let { server, client } = await start(spec);
      assert.ok((await client.read(H, 20, 5000, 70000)).every((b) => b === 0), 'unknown object');
      await client.write(H, 21, 0, Buffer.from('abc'));
      await client.write(H, 21, 20 * MiB, Buffer.from('xyz'));
      await client.flush(H, 21);
      const check = async (c: IocClient) => {
        const head = await c.read(H, 21, 0, 64 * 1024);
        assert.equal(head.subarray(0, 3).toString(), 'abc');
        assert.ok(head.subarray(3).every((b) => b === 0), 'bytes after the written ones are zeros');
        assert.ok((await c.read(H, 21, 10 * MiB, MiB)).every((b) => b === 0), 'hole in the middle');
        assert.equal((await c.read(H, 21, 20 * MiB, 3)).toString(), 'xyz');
        assert.ok((await c.read(H, 21, 40 * MiB, 4096)).every((b) => b === 0), 'past the end');
      };
      await check(client);
      client.close();
      await server.stop();
      ({ client } = await start(spec));
      await check(client);
    });

    it('create stores an empty object', async () => {
      const spec = fixture().newStore();
      const { client } = await start(spec);
      await client.create(H, 30);
      const stored = await fixture().stored(spec.store, H, 30);
      assert.ok(stored !== undefined, 'the object exists in the store');
      assert.equal(stored!.length, 0);
    });

    it('cow: whole object and range, source unchanged, also for data only in the store', async () => {
      const spec = fixture().newStore();
      let { server, client } = await start(spec);
      const src = pattern(20 * MiB, H + 40);
      await client.write(H, 40, 0, src);
      await client.cow({ high: H, low: 40 }, { high: H, low: 41 });  // cached source
      assert.ok((await client.read(H, 41, 0, src.length)).equals(src), 'whole cow of a cached object');
      await client.write(H, 41, 0, Buffer.from('changed'));
      assert.ok((await client.read(H, 40, 0, 4096)).equals(src.subarray(0, 4096)), 'source unchanged');
      await client.flush(H, 40);
      client.close();
      await server.stop();
      ({ server, client } = await start(spec));  // nothing cached now
      await client.cow({ high: H, low: 40 }, { high: H, low: 42 }, { offset: 3 * MiB, size: 10 * MiB });
      const dst = await client.read(H, 42, 0, 20 * MiB);
      assert.ok(dst.subarray(3 * MiB, 13 * MiB).equals(src.subarray(3 * MiB, 13 * MiB)), 'range copied');
      assert.ok(dst.subarray(0, 3 * MiB).every((b) => b === 0));
      assert.ok(dst.subarray(13 * MiB).every((b) => b === 0));
      await client.cow({ high: H, low: 40 }, { high: H, low: 43 });
      assert.ok((await client.read(H, 43, 0, 20 * MiB)).equals(src), 'whole cow of an object only in the store');
      await client.flush(H, 43);
      const stored = await fixture().stored(spec.store, H, 43);
      assert.ok(stored && stored.equals(src), 'the copy is in the store');
      try {
        await client.cow({ high: H, low: 40 }, { high: H, low: 43 });
        assert.fail('cow onto an existing object without allowExist');
      } catch (e) {
        assert.equal((e as IocError).code, 'EEXIST');
      }
    });

    it('flush, then a restarted server reads the data from the store; a clean stop keeps unflushed data', async () => {
      const spec = fixture().newStore();
      let { server, client } = await start(spec);
      const data = pattern(9 * MiB + 123, H + 50);
      await client.write(H, 50, 4096, data);
      const unflushed = Buffer.from('not flushed, but the clean shutdown keeps it');
      await client.write(H, 51, 0, unflushed);
      await client.flush(H, 50);
      client.close();
      assert.equal(await server.stop(), 0);
      ({ client } = await start(spec));
      assert.ok((await client.read(H, 50, 4096, data.length)).equals(data), 'flushed data after restart');
      assert.ok((await client.read(H, 50, 0, 4096)).every((b) => b === 0));
      assert.ok((await client.read(H, 51, 0, unflushed.length)).equals(unflushed), 'written back at shutdown');
    });

    it('flushed data survives a killed server (SIGKILL)', async () => {
      const spec = fixture().newStore();
      let { server, client } = await start(spec);
      const data = pattern(5 * MiB, H + 60);
      await client.write(H, 60, 0, data);
      await client.flush(H, 60);
      await server.kill();
      client.close();
      ({ client } = await start(spec));
      assert.ok((await client.read(H, 60, 0, data.length)).equals(data));
    });
  });
}
