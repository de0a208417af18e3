// Promise-based TypeScript client over the native C client (libiocatcher-client).
import { addon } from '../native';
import { errnoName, errorFromErrno, IocError } from '../errors';
import type { I64, NativeClientHandle } from './native-types';

export type ObjectIdPart = bigint | number;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/**
 * One half of an object id as IocClient takes it (a safe-integer number or a bigint within int64),
 * else IocError EINVAL. ummap checks its ids with it too, so both accept the same ones.
 * @internal
 */
export function idPart(v: ObjectIdPart, what: string): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new IocError('EINVAL', `${what} must be an integer, got ${v}`);
    v = BigInt(v);
  }
  if (typeof v !== 'bigint' || v < INT64_MIN || v > INT64_MAX) {
    throw new IocError('EINVAL', `${what} must be a bigint or number within int64, got ${String(v)}`);
  }
  return v;
}

function u64(v: bigint | number, what: string): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new IocError('EINVAL', `${what} must be a non-negative integer, got ${v}`);
    return BigInt(v);
  }
  if (typeof v !== 'bigint' || v < 0n || v > UINT64_MAX) throw new IocError('EINVAL', `${what} out of range: ${String(v)}`);
  return v;
}

function check(ret: number, what: string): number {
  if (ret < 0) throw errorFromErrno(ret, what);
  return ret;
}

/**
 * Server list accepted by IocClient.connect: "host", "host:port", a comma-separated list of them
 * ("127.0.0.1:9000,127.0.0.1:9002"), or an array of such entries.
 */
export type ServerList = string | string[];

function serverListString(host: ServerList): string {
  const list = Array.isArray(host) ? host.join(',') : host;
  if (typeof list !== 'string' || list.trim().length === 0) throw new IocError('EINVAL', 'host must be a non-empty string or array of strings');
  for (const entry of list.split(',')) {
    const e = entry.trim();
    if (!e) throw new IocError('EINVAL', `empty entry in server list '${list}'`);
    const m = /^(?:\[[^\]]+\]|[^:\[\]]+)(?::(\d+))?$/.exec(e);
    if (!m && !/^[0-9a-fA-F:]+$/.test(e)) throw new IocError('EINVAL', `bad server address '${e}' (expected host or host:port)`);
    if (m && m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65534)) throw new IocError('EINVAL', `invalid port in '${e}'`);
  }
  return list;
}

/**
 * A connection to one iocatcher server, or to several: each object then lives on one server
 * chosen by rendezvous hashing of its id (every client agrees), and reads of an object whose
 * server is unreachable go to the next server in rendezvous order. Safe to use concurrently.
 *
 * Reads and writes up to 32 KiB and pings are sent from the JS thread; when no other call of
 * this client is in flight, it polls for the reply for up to IOC_CLIENT_SPIN_US microseconds
 * (default 50; 0 never polls) before the event loop waits on the completion queue's descriptor,
 * as the C client does: a small round trip then costs no sleep and wake-up. Larger calls, and
 * flush, cow and ranges, run on libuv's thread pool.
 */
export class IocClient {
  private handle: NativeClientHandle | undefined;
  /** The host, or the server list as given to connect(). */
  readonly host: string;
  readonly port: number;

  private constructor(handle: NativeClientHandle, host: string, port: number) {
    this.handle = handle;
    this.host = host;
    this.port = port;
  }

  /**
   * Connect to the server at host:port (libfabric port; the TCP side channel is port+1), or to
   * several servers: `connect('127.0.0.1:9000,127.0.0.1:9002')` or `connect(['h1:9000', 'h2'])`
   * (entries without a port take `port`). Resolves once at least one server answered.
   * Without a host (undefined): the list in the environment variable IOC_SERVER
   * ("host:port[,host:port...]"), else 127.0.0.1.
   */
  static async connect(host?: ServerList, port = 8556): Promise<IocClient> {
    if (!Number.isInteger(port) || port <= 0 || port > 65534) throw new IocError('EINVAL', `invalid port ${port}`);
    const list = serverListString(host ?? (process.env.IOC_SERVER?.trim() || '127.0.0.1'));
    const h = await addon().clientConnect(list, String(port));
    if (typeof h === 'number') {
      const full = errnoName(h) === 'EUSERS' ? ' (it serves as many clients as its --max-clients allows)' : '';
      throw errorFromErrno(h, `cannot connect to iocatcher server ${list.includes(',') || list.includes(':') ? list : `${list}:${port}`}${full}`);
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

  /** Read size bytes at offset; never-written ranges read as zeros. */
  async read(high: ObjectIdPart, low: ObjectIdPart, offset: I64, size: number): Promise<Buffer> {
    if (!Number.isSafeInteger(size) || size < 0) throw new IocError('EINVAL', `invalid size ${size}`);
    const buf = Buffer.alloc(size);
    await this.readInto(high, low, offset, buf);
    return buf;
  }

  /** Read target.byteLength bytes at offset into target; resolves with the byte count. */
  async readInto(high: ObjectIdPart, low: ObjectIdPart, offset: I64, target: Uint8Array): Promise<number> {
    const n = this.native;
    const [h, l, o] = [idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset')];
    if (!(target instanceof Uint8Array)) throw new IocError('EINVAL', 'target must be a Uint8Array');
    if (target.byteLength === 0) return 0;
    return check(await n.read(h, l, o, target), `read of ${target.byteLength} bytes at ${o}`);
  }

  /** Write data at offset; resolves with the byte count. */
  async write(high: ObjectIdPart, low: ObjectIdPart, offset: I64, data: Uint8Array): Promise<number> {
    const n = this.native;
    const [h, l, o] = [idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset')];
    if (!(data instanceof Uint8Array)) throw new IocError('EINVAL', 'data must be a Uint8Array or Buffer');
    if (data.byteLength === 0) return 0;
    return check(await n.write(h, l, o, data), `write of ${data.byteLength} bytes at ${o}`);
  }

  /** Write the object's dirty cached data in [offset, offset+size) (size 0: all) to the backing store. */
  async flush(high: ObjectIdPart, low: ObjectIdPart, offset: I64 = 0, size: I64 = 0): Promise<void> {
    const n = this.native;
    check(await n.flush(idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset'), u64(size, 'size')), 'flush');
  }

  async create(high: ObjectIdPart, low: ObjectIdPart): Promise<void> {
    const n = this.native;
    check(await n.create(idPart(high, 'high'), idPart(low, 'low')), 'create');
  }

  /** Copy-on-write copy of src to dst: the whole object (size 0) or the range [offset, offset+size). */
  async cow(
    src: { high: ObjectIdPart; low: ObjectIdPart },
    dst: { high: ObjectIdPart; low: ObjectIdPart },
    opts: { allowExist?: boolean; offset?: I64; size?: I64 } = {},
  ): Promise<void> {
    const n = this.native;
    const ret = await n.cow(
      idPart(src.high, 'src.high'), idPart(src.low, 'src.low'),
      idPart(dst.high, 'dst.high'), idPart(dst.low, 'dst.low'),
      opts.allowExist ?? false, u64(opts.offset ?? 0, 'offset'), u64(opts.size ?? 0, 'size'),
    );
    check(ret, 'cow');
  }

  /** Register a mapping range; resolves with its id (>= 1). Rejects with code EBUSY on conflict. */
  async registerRange(high: ObjectIdPart, low: ObjectIdPart, offset: I64, size: I64, write: boolean): Promise<number> {
    const n = this.native;
    return check(
      await n.registerRange(idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset'), u64(size, 'size'), !!write),
      'range register',
    );
  }

  /** Unregister a range; every argument must match its registration (else ENOENT). */
  async unregisterRange(id: number, high: ObjectIdPart, low: ObjectIdPart, offset: I64, size: I64, write: boolean): Promise<void> {
    const n = this.native;
    if (!Number.isInteger(id)) throw new IocError('EINVAL', `invalid range id ${id}`);
    check(
      await n.unregisterRange(id, idPart(high, 'high'), idPart(low, 'low'), u64(offset, 'offset'), u64(size, 'size'), !!write),
      'range unregister',
    );
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
    check(await n.ping(eagerSize, rdmaSize), 'ping');
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
    if (!Number.isInteger(ms) || ms < 0) throw new IocError('EINVAL', `invalid timeout ${ms}`);
    this.native.setTimeout(ms);
  }

  /** Close the connections; calls already running finish first. */
  close(): void {
    this.handle?.close();
    this.handle = undefined;
  }
}
