// ummap: userfaultfd memory mappings of iocatcher objects, files, memory and dummy stores.
import { IocError } from '../errors';
import { addon } from '../native';
import { callNative, callNativeAsync, Mapping, ObjectIdInput, objectIdInput } from './mapping';
import type { DirtyTrackingMode, NativeMappingSpec, NativeUmapSupport } from './native-types';
import { resolvePolicy, UmapPolicy } from './policy';
import { parseSize } from './size';
import { parseUri, UriVars } from './uri';

export { Mapping } from './mapping';
export type { MappingTarget, ObjectIdInput, RangeOptions, UmapStats } from './mapping';
export { createPolicy, UmapPolicy } from './policy';
export type { PolicyStats } from './policy';
export { parseSize } from './size';
export { defaultServer, envDefaultServer, parseUri } from './uri';
export type { DriverSpec, UriVars } from './uri';
export type { DirtyTrackingMode, NativeMappingStats, NativeUmapSupport } from './native-types';

/** Options of {@link ummap}. */
export interface UmapOptions {
  /** Bytes loaded per fault; a multiple of 4096 (default 1 MiB). Accepts '64KB'-style strings. */
  segmentSize?: number | string;
  /** Where the mapping starts in the object. */
  storageOffset?: number;
  /** Never write back (local writes are allowed, then dropped). */
  readOnly?: boolean;
  /** The first touch of a segment gives zeros instead of reading it. */
  noFirstRead?: boolean;
  /** 'none' (default), 'fifo://SIZE', 'lifo://SIZE', 'fifo-window://SIZE?window=SIZE', or a
   *  UmapPolicy from createPolicy() shared with other mappings (one quota for all). `name=NAME`
   *  in the query ('fifo://64MB?name=ckpt') shares one quota across the process's threads. */
  policy?: string | UmapPolicy;
  /** iocatcher server "host:port" for ioc:// (default 127.0.0.1:8556). */
  server?: string;
  /** Values for {name} variables in URIs. */
  vars?: UriVars;
  /** Dirty page tracking; default 'wp-async' where the kernel has it (IOC_UFFD_NO_WP_ASYNC=1
   *  forces 'wp-fault'). Mappings under a process-wide (named) policy always use 'wp-fault'. */
  dirtyTracking?: DirtyTrackingMode;
  /** Largest sequential read-ahead in bytes (default 16 MiB, 0 disables). */
  readAhead?: number | string;
}

/**
 * Map `size` bytes of object (high, low) of the server in opts.server (ids as IocClient takes
 * them: bigint, number, or '42' / '0x2a' strings). Without a size (undefined, or options in its
 * place), an existing object is mapped whole: its size as the server's stat gives it, from
 * `storageOffset` on.
 *
 * @example
 * ```ts
 * await using m = ummap(1n, 2n, 256 << 20, { server: '10.0.0.5:8556', segmentSize: '1MB' });
 * const v = new Float64Array(m.buffer);
 * v[0] = 42;            // first touch loads the segment
 * await m.sync();       // dirty pages to the server, then its flush
 * ```
 * @throws {@link IocError} `EINVAL` for bad arguments, `ENOSYS`/`EPERM` without userfaultfd,
 * the driver's connect error (`ECONNREFUSED`, ...), naming the object and the server. Without a
 * size: `ENOENT` for an object that does not exist (a new object needs a size), `ENOSYS` from
 * a server that cannot tell sizes (an original iocatcher server).
 *
 * ummap() connects and sets the mapping up on the calling thread: against a server that does
 * not answer it blocks until the client's timeout, and a large mapping's setup takes a while.
 * Prefer `await ummap.open(...)` (same arguments) wherever the event loop must keep running.
 */
export function ummap(high: ObjectIdInput, low: ObjectIdInput, size?: number | string, opts?: UmapOptions): Mapping;
/** Map the whole of existing object (high, low): its size as its server's stat gives it. */
export function ummap(high: ObjectIdInput, low: ObjectIdInput, opts: UmapOptions): Mapping;
/**
 * Map `size` bytes of ioc://HIGH:LOW, file://PATH, mem://SIZE or dummy://VALUE. Without a size,
 * an existing ioc:// object is mapped whole (see above); the other drivers need one.
 *
 * @example
 * ```ts
 * const m = ummap('file:///scratch/ckpt.bin', 1 << 30);
 * ```
 */
export function ummap(uri: string, size?: number | string, opts?: UmapOptions): Mapping;
export function ummap(uri: string, opts: UmapOptions): Mapping;
export function ummap(a: ObjectIdInput, b?: ObjectIdInput | number | UmapOptions, c?: number | string | UmapOptions, d?: UmapOptions): Mapping {
  const p = prepare(a, b, c, d);
  const created = callNative(() => addon().umapCreate(p.native), p.what);
  return new Mapping({ ...created, uri: p.uri, size: created.size, segmentSize: p.native.segmentSize, server: p.opts.server, vars: p.opts.vars, policy: p.policy });
}

/**
 * ummap() without blocking the calling thread: the connection to the server (its handshake,
 * and up to the client's timeout against an unreachable one) and the mapping's setup run on
 * another thread. Same arguments and errors as ummap() (as a rejection). Prefer it in servers,
 * UIs and anything else whose event loop must keep running; ummap() stays for scripts and
 * places that cannot await.
 *
 * @example
 * ```ts
 * const m = await ummap.open(1n, 2n, '256MB', { server: '10.0.0.5' });
 * ```
 */
async function ummapOpen(high: ObjectIdInput, low: ObjectIdInput, size?: number | string, opts?: UmapOptions): Promise<Mapping>;
async function ummapOpen(high: ObjectIdInput, low: ObjectIdInput, opts: UmapOptions): Promise<Mapping>;
async function ummapOpen(uri: string, size?: number | string, opts?: UmapOptions): Promise<Mapping>;
async function ummapOpen(uri: string, opts: UmapOptions): Promise<Mapping>;
async function ummapOpen(a: ObjectIdInput, b?: ObjectIdInput | number | UmapOptions, c?: number | string | UmapOptions, d?: UmapOptions): Promise<Mapping> {
  const p = prepare(a, b, c, d);
  const created = await callNativeAsync(() => addon().umapCreateAsync(p.native), p.what);
  return new Mapping({ ...created, uri: p.uri, size: created.size, segmentSize: p.native.segmentSize, server: p.opts.server, vars: p.opts.vars, policy: p.policy });
}

// eslint-disable-next-line @typescript-eslint/no-namespace
export namespace ummap {
  /**
   * ummap() without blocking the calling thread: the connection to the server (its handshake,
   * and up to the client's timeout against an unreachable one) and the mapping's setup run on
   * another thread. Same arguments and errors as ummap() (as a rejection). Prefer it in servers,
   * UIs and anything else whose event loop must keep running.
   *
   * @example
   * ```ts
   * const m = await ummap.open(1n, 2n, '256MB', { server: '10.0.0.5' });
   * ```
   */
  export const open = ummapOpen;
}

/** ummap()'s arguments checked and resolved into the native spec. */
function prepare(a: ObjectIdInput, b?: ObjectIdInput | number | UmapOptions, c?: number | string | UmapOptions, d?: UmapOptions):
  { native: NativeMappingSpec; uri: string; opts: UmapOptions; policy?: UmapPolicy; what: string } {
  let uri: string;
  let size: unknown;
  let opts: UmapOptions;
  // Without a size, the options (if any) come in its place.
  const isOptions = (v: unknown): v is UmapOptions => typeof v === 'object' && v !== null;
  if (typeof a === 'string' && a.includes('://')) {
    uri = a;
    [size, opts] = isOptions(b) ? [undefined, b] : [b, (c as UmapOptions | undefined) ?? {}];
  } else {
    uri = `ioc://${objectIdInput(a, 'high')}:${objectIdInput(b as ObjectIdInput, 'low')}`;
    [size, opts] = isOptions(c) ? [undefined, c] : [c, d ?? {}];
  }
  // Bytes as a number or a size string ('16MB'), as every other size of the API; 0 asks the
  // driver for the stored object's size.
  const bytes = size === undefined ? 0 : typeof size === 'number' || typeof size === 'string' ? parseSize(size, 'size') : NaN;
  if (size !== undefined && !(bytes > 0)) throw new IocError('EINVAL', `size must be a positive number of bytes or a size string such as '16MB' (got ${String(size)})`);
  const segmentSize = parseSize(opts.segmentSize ?? 1 << 20, 'segmentSize');
  if (segmentSize <= 0 || segmentSize % 4096 !== 0) throw new IocError('EINVAL', `segmentSize must be a positive multiple of 4096 (got ${segmentSize})`);
  const storageOffset = opts.storageOffset ?? 0;
  if (!Number.isSafeInteger(storageOffset) || storageOffset < 0) throw new IocError('EINVAL', `bad storageOffset ${storageOffset}`);
  if (opts.dirtyTracking !== undefined && opts.dirtyTracking !== 'wp-async' && opts.dirtyTracking !== 'wp-fault') {
    throw new IocError('EINVAL', `bad dirtyTracking '${String(opts.dirtyTracking)}'`);
  }
  const spec = parseUri(uri, { vars: opts.vars, server: opts.server });
  const policy = resolvePolicy(opts.policy);
  // A process-wide quota lets another thread's fault evict this mapping's segments while this
  // thread writes to them. With wp-async a write landing between the eviction's dirty scan and
  // the drop would be lost; synchronous write-protect faults make such a write wait for the
  // eviction, then reload. So named quotas use wp-fault.
  let tracking = opts.dirtyTracking;
  if (policy?.name !== undefined) {
    if (tracking === 'wp-async') {
      throw new IocError('EINVAL', `a process-wide policy ('${policy.spec}') needs dirtyTracking 'wp-fault' (another thread may evict this mapping's segments while it writes)`);
    }
    tracking = 'wp-fault';
  }
  const native: NativeMappingSpec = {
    scheme: spec.scheme,
    params: spec.params,
    size: bytes,
    segmentSize,
    storageOffset,
    readOnly: opts.readOnly ?? false,
    noFirstRead: opts.noFirstRead ?? false,
    tracking,
    readAheadMax: opts.readAhead === undefined ? undefined : parseSize(opts.readAhead, 'readAhead'),
    policy: policy?.handle,
  };
  const what = `ummap of ${spec.scheme === 'ioc' ? `object ${spec.params.high}:${spec.params.low} on ${spec.params.host}:${spec.params.port}` : uri}`;
  return { native, uri, opts, policy, what };
}

/** What the kernel offers here (userfaultfd, WP_ASYNC, kernel-side faults). */
export function ummapSupport(): NativeUmapSupport {
  return callNative(() => addon().umapSupport());
}

/** Free a named process-wide memory store (mem://SIZE?name=N). */
export function dropMemStore(name: string): boolean {
  return addon().umapDropMemStore(name);
}
