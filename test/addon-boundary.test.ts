// The native addon's JavaScript boundary (native/addon/util/): arguments of the wrong type throw
// a TypeError with code ERR_INVALID_ARG_TYPE, numbers out of range a RangeError with code
// ERR_OUT_OF_RANGE, both naming the argument, synchronously (also from the asynchronous exports),
// and nothing crashes; a handle of one kind is refused where another is expected. Native failures
// reject (or throw) one way: an Error with .code, a negative .errno and, for client calls the
// server explained, .reason. Against a real server.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import type { NativeClientHandle, NativeListHandle } from '../src/client/native-types';
import { addon } from '../src/native';
import type { NativeMappingHandle, NativePolicyHandle } from '../src/ummap/native-types';
import { freePort } from './helpers/ops';
import { pattern, ServerHandle, startServer, tmpDir } from './helpers/server';

/** f() must throw (not reject) a `type` error with `code`, its message naming `arg`. */
function throwsArgError(f: () => unknown, type: typeof TypeError | typeof RangeError, code: string, arg: string): void {
  let thrown: unknown;
  try {
    const r = f();
    if (r instanceof Promise) r.catch(() => undefined);
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown instanceof type, `expected a ${type.name}, got ${String(thrown)}`);
  const e = thrown as Error & { code?: string };
  assert.equal(e.code, code, e.message);
  assert.ok(e.message.includes(`"${arg}"`), `the message names ${arg}: ${e.message}`);
}

/** p must reject with an Error whose code and errno say errno `code` (negative `errno`). */
async function rejectsWithErrno(p: Promise<unknown>, code: string, errno: number): Promise<Error & { reason?: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as Error & { code?: string; errno?: number; reason?: string };
    assert.ok(err instanceof Error, 'an Error');
    assert.equal(err.code, code, err.message);
    assert.equal(err.errno, errno, err.message);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

const memSpec = (size: number) => ({ scheme: 'mem', params: { size: String(size) }, size, segmentSize: 65536, storageOffset: 0, readOnly: false, noFirstRead: false });

describe('addon boundary: checked arguments and one error convention', function () {
  this.timeout(60000);
  let server: ServerHandle;
  let client: IocClient;
  let native: NativeClientHandle;
  before(async () => {
    server = await startServer({ args: ['--max-object-size', '1MB'] });
    client = await IocClient.connect(server.address);
    native = (client as unknown as { handle: NativeClientHandle }).handle;
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  it('mapping exports: wrong types and ranges are TypeError / RangeError naming the argument; the mapping still works', async () => {
    const a = addon() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const m = addon().umapCreate(memSpec(1 << 20));
    const policy = addon().umapPolicyCreate('fifo', 1 << 20, 0);
    try {
      throwsArgError(() => a.umapCreate(42), TypeError, 'ERR_INVALID_ARG_TYPE', 'spec');
      throwsArgError(() => a.umapCreate({ ...memSpec(4096), scheme: 7 }), TypeError, 'ERR_INVALID_ARG_TYPE', 'spec.scheme');
      throwsArgError(() => a.umapCreate({ ...memSpec(4096), params: { size: 4096 } }), TypeError, 'ERR_INVALID_ARG_TYPE', 'spec.params.size');
      throwsArgError(() => a.umapCreate({ ...memSpec(4096), size: -1 }), RangeError, 'ERR_OUT_OF_RANGE', 'spec.size');
      throwsArgError(() => a.umapCreate({ ...memSpec(4096), tracking: 'sometimes' }), TypeError, 'ERR_INVALID_ARG_TYPE', 'spec.tracking');
      throwsArgError(() => a.umapCreateAsync({ ...memSpec(4096), policy: m.handle }), TypeError, 'ERR_INVALID_ARG_TYPE', 'spec.policy');
      throwsArgError(() => a.umapFlush('not a handle', 0, 0, false, false), TypeError, 'ERR_INVALID_ARG_TYPE', 'handle');
      throwsArgError(() => a.umapFlush(policy, 0, 0, false, false), TypeError, 'ERR_INVALID_ARG_TYPE', 'handle');
      throwsArgError(() => a.umapFlush(m.handle, '0', 0, false, false), TypeError, 'ERR_INVALID_ARG_TYPE', 'offset');
      throwsArgError(() => a.umapFlush(m.handle, 0, 1.5, false, false), RangeError, 'ERR_OUT_OF_RANGE', 'length');
      throwsArgError(() => a.umapFlush(m.handle, 0, 0, 'yes', false), TypeError, 'ERR_INVALID_ARG_TYPE', 'syncDriver');
      throwsArgError(() => a.umapFlushAsync(m.handle, -4096, 0, false, false), RangeError, 'ERR_OUT_OF_RANGE', 'offset');
      throwsArgError(() => a.umapUnmapAsync(m.handle, 'buffer', true), TypeError, 'ERR_INVALID_ARG_TYPE', 'buffer');
      throwsArgError(() => a.umapSwitch(m.handle, 'mem', null, false, false), TypeError, 'ERR_INVALID_ARG_TYPE', 'params');
      throwsArgError(() => a.umapStats({}), TypeError, 'ERR_INVALID_ARG_TYPE', 'handle');
      throwsArgError(() => a.umapPolicyStats(m.handle), TypeError, 'ERR_INVALID_ARG_TYPE', 'policy');
      throwsArgError(() => a.umapPolicyCreate('random', 1, 0), TypeError, 'ERR_INVALID_ARG_TYPE', 'order');
      throwsArgError(() => a.umapPolicyCreate('fifo', -1, 0), RangeError, 'ERR_OUT_OF_RANGE', 'limit');
      throwsArgError(() => a.umapDropMemStore(undefined), TypeError, 'ERR_INVALID_ARG_TYPE', 'name');
      // Nothing was changed by the refused calls: the mapping works.
      const bytes = new Uint8Array(m.buffer);
      bytes.set(pattern(4096, 3), 8192);
      await addon().umapFlushAsync(m.handle, 0, 1 << 20, true, false);
      assert.ok(Buffer.from(bytes.subarray(8192, 12288)).equals(pattern(4096, 3)));
      assert.equal(addon().umapPolicyStats(policy as NativePolicyHandle).limit, 1 << 20);
    } finally {
      addon().umapUnmap(m.handle as NativeMappingHandle, m.buffer, false);
    }
    // A native failure: an Error with the errno's code and the negative errno.
    let thrown: (Error & { code?: string; errno?: number }) | undefined;
    try {
      addon().umapBuffer(m.handle);
    } catch (e) {
      thrown = e as Error & { code?: string; errno?: number };
    }
    assert.equal(thrown?.code, 'EBADF');
    assert.equal(thrown?.errno, -9);
    await rejectsWithErrno(addon().umapCreateAsync({ ...memSpec(0), scheme: 'file', params: { path: '/nonexistent-dir/x' } }), 'ENOENT', -2);
  });

  it('file exports: fileAllocate checks its arguments and rejects with the errno', async () => {
    const a = addon() as unknown as Record<string, (...args: unknown[]) => unknown>;
    throwsArgError(() => a.fileAllocate('3', 4096), TypeError, 'ERR_INVALID_ARG_TYPE', 'fd');
    throwsArgError(() => a.fileAllocate(-1, 4096), RangeError, 'ERR_OUT_OF_RANGE', 'fd');
    throwsArgError(() => a.fileAllocate(0, -4096), RangeError, 'ERR_OUT_OF_RANGE', 'size');
    const file = path.join(tmpDir('ioc-boundary-'), 'allocated');
    const fh = await fs.promises.open(file, 'w');
    try {
      await addon().fileAllocate(fh.fd, 1 << 20);
      assert.equal((await fh.stat()).size, 1 << 20);
    } finally {
      await fh.close();
    }
    // A descriptor nothing opened (far above the open-file limit): EBADF, as an Error with its
    // code and negative errno.
    await rejectsWithErrno(addon().fileAllocate(1 << 30, 4096), 'EBADF', -9);
  });

  it('client exports: wrong types and ranges are TypeError / RangeError naming the argument; the client still works', async () => {
    const n = native as unknown as Record<string, (...args: unknown[]) => unknown>;
    throwsArgError(() => n.read.call(native, 'one', 1n, 0, Buffer.alloc(8)), TypeError, 'ERR_INVALID_ARG_TYPE', 'high');
    throwsArgError(() => n.read.call(native, 1n, 1n, 0, 'bytes'), TypeError, 'ERR_INVALID_ARG_TYPE', 'target');
    throwsArgError(() => n.write.call(native, 1n, 1n, -1, Buffer.alloc(8)), RangeError, 'ERR_OUT_OF_RANGE', 'offset');
    throwsArgError(() => n.write.call(native, 1n, 1n << 64n, 0, Buffer.alloc(8)), RangeError, 'ERR_OUT_OF_RANGE', 'low');
    throwsArgError(() => n.cow.call(native, 1n, 1n, 1n, 2n, 'no', 0, 0), TypeError, 'ERR_INVALID_ARG_TYPE', 'allowExist');
    throwsArgError(() => n.unregisterRange.call(native, 2 ** 40, 1n, 1n, 0, 0, false), RangeError, 'ERR_OUT_OF_RANGE', 'id');
    throwsArgError(() => n.listNext.call(native, {}, 1), TypeError, 'ERR_INVALID_ARG_TYPE', 'list');
    const list = native.listOpen(false, 0n);
    try {
      throwsArgError(() => n.listNext.call(native, list, 0), RangeError, 'ERR_OUT_OF_RANGE', 'max');
    } finally {
      native.listClose(list as NativeListHandle);
    }
    throwsArgError(() => n.setTimeout.call(native, 'soon'), TypeError, 'ERR_INVALID_ARG_TYPE', 'ms');
    const a = addon() as unknown as Record<string, (...args: unknown[]) => unknown>;
    throwsArgError(() => a.clientConnect(1, '2'), TypeError, 'ERR_INVALID_ARG_TYPE', 'host');
    // The handle's class cannot be made from JavaScript with anything but a connected client.
    const Ctor = (native as object).constructor as new (...args: unknown[]) => unknown;
    throwsArgError(() => new Ctor({}), TypeError, 'ERR_INVALID_ARG_TYPE', 'client');
    // Nothing was sent or broken: the client works.
    assert.equal(await client.write(5, 1, 0, pattern(4096, 5)), 4096);
    assert.ok((await client.read(5, 1, 0, 4096)).equals(pattern(4096, 5)));
  });

  it('client failures reject with .code, a negative .errno and the server\'s .reason; connect too', async () => {
    await rejectsWithErrno(native.stat(424242n, 1n), 'ENOENT', -2);
    await rejectsWithErrno(native.delete(424242n, 1n), 'ENOENT', -2);
    // Small (event-loop) and large (pool thread) writes beyond --max-object-size: the server explains.
    for (const size of [4096, 1 << 20]) {
      const e = await rejectsWithErrno(native.write(6n, 1n, 2n << 20n, Buffer.alloc(size)), 'EFBIG', -27);
      assert.match(e.reason ?? '', /max-object-size/, `the server's reason: ${e.reason}`);
    }
    const port = await freePort();
    const e = await rejectsWithErrno(addon().clientConnect('127.0.0.1', String(port)), 'ECONNREFUSED', -111);
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    // The public API's errors are IocErrors built from them, as before.
    const pub = await client.stat(424242n, 1n).catch((x: Error & { code?: string }) => x);
    assert.equal((pub as { code?: string }).code, 'ENOENT');
    assert.match((pub as Error).message, /^stat of object 424242:1 on 127\.0\.0\.1:\d+: ENOENT \(-2\): no such object in the cache or the store /);
  });
});
