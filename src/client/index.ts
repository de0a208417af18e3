// Promise-based TypeScript client over the native C client (libiocatcher-client).
import { constants as bufferConstants } from 'buffer';
import { constants as osConstants } from 'os';
import { AbortOptions, checkSignal, raceAbort } from '../abort';
import '../dispose';
import { addon } from '../native';
import { checkClientEnv } from '../env';
import { errnoName, IocError } from '../errors';
import { bytesOf, idPart, ObjectIdPart, ServerList, serverListString, splitEntry, subject, u64 } from './args';
import { connectError, Failure, failure, failureOf, storeRefusal } from './failures';
import { listObjects } from './listing';
import type { I64, NativeClientHandle } from './native-types';
import { StatPage } from './stat-page';
import type { ListOptions, ObjectStat, ServerEpoch } from './types';

export { idPart } from './args';
export type { ObjectIdPart, ServerList } from './args';
export type { ListOptions, ObjectStat, ServerEpoch } from './types';

const MAX_PAGE_SIZE = 4096;
const ENOENT = -osConstants.errno.ENOENT;
const EBUSY = -osConstants.errno.EBUSY;

/**
 * A connection to one iocatcher server, or to several: each object then lives on one server
 * chosen by rendezvous hashing of its id (every client agrees), and reads of an object whose
 * server is unreachable go to the next server in rendezvous order. Safe to use concurrently.
 *
 * Reads and writes up to 32 KiB and pings are sent from the JS thread; when no other call of
 * this client is in flight, it polls for the reply for up to IOC_CLIENT_SPIN_US microseconds
 * (default 50; 0 never polls) before the event loop waits on the completion queue's descriptor,
 * as the C client does: a small round trip then costs no sleep and wake-up. Larger calls, and
 * flush, cow and ranges, run on the addon's own threads (at most 8 at once).
 *
 * Errors are IocError with an errno-style `code`; their message names the call, the object
 * (HIGH:LOW), the byte range and the server.
 *
 * @example
 * ```ts
 * await using client = await IocClient.connect('10.0.0.5:8556');
 * await client.write(1n, 2n, 0, new Float64Array([1.5, 2.5]));
 * const back = await client.read(1n, 2n, 0, 16);
 * await client.flush(1n, 2n);
 * // closed when the block ends (or call client.close())
 * ```
 */
export class IocClient {
  private handle: NativeClientHandle | undefined;
  /** The host for a one-server client ('10.0.0.5'), else the server list as given to connect(). */
  readonly host: string;
  /** The port of the (first) server: the one in 'host:port', else connect()'s `port`. */
  readonly port: number;

  private constructor(handle: NativeClientHandle, list: string, port: number) {
    this.handle = handle;
    const entries = list.split(',');
    const first = splitEntry(entries[0], port);
    this.host = entries.length === 1 ? first.host : list;
    this.port = first.port;
  }

  /**
   * Connect to the server at host:port (libfabric port; the TCP side channel is port+1), or to
   * several servers: `connect('127.0.0.1:9000,127.0.0.1:9002')` or `connect(['h1:9000', 'h2'])`
   * (entries without a port take `port`). Resolves once at least one server answered.
   * Without a host (undefined): the list in the environment variable IOC_SERVER
   * ("host:port[,host:port...]"), else 127.0.0.1.
   *
   * @example
   * ```ts
   * const client = await IocClient.connect('10.0.0.5:8556');
   * ```
   * @throws {@link IocError} `ENOTFOUND` for a host name that does not resolve, `ECONNREFUSED`
   * when nothing listens there, `ETIMEDOUT` when the handshake gets no answer (often a libfabric
   * provider that differs from the server's), `EUSERS` at the server's --max-clients, `EINVAL`
   * for a malformed address or port.
   */
  static async connect(host?: ServerList, port = 8556): Promise<IocClient> {
    if (!Number.isInteger(port) || port <= 0 || port > 65534) throw new IocError('EINVAL', `invalid port ${port}`);
    checkClientEnv();
    const list = serverListString(host ?? (process.env.IOC_SERVER?.trim() || '127.0.0.1'));
    let h: NativeClientHandle;
    try {
      h = await addon().clientConnect(list, String(port));
    } catch (e) {
      throw await connectError(failureOf(e).ret, list, port);
    }
    return new IocClient(h, list, port);
  }

  /** The servers of this client, "host:port", in the order given. */
  servers(): string[] {
    return this.native.servers();
  }

  /** The server ("host:port") that owns object (high, low): the first in rendezvous order. */
  serverOf(high: ObjectIdPart, low: ObjectIdPart): string {
    const n = this.native;
    return n.servers()[n.serverOf(idPart(high, 'high'), idPart(low, 'low'))];
  }

  private get native(): NativeClientHandle {
    if (!this.handle) throw new IocError('EBADF', 'the client is closed');
    return this.handle;
  }

  /** Server of an object for error messages (the client may have been closed meanwhile). */
  private serverName(h: bigint, l: bigint): string {
    try {
      const n = this.native;
      return n.servers()[n.serverOf(h, l)];
    } catch {
      return this.host.includes(',') ? this.host : `${this.host}:${this.port}`;
    }
  }

  /** `what` (naming object h:l) on its server, as an IocError (message: "... : CODE (errno)[: the
   *  server's reason][: hint]"). */
  private opError(f: Failure, what: string, h: bigint, l: bigint, hint = ''): IocError {
    const e = failure(f.ret, f.reason, `${what} on ${this.serverName(h, l)}`);
    if (hint) e.message += `: ${hint}`;
    return e;
  }

  /**
   * Read size bytes at offset; never-written ranges read as zeros.
   *
   * With `opts.signal`, aborting rejects with ABORT_ERR at once; the request in flight completes
   * on the server and its data is dropped.
   *
   * @example
   * ```ts
   * const header = await client.read(1n, 2n, 0, 4096, { signal: AbortSignal.timeout(5000) });
   * ```
   * @throws {@link IocError} `ERANGE` above the largest Buffer (4 GiB; use readInto in pieces),
   * `ABORT_ERR` when aborted, else the server's or the connection's error (`EIO`, `ETIMEDOUT`,
   * `ECONNRESET`, ...), naming the object, the range and the server.
   */
  async read(high: ObjectIdPart, low: ObjectIdPart, offset: I64, size: number, opts: AbortOptions = {}): Promise<Buffer> {
    if (!Number.isSafeInteger(size) || size < 0) throw new IocError('EINVAL', `invalid size ${size}`);
    if (size > bufferConstants.MAX_LENGTH) {
      const [h, l, o] = [idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset')];
      throw new IocError('ERANGE', `read of ${subject(h, l, o, BigInt(size), false)} on ${this.serverName(h, l)}: ` +
        `${size} bytes is more than a Buffer holds (${bufferConstants.MAX_LENGTH}); read it in pieces with readInto()`);
    }
    const buf = Buffer.alloc(size);
    await this.readInto(high, low, offset, buf, opts);
    return buf;
  }

  /**
   * Read target.byteLength bytes at offset into target (a Buffer, any TypedArray or a DataView);
   * resolves with the byte count.
   *
   * With `opts.signal`, the data lands in a private buffer and is copied into `target` only when
   * the read succeeds: after an abort (ABORT_ERR, at once) `target` is never written, although
   * the request in flight completes on the server. This costs one copy.
   *
   * @example
   * ```ts
   * const values = new Float64Array(1024);
   * await client.readInto(1n, 2n, 0, values);
   * ```
   * @throws {@link IocError} as {@link IocClient.read}.
   */
  async readInto(high: ObjectIdPart, low: ObjectIdPart, offset: I64, target: ArrayBufferView, opts: AbortOptions = {}): Promise<number> {
    const n = this.native;
    const [h, l, o] = [idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset')];
    const bytes = bytesOf(target, 'target');
    const what = () => `read of ${subject(h, l, o, BigInt(bytes.byteLength), false)} on ${this.serverName(h, l)}`;
    checkSignal(opts.signal, what);
    if (bytes.byteLength === 0) return 0;
    const into = opts.signal ? Buffer.allocUnsafe(bytes.byteLength) : bytes;
    let ret: number;
    try {
      ret = await raceAbort(n.read(h, l, o, into), opts.signal, what);
    } catch (e) {
      throw this.opError(failureOf(e), `read of ${subject(h, l, o, BigInt(bytes.byteLength), false)}`, h, l);
    }
    if (into !== bytes) bytes.set(into.subarray(0, ret));
    return ret;
  }

  /**
   * Write data (a Buffer, any TypedArray or a DataView: its bytes) at offset; resolves with the
   * byte count.
   *
   * With `opts.signal`, the data is copied first, so that the caller may reuse its buffer as soon
   * as the call settles, aborted or not. Aborting rejects with ABORT_ERR at once; a request
   * already sent still runs on the server, so the range may then hold the new bytes or the old
   * ones: write it again (or read it back) before relying on it. A write that rejects with an
   * errno code (`ETIMEDOUT`, `ECONNRESET`, ...) never changes the object after the rejection
   * (fencing: the request carries its deadline, which our server keeps; README "What an
   * acknowledgement means").
   *
   * @example
   * ```ts
   * await client.write(1n, 2n, 0, new Float64Array([0.5, 1.5, 2.5]));
   * await client.write('0x10', '7', 4096, Buffer.from('hello'));
   * ```
   * @throws {@link IocError} `ABORT_ERR` when aborted, `ENOSPC` when the server's cache is full
   * and its store refuses spills, `EFBIG` above the server's --max-object-size, connection errors
   * (`ETIMEDOUT`, `ECONNRESET`); the message names the object, the range and the server.
   */
  async write(high: ObjectIdPart, low: ObjectIdPart, offset: I64, data: ArrayBufferView, opts: AbortOptions = {}): Promise<number> {
    const n = this.native;
    const [h, l, o] = [idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset')];
    const bytes = bytesOf(data, 'data');
    const what = () => `write of ${subject(h, l, o, BigInt(bytes.byteLength), false)} on ${this.serverName(h, l)}`;
    checkSignal(opts.signal, what);
    if (bytes.byteLength === 0) return 0;
    const from = opts.signal ? Buffer.from(bytes) : bytes;
    try {
      return await raceAbort(n.write(h, l, o, from), opts.signal, what);
    } catch (e) {
      throw this.opError(failureOf(e), `write of ${subject(h, l, o, BigInt(bytes.byteLength), false)}`, h, l);
    }
  }

  /**
   * Write the object's dirty cached data in [offset, offset+size) (size 0: all) to the backing
   * store. With `opts.signal`, aborting rejects with ABORT_ERR at once; a flush already sent
   * goes on on the server (flushing twice is harmless).
   *
   * @example
   * ```ts
   * await client.flush(1n, 2n);              // the whole object
   * await client.flush(1n, 2n, 0, 1 << 20);  // its first MiB
   * ```
   * @throws {@link IocError} the store's error (`EIO`, `ENOSPC`, ...) or `ABORT_ERR`, naming the
   * object, the range and the server. For `EACCES`, `EROFS`, `ENOSPC`, `EIO` and `ENOTDIR` the
   * message says that the server's store refused the write (the server's log names the store).
   */
  async flush(high: ObjectIdPart, low: ObjectIdPart, offset: I64 = 0, size: I64 = 0, opts: AbortOptions = {}): Promise<void> {
    const n = this.native;
    const [h, l, o, s] = [idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset'), u64(size, 'size')];
    const what = () => `flush of ${subject(h, l, o, s, true)} on ${this.serverName(h, l)}`;
    checkSignal(opts.signal, what);
    try {
      await raceAbort(n.flush(h, l, o, s), opts.signal, what);
    } catch (e) {
      const f = failureOf(e);
      const refusal = storeRefusal(f.ret, f.reason);
      // A refusal's words carry the server's reason already.
      throw refusal ? this.opError({ ret: f.ret, reason: '' }, `flush of ${subject(h, l, o, s, true)}`, h, l, refusal)
        : this.opError(f, `flush of ${subject(h, l, o, s, true)}`, h, l);
    }
  }

  /**
   * Create the object (empty) on its server.
   * @throws {@link IocError} the server's error, naming the object and the server.
   */
  async create(high: ObjectIdPart, low: ObjectIdPart): Promise<void> {
    const n = this.native;
    const [h, l] = [idPart(high, 'high'), idPart(low, 'low')];
    try {
      await n.create(h, l);
    } catch (e) {
      throw this.opError(failureOf(e), `create of object ${h}:${l}`, h, l);
    }
  }

  /**
   * Copy-on-write copy of src to dst: the whole object (size 0) or the range [offset, offset+size).
   * Without `allowExist`, an existing dst is refused (EEXIST). With `opts.signal`, aborting
   * rejects with ABORT_ERR at once; a copy already sent completes on the server (dst then holds
   * the copy: call again with `allowExist`).
   *
   * @example
   * ```ts
   * await client.cow({ high: 1n, low: 2n }, { high: 1n, low: 3n });
   * await client.cow({ high: 1n, low: 2n }, { high: 1n, low: 3n }, { allowExist: true }); // overwrite
   * ```
   * @throws {@link IocError} `EEXIST` when dst exists and allowExist is not set, `ENOENT` when
   * src does not exist, `ABORT_ERR`; the message names both objects, the range and the server.
   */
  async cow(
    src: { high: ObjectIdPart; low: ObjectIdPart },
    dst: { high: ObjectIdPart; low: ObjectIdPart },
    opts: { allowExist?: boolean; offset?: I64; size?: I64 } & AbortOptions = {},
  ): Promise<void> {
    const n = this.native;
    const [sh, sl] = [idPart(src.high, 'src.high'), idPart(src.low, 'src.low')];
    const [dh, dl] = [idPart(dst.high, 'dst.high'), idPart(dst.low, 'dst.low')];
    const [o, s] = [u64(opts.offset ?? 0, 'offset'), u64(opts.size ?? 0, 'size')];
    const allowExist = Boolean(opts.allowExist);
    // The destination's server does the copy.
    const what = `cow of ${subject(sh, sl, o, s, true)} to object ${dh}:${dl} on ${this.serverName(dh, dl)}`;
    checkSignal(opts.signal, () => what);
    let f: Failure;
    try {
      await raceAbort(n.cow(sh, sl, dh, dl, allowExist, o, s), opts.signal, () => what);
      return;
    } catch (e) {
      f = failureOf(e);
    }
    const e = failure(f.ret, f.reason, what);
    const code = e.code;
    if (code === 'EEXIST') e.message += `: object ${dh}:${dl} exists; pass { allowExist: true } (iocatcher cow --allow-exist) to overwrite it`;
    if (code === 'ENOENT') e.message += `: object ${sh}:${sl} does not exist`;
    throw e;
  }

  /**
   * Register a mapping range; resolves with its id (>= 1). Rejects with code EBUSY on conflict:
   * a write range overlapping any other range of the object (unless the server runs with
   * --no-consistency-check). The range lives as long as this client: close() (or the client
   * being garbage collected, which closes it) ends its connections and the server releases it.
   * @throws {@link IocError} `EBUSY` on conflict, naming the object, the range and the server.
   */
  async registerRange(high: ObjectIdPart, low: ObjectIdPart, offset: I64, size: I64, write: boolean): Promise<number> {
    const n = this.native;
    const [h, l, o, s] = [idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset'), u64(size, 'size')];
    let f: Failure;
    try {
      return await n.registerRange(h, l, o, s, !!write);
    } catch (e) {
      f = failureOf(e);
    }
    const hint = errnoName(f.ret) === 'EBUSY'
      ? `it overlaps a range registered by another mapping${write ? '' : ' for writing'} (a write range may overlap no other range)` : '';
    throw this.opError(f, `range register of ${subject(h, l, o, s, false)} for ${write ? 'writing' : 'reading'}`, h, l, hint);
  }

  /**
   * Unregister a range; every argument must match its registration (else ENOENT).
   * @throws {@link IocError} `ENOENT` when no such registration exists.
   */
  async unregisterRange(id: number, high: ObjectIdPart, low: ObjectIdPart, offset: I64, size: I64, write: boolean): Promise<void> {
    const n = this.native;
    if (!Number.isInteger(id)) throw new IocError('EINVAL', `invalid range id ${id}`);
    const [h, l, o, s] = [idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset'), u64(size, 'size')];
    try {
      await n.unregisterRange(id, h, l, o, s, !!write);
    } catch (e) {
      throw this.opError(failureOf(e), `range unregister (id ${id}) of ${subject(h, l, o, s, false)} for ${write ? 'writing' : 'reading'}`, h, l);
    }
  }

  /**
   * What the object's server knows of it: its logical size (the end of the highest byte
   * written, or its stored size), the size of its copy in the backing store, and the bytes of it
   * in the server's cache, of which dirty (not yet in the store).
   *
   * @example
   * ```ts
   * const st = await client.stat(1n, 2n);
   * if (st.dirtyBytes > 0) await client.flush(1n, 2n);
   * ```
   * @throws {@link IocError} `ENOENT` when neither the server's cache nor its store holds the
   * object; `ENOSYS` from a server without the object namespace (an original iocatcher server,
   * named in the message); `ABORT_ERR`; connection errors. The message names the object and the
   * server, and ends with the server's reason when it gave one.
   */
  async stat(high: ObjectIdPart, low: ObjectIdPart, opts: AbortOptions = {}): Promise<ObjectStat> {
    const n = this.native;
    const [h, l] = [idPart(high, 'high'), idPart(low, 'low')];
    const what = () => `stat of object ${h}:${l} on ${this.serverName(h, l)}`;
    checkSignal(opts.signal, what);
    let f: Failure;
    try {
      return new StatPage(await raceAbort(n.stat(h, l), opts.signal, what)).at(0);
    } catch (e) {
      f = failureOf(e);
    }
    const hint = f.ret === -ENOENT && !f.reason ? `object ${h}:${l} does not exist` : '';
    throw this.opError(f, `stat of object ${h}:${l}`, h, l, hint);
  }

  /**
   * Delete the object: its cached segments, its persistent-memory records and its copy in the
   * backing store, durably. With `opts.signal`, aborting rejects with ABORT_ERR at once; a
   * delete already sent completes on the server.
   *
   * @example
   * ```ts
   * await client.delete(1n, 2n);
   * ```
   * @throws {@link IocError} `ENOENT` when the object does not exist, `EBUSY` while a range of it
   * is registered (a mapping holds it), `ENOSYS` from a server without the object namespace,
   * `ABORT_ERR`; the message names the object and the server.
   */
  async delete(high: ObjectIdPart, low: ObjectIdPart, opts: AbortOptions = {}): Promise<void> {
    const n = this.native;
    const [h, l] = [idPart(high, 'high'), idPart(low, 'low')];
    const what = () => `delete of object ${h}:${l} on ${this.serverName(h, l)}`;
    checkSignal(opts.signal, what);
    let f: Failure;
    try {
      await raceAbort(n.delete(h, l), opts.signal, what);
      return;
    } catch (e) {
      f = failureOf(e);
    }
    // The server's reason, when it gave one, says it better.
    const hint = f.reason ? '' : f.ret === -ENOENT ? `object ${h}:${l} does not exist`
      : f.ret === -EBUSY ? 'a range of it is registered (a mapping holds it): unmap it first' : '';
    throw this.opError(f, `delete of object ${h}:${l}`, h, l, hint);
  }

  /**
   * Every object of every server of this client, cached or stored or both, each once, as their
   * stats; with `opts.high`, only those whose high half is that. Pages of `opts.pageSize`
   * entries (default 256) are fetched one at a time as the iteration goes, so memory stays
   * bounded whatever the number of objects; breaking out of the loop ends the listing.
   *
   * Objects created or deleted while the listing runs may or may not appear; every object that
   * exists for the whole listing appears, once. With several servers, each is listed in turn,
   * and every object by the server that owns it.
   *
   * @example
   * ```ts
   * for await (const o of client.list({ high: 7n })) console.log(`${o.high}:${o.low}`, o.size);
   * ```
   * @throws {@link IocError} (from the iteration) `ENOSYS` from a server without the object
   * namespace, `ABORT_ERR` when `opts.signal` aborts, connection errors naming the server.
   */
  list(opts: ListOptions = {}): AsyncIterableIterator<ObjectStat> {
    const n = this.native;
    const high = opts.high === undefined ? undefined : idPart(opts.high, 'high');
    const pageSize = opts.pageSize ?? 256;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new IocError('EINVAL', `pageSize must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${String(pageSize)}`);
    }
    const where = () => `listing of ${high === undefined ? 'the objects' : `the objects ${high}:*`} on ${this.servers().join(',')}`;
    checkSignal(opts.signal, where);
    return listObjects(n, high, pageSize, opts.signal, where);
  }

  /**
   * One round trip with every server: the PING carries eagerSize inline bytes and offers rdmaSize
   * bytes that the server reads by RMA (at most 64 MiB with our server). Works with original
   * iocatcher servers too (their PONG carries no data).
   */
  async ping(eagerSize = 0, rdmaSize = 0): Promise<void> {
    const n = this.native;
    if (!Number.isInteger(eagerSize) || eagerSize < 0 || eagerSize > 32768) throw new IocError('EINVAL', `invalid eager size ${eagerSize}`);
    if (!Number.isSafeInteger(rdmaSize) || rdmaSize < 0) throw new IocError('EINVAL', `invalid RMA size ${rdmaSize}`);
    try {
      await n.ping(eagerSize, rdmaSize);
    } catch (e) {
      const { ret, reason } = failureOf(e);
      throw failure(ret, reason, `ping of ${this.host.includes(',') ? this.host : `${this.host}:${this.port}`}`);
    }
  }

  /**
   * What this client last heard from the server that owns object (high, low) at its handshake:
   * its start epoch (16 hex digits, random per server start: another value means the server
   * restarted; zeros when unknown) and whether it keeps acknowledged writes across a restart
   * (--nvdimm). A call to that server first makes it current.
   *
   * @example
   * ```ts
   * await client.stat(1n, 2n);
   * const { epoch, durable } = client.serverEpoch(1n, 2n);
   * ```
   */
  serverEpoch(high: ObjectIdPart, low: ObjectIdPart): ServerEpoch {
    return this.native.serverEpoch(idPart(high, 'high'), idPart(low, 'low'));
  }

  /** libfabric provider in use, e.g. "tcp;ofi_rxm". */
  providerName(): string {
    return this.native.providerName();
  }

  /** true (default): block waiting for completions; false: busy-poll (costs a core). */
  setPassiveWait(value: boolean): void {
    this.native.setPassiveWait(!!value);
  }

  /** Per-call timeout in milliseconds (0: none). */
  setTimeout(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0 || ms > 0xffffffff) throw new IocError('EINVAL', `invalid timeout ${ms}`);
    this.native.setTimeout(ms);
  }

  /** Close the connections; calls already running finish first. Closing twice is harmless. */
  close(): void {
    this.handle?.close();
    this.handle = undefined;
  }

  /** close(), for `using client = await IocClient.connect(...)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** close(), for `await using client = await IocClient.connect(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
