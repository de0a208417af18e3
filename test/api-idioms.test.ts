// Node idioms of the public API against a real server: `await using` of clients and mappings,
// AbortSignal on long calls (made long by the store gate failpoint, never by timing), any
// ArrayBufferView as data, the id syntax shared with ummap, and error messages that name the
// object, the range and the server.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient, IocError, IocErrorCode, ummap } from '../src';
import { testHooks } from '../src/native';
import { parseUri } from '../src/ummap/uri';
import { hex16, rejectsWithCode } from './helpers/assertions';
import { failpoints } from './helpers/failpoints';
import { run } from './helpers/run';
import { pattern, repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';

const MiB = 1024 * 1024;

describe('api: Node idioms', function () {
  this.timeout(60000);
  let server: ServerHandle;
  let client: IocClient;
  const store = tmpDir('ioc-idioms-');
  const gate = path.join(tmpDir('ioc-idioms-gate-'), 'hang');
  // An object that is in the store but not in the cache: its first read needs a store load,
  // which blocks while the gate file exists (failpoint store.data_io=pause(GATE)).
  const stored = pattern(2 * MiB, 77);
  fs.writeFileSync(path.join(store, `${hex16(77)}-${hex16(1)}`), stored);

  before(async () => {
    server = await startServer({ store, args: ['--segment-size', '1MB', '--max-object-size', '64MB'], env: failpoints({ 'store.data_io': `pause(${gate})` }) });
    client = await IocClient.connect(server.address);
  });
  after(async () => {
    if (fs.existsSync(gate)) fs.unlinkSync(gate);
    client?.close();
    await server?.stop();
  });

  it('await using closes a client at the end of its block', async () => {
    let outer: IocClient | undefined;
    {
      await using c = await IocClient.connect(server.address);
      outer = c;
      await c.ping();
    }
    await rejectsWithCode(outer!.ping(), 'EBADF');
    {
      using c = await IocClient.connect(server.address);
      outer = c;
    }
    await rejectsWithCode(outer!.ping(), 'EBADF');
  });

  it('await using unmaps a mapping at the end of its block, writing it back', async () => {
    let outer: ReturnType<typeof ummap> | undefined;
    {
      await using m = ummap(31, 1, 4 * MiB, { server: server.address, segmentSize: MiB });
      outer = m;
      new Float64Array(m.buffer).fill(2.5);
    }
    assert.equal(outer!.closed, true);
    const back = new Float64Array(4 * MiB / 8);
    await client.readInto(31, 1, 0, back);
    assert.ok(back.every((v) => v === 2.5));
  });

  it('write and readInto take any ArrayBufferView (Float64Array, DataView, offset views)', async () => {
    const values = Float64Array.from({ length: 1000 }, (_, i) => i * 0.5 - 3);
    assert.equal(await client.write(32, 1, 0, values), values.byteLength);
    const back = new Float64Array(1000);
    assert.equal(await client.readInto(32, 1, 0, back), back.byteLength);
    assert.deepEqual(back, values);
    // A view into the middle of a larger buffer: only its bytes, at its own offset.
    const big = new ArrayBuffer(64);
    const dv = new DataView(big, 8, 16);
    dv.setFloat64(0, 1.25, true);
    dv.setFloat64(8, -7, true);
    await client.write(32, 2, 0, dv);
    const out = new DataView(new ArrayBuffer(32), 16, 16);
    await client.readInto(32, 2, 0, out);
    assert.equal(out.getFloat64(0, true), 1.25);
    assert.equal(out.getFloat64(8, true), -7);
    assert.ok(new Uint8Array(out.buffer, 0, 16).every((b) => b === 0), 'bytes outside the view untouched');
    await rejectsWithCode(client.write(32, 1, 0, [1, 2, 3] as unknown as Uint8Array), 'EINVAL');
  });

  it('takes the ids ummap takes (decimal and 0x strings) and reports the port of host:port', async () => {
    const data = pattern(8192, 5);
    await client.write('0x21', '-1', 0, data);
    assert.ok((await client.read(33n, -1n, 0, data.length)).equals(data));
    const m = ummap('0x21', ' -1 ', 8192, { server: server.address, segmentSize: 4096, readOnly: true });
    assert.ok(Buffer.from(m.buffer).equals(data));
    m.unmapSync({ sync: false });
    await rejectsWithCode(client.read('12abc', 1, 0, 1), 'EINVAL');
    await rejectsWithCode(client.read('0x8000000000000000', 1, 0, 1), 'EINVAL');
    assert.equal(client.port, server.port);
    assert.equal(client.host, '127.0.0.1');
  });

  it('one way to say things: a server as host or host:port, sizes as numbers or size strings, unsafe integer ids named', async () => {
    // ummap takes a bare host as IocClient.connect does (the default port 8556).
    assert.deepEqual(parseUri('ioc://1:2', { server: '127.0.0.1' }).params, { host: '127.0.0.1', port: '8556', high: '1', low: '2' });
    assert.throws(() => parseUri('ioc://1:2', { server: 'a b' }), (e: IocError) => e.code === 'EINVAL' && /host or host:port/.test(e.message));
    const data = pattern(8192, 6);
    await client.write(0x22, 1, 0, data);
    const m = ummap(0x22, 1, '8KB', { server: server.address, segmentSize: '4KB', readOnly: true });
    assert.equal(m.size, 8192);
    assert.ok(Buffer.from(m.buffer).equals(data));
    m.unmapSync({ sync: false });
    assert.throws(() => ummap(0x22, 1, '8XB', { server: server.address }), (e: IocError) => e.code === 'EINVAL' && /size/.test(e.message));
    assert.throws(() => ummap(0x22, 1, 0, { server: server.address }), (e: IocError) => e.code === 'EINVAL');
    const unsafe = await rejectsWithCode(client.read(2 ** 53 + 2, 1, 0, 1), 'EINVAL');
    assert.match(unsafe.message, /MAX_SAFE_INTEGER .*bigint or a string/);
    // IocError.code is a union of the codes the library produces: a typo does not compile.
    const code: IocErrorCode = unsafe.code;
    // @ts-expect-error 'EINVALID' is no code of the library
    const typo: IocErrorCode = 'EINVALID';
    assert.deepEqual([code, typo], ['EINVAL', 'EINVALID']);
  });

  it('an aborted long read rejects with ABORT_ERR at once, leaves its target untouched and the client usable', async () => {
    fs.writeFileSync(gate, '');  // the store load of 77:1 now blocks
    const ac = new AbortController();
    const target = new Uint8Array(MiB);
    const read = client.readInto(77, 1, 0, target, { signal: ac.signal });  // sent: waits for the store
    const reason = new Error('user gave up');
    ac.abort(reason);
    const err = await rejectsWithCode(read, 'ABORT_ERR');
    assert.ok(err instanceof IocError);
    assert.equal(err.name, 'AbortError');
    assert.equal((err as Error).cause, reason);
    assert.match(err.message, new RegExp(`read of bytes \\[0, ${MiB}\\) of object 77:1 on ${server.address}: aborted`));
    // A signal aborted before the call sends nothing.
    await rejectsWithCode(client.read(77, 1, 0, 16, { signal: AbortSignal.abort() }), 'ABORT_ERR');
    await rejectsWithCode(client.write(77, 2, 0, Buffer.alloc(16), { signal: AbortSignal.abort() }), 'ABORT_ERR');
    await rejectsWithCode(client.flush(77, 1, 0, 0, { signal: AbortSignal.abort() }), 'ABORT_ERR');
    await rejectsWithCode(client.cow({ high: 77, low: 1 }, { high: 77, low: 9 }, { signal: AbortSignal.abort() }), 'ABORT_ERR');
    fs.unlinkSync(gate);  // the store answers: the abandoned read completes on the server
    // This read waits for the same load, so the abandoned one has been answered by now too.
    assert.ok((await client.read(77, 1, 0, 2 * MiB)).equals(stored));
    assert.ok(target.every((b) => b === 0), 'the aborted read never wrote into its target');
    await client.ping();
    assert.equal(await client.write(77, 3, 0, Buffer.alloc(16, 1), { signal: new AbortController().signal }), 16);
  });

  it('Mapping.sync with an aborted signal: ABORT_ERR at once, the write-back in flight finishes, a later sync succeeds', async () => {
    const m = ummap('mem://4MB', 4 * MiB, { segmentSize: MiB });
    try {
      new Uint8Array(m.buffer).fill(9);
      await rejectsWithCode(m.sync(0, undefined, { signal: AbortSignal.abort() }), 'ABORT_ERR');
      assert.equal(m.stats().writeBacks, 0, 'an already aborted sync copies and writes nothing');
      testHooks().umapTestPauseWriteBack(1);
      const ac = new AbortController();
      const sync = m.sync(0, undefined, { signal: ac.signal });
      try {
        assert.ok(testHooks().umapTestWaitPaused(30000), 'the write-back reached the pause');
        ac.abort();
        const err = await rejectsWithCode(sync, 'ABORT_ERR');
        assert.match(err.message, /sync of bytes \[0, 4194304\) of mem:\/\/4MB: aborted/);
      } finally {
        testHooks().umapTestReleaseWriteBack();
      }
      await m.sync();  // runs after the abandoned one (call order)
      assert.ok(m.stats().bytesWritten >= 4 * MiB);
    } finally {
      await m.unmap();
    }
  });
});

describe('api: errors name the object, the range and the server', function () {
  this.timeout(60000);
  let server: ServerHandle;
  let client: IocClient;

  before(async () => {
    server = await startServer({ args: ['--max-object-size', '1MB'] });
    client = await IocClient.connect(server.host, server.port);
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  it('cow onto an existing object: EEXIST naming both objects and the server, hinting allowExist', async () => {
    await client.write(41, 1, 0, Buffer.alloc(4096, 1));
    await client.write(41, 2, 0, Buffer.alloc(4096, 2));
    const err = await rejectsWithCode(client.cow({ high: 41, low: 1 }, { high: 41, low: 2 }), 'EEXIST');
    assert.equal(err.message,
      `cow of object 41:1 to object 41:2 on ${server.address}: EEXIST (-17): object 41:2 exists; ` +
      'pass { allowExist: true } (iocatcher cow --allow-exist) to overwrite it');
    const ranged = await rejectsWithCode(client.cow({ high: 41, low: 1 }, { high: 41, low: 2 }, { offset: 0, size: 4096 }), 'EEXIST');
    assert.match(ranged.message, /^cow of bytes \[0, 4096\) of object 41:1 to object 41:2 on /);
    const missing = await rejectsWithCode(client.cow({ high: 41, low: 99 }, { high: 41, low: 98 }), 'ENOENT');
    assert.match(missing.message, /object 41:99 does not exist/);
    // The same from a mapping.
    const m = ummap(41, 1, 4096, { server: server.address, segmentSize: 4096 });
    try {
      assert.throws(() => m.cow({ high: 41, low: 2 }), (e: IocError) => {
        assert.equal(e.code, 'EEXIST');
        assert.equal(e.message, `cow ioc://41:1@${server.address} -> ioc://41:2@${server.address}: File exists: ` +
          `object 41:2 on ${server.address} exists; pass { allowExist: true } (iocatcher cow --allow-exist) to overwrite it`);
        return true;
      });
    } finally {
      m.unmapSync({ sync: false });
    }
  });

  it('a range conflict: EBUSY naming the range, the object and the server', async () => {
    const id = await client.registerRange(42, 1, 0, 8192, true);
    try {
      const err = await rejectsWithCode(client.registerRange(42, 1, 4096, 8192, false), 'EBUSY');
      assert.match(err.message, new RegExp(`^range register of bytes \\[4096, 12288\\) of object 42:1 for reading on ${server.address}: EBUSY \\(-16\\): it overlaps`));
    } finally {
      await client.unregisterRange(id, 42, 1, 0, 8192, true);
    }
    const gone = await rejectsWithCode(client.unregisterRange(id, 42, 1, 0, 8192, true), 'ENOENT');
    assert.match(gone.message, new RegExp(`range unregister \\(id ${id}\\) of bytes \\[0, 8192\\) of object 42:1 for writing on ${server.address}`));
  });

  it('reads and writes refused by the server name the range, the object and the server', async () => {
    // ... and end with the server's reason.
    const w = await rejectsWithCode(client.write(43, 1, MiB, Buffer.alloc(4096)), 'EFBIG');
    assert.match(w.message, new RegExp(`^write of bytes \\[${MiB}, ${MiB + 4096}\\) of object 43:1 on ${server.address}: EFBIG \\(-27\\): \\S.*--max-object-size`));
    const r = await rejectsWithCode(client.read(43, 1, MiB - 10, 4096), 'EFBIG');
    assert.match(r.message, new RegExp(`^read of bytes \\[${MiB - 10}, ${MiB + 4086}\\) of object 43:1 on ${server.address}: EFBIG \\(-27\\): \\S.*--max-object-size`));
    // Above 4 GiB a Buffer cannot hold the result: an IocError, before anything is allocated.
    const big = await rejectsWithCode(client.read(43, 1, 0, 2 ** 32 + 1), 'ERANGE');
    assert.ok(big instanceof IocError);
    assert.match(big.message, new RegExp(`^read of bytes \\[0, 4294967297\\) of object 43:1 on ${server.address}: .*readInto`));
  });

  it('a provider mismatch times out with a hint naming FI_PROVIDER and --provider', async () => {
    // FI_PROVIDER is read when libfabric starts: a child process with its own.
    const script = `require(${JSON.stringify(path.join(repoRoot, 'dist', 'src'))}).IocClient.connect(${JSON.stringify(server.address)})` +
      '.then(() => process.exit(3), (e) => { console.log(JSON.stringify({ code: e.code, message: e.message })); })';
    const r = await run(process.execPath, ['-e', script], { env: { ...process.env, FI_PROVIDER: 'net', IOC_CLIENT_TIMEOUT_MS: '2000' } });
    const err = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(err.code, 'ETIMEDOUT');
    assert.match(err.message, new RegExp(`^cannot connect to iocatcher server ${server.address}: ETIMEDOUT \\(-110\\): no answer .*same libfabric provider\\? This client: FI_PROVIDER=net; the server: iocatcher-server --provider`));
  });

  it('an unknown host is ENOTFOUND naming the host, as Node says', async () => {
    const err = await rejectsWithCode(IocClient.connect('no-such-host.invalid', 8556), /^(ENOTFOUND|EAI_AGAIN)$/);
    assert.match(err.message, /cannot connect to iocatcher server no-such-host\.invalid:8556: unknown host 'no-such-host\.invalid'/);
  });
});
