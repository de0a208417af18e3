import { AbortOptions, checkSignal, raceAbort } from '../abort';
import '../dispose';
import { IocError, iocErrorCode } from '../errors';
import { addon } from '../native';
import type { DirtyTrackingMode, NativeMappingHandle, NativeMappingStats } from './native-types';
import type { UmapPolicy } from './policy';
import { idPart } from '../client';
import { DriverSpec, objectIdPart, parseUri, UriVars } from './uri';
import { emitNotices } from './notices';

/** An object id half: a bigint or safe-integer number within int64, or a decimal / 0x hex string. */
export type ObjectIdInput = bigint | number | string;

/** An object id half given as an argument: IocClient's rule for numbers and bigints, the URI
 *  spellings for strings. IocError EINVAL otherwise. */
export function objectIdInput(v: ObjectIdInput, what: string): string {
  if (typeof v === 'string') return objectIdPart(v.trim(), what);
  return idPart(v, what).toString();
}

/** Where cow()/switch() re-point a mapping: a URI, or an object of the mapping's server. */
export type MappingTarget = string | {
  /** High half of the target object's id. */
  high: ObjectIdInput;
  /** Low half of the target object's id. */
  low: ObjectIdInput;
  /** Its server ("host:port"); default the mapping's. */
  server?: string;
};

/** Options of sync()/flush() (and their synchronous forms, which take no signal). */
export interface RangeOptions {
  /** Drop the segments of the range after writing them back (the next touch reloads them). */
  evict?: boolean;
}

/** Counters of a mapping ({@link Mapping.stats}). */
export type UmapStats = NativeMappingStats;

/** Native errors carry code/errno: rethrow them as IocError (message prefixed by `context`).
 *  The addon's argument errors (code ERR_*: a bug on this side) go through as they are. */
export function rethrow(e: unknown, context?: string, hint?: (code: string) => string): never {
  if (e instanceof IocError && !context) throw e;
  if (e instanceof Error && /^ERR_/.test(String((e as Error & { code?: unknown }).code))) throw e;
  const err = e as Error & { code?: string; errno?: number };
  const code = iocErrorCode(err.code);
  const extra = hint?.(code);
  throw new IocError(code, `${context ? `${context}: ` : ''}${err.message}${extra ? `: ${extra}` : ''}`, err.errno);
}

export function callNative<T>(f: () => T, context?: string, hint?: (code: string) => string): T {
  try {
    return f();
  } catch (e) {
    rethrow(e, context, hint);
  }
}

/** The same for a native call that returns a promise: its rejection becomes an IocError too. */
export async function callNativeAsync<T>(f: () => Promise<T>, context?: string): Promise<T> {
  try {
    return await f();
  } catch (e) {
    rethrow(e, context);
  }
}

/** What error messages call a mapping's target: "object H:L on host:port", else its URI. */
function targetText(uri: string, spec: DriverSpec | undefined): string {
  if (spec?.scheme === 'ioc') return `object ${spec.params.high}:${spec.params.low} on ${spec.params.host}:${spec.params.port}`;
  return uri;
}

export interface MappingInit {
  handle: NativeMappingHandle;
  buffer: ArrayBuffer;
  tracking: DirtyTrackingMode;
  uri: string;
  size: number;
  segmentSize: number;
  server?: string;
  vars?: UriVars;
  policy?: UmapPolicy;
}

/**
 * A userfaultfd-backed memory mapping of a storage object. `buffer` is the mapped memory:
 * first touches load whole segments from the driver; sync()/flush() write dirty pages back.
 *
 * Write-back comes in two forms. `sync()`, `flush()` and `unmap()` return promises: they take
 * the dirty pages at the call (runs of 2 MiB and more moved out of the mapping by mremap, ~20 ms
 * per GiB with the dirty-page scan; smaller runs copied) and write them on another thread,
 * several pieces in flight, while the application computes and writes on (a touch of a page
 * moved out copies its segment's part back; the pages return when the write-back ends). Use
 * them for checkpoints. `syncSync()`, `flushSync()` and `unmapSync()` write the pages straight
 * from the mapping and return when done, blocking the thread meanwhile: for short scripts,
 * finalizers and places that cannot await. Write-backs of one mapping run one at a time in
 * call order, whichever the form: a second sync waits for the first, a synchronous one blocks
 * until the asynchronous ones called before it are done.
 *
 * The mapped memory and the copies are not inherited by child processes (MADV_DONTFORK): a
 * child started with child_process sees no such range, and the spawn does not make them
 * copy-on-write in this process (which cost a fault per page at the next write or copy).
 */
export class Mapping {
  /** Bytes mapped. */
  readonly size: number;
  /** Bytes loaded per fault (and the unit of eviction). */
  readonly segmentSize: number;
  /** How written pages are found: 'wp-async' (PAGEMAP_SCAN) or 'wp-fault' (a fault per page). */
  readonly dirtyTracking: DirtyTrackingMode;
  /** The eviction policy (memory quota) of the mapping, if any. */
  readonly policy?: UmapPolicy;
  private handle: NativeMappingHandle;
  private buf: ArrayBuffer;
  private currentUri: string;
  private closedFlag = false;
  /** The last asynchronous call: their promises settle in call order, as their write-backs run. */
  private lastCall: Promise<unknown> = Promise.resolve();
  private readonly server?: string;
  private readonly vars?: UriVars;
  private target: string;

  /** @internal use ummap() */
  constructor(init: MappingInit) {
    this.handle = init.handle;
    this.buf = init.buffer;
    this.dirtyTracking = init.tracking;
    this.currentUri = init.uri;
    this.size = init.size;
    this.segmentSize = init.segmentSize;
    this.server = init.server;
    this.vars = init.vars;
    this.policy = init.policy;
    let spec: DriverSpec | undefined;
    try {
      spec = parseUri(init.uri, { vars: init.vars, server: init.server });
    } catch {
      spec = undefined;
    }
    this.target = targetText(init.uri, spec);
  }

  /** The mapped memory (detached, byteLength 0, after unmap). */
  get buffer(): ArrayBuffer {
    return this.buf;
  }

  /** URI of the object the mapping currently reads from and writes to. */
  get uri(): string {
    return this.currentUri;
  }

  /** true once unmapped. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Write back the dirty pages of the range, then make them durable (server flush, fdatasync),
   * off the JS thread. The content written is the range's content at the call: pages written
   * after the call go with the next sync, never half in each. (An eviction by a memory policy,
   * `evict`, or a server restart during the sync may bring newer content of some pages along.)
   * The copy costs memory as large as the dirty pages; the mapping keeps the last one for reuse
   * until unmap. Concurrent calls are serialised: this one starts when the earlier write-backs
   * of the mapping are done. Rejects with IocError (EIO, ENOSPC, ...; EIO naming the lost bytes
   * when a restarted server lost acknowledged pages no longer in memory; EIO when an earlier
   * write-back failed after this call, whose pages then go with the next sync). Messages name
   * the range and the object (and server) or URI.
   *
   * With `opts.signal`: a signal already aborted rejects with ABORT_ERR and copies nothing.
   * Aborting later rejects at once with ABORT_ERR, but the write-back already under way runs to
   * its end (later calls of the mapping still wait for it, in call order); if it fails, its
   * pages go with the next sync as for any failed write-back. An aborted sync promises nothing
   * about durability: sync again.
   *
   * @example
   * ```ts
   * await using m = ummap('ioc://1:2', 64 << 20, { server: '10.0.0.5:8556' });
   * new Float64Array(m.buffer).fill(1.5);
   * await m.sync(0, undefined, { signal: AbortSignal.timeout(60_000) });
   * ```
   * @throws {@link IocError} `EBADF` after unmap, `EINVAL` for a range outside the mapping,
   * `ABORT_ERR`, the driver's error (`EIO`, `ENOSPC`, ...).
   */
  async sync(offset = 0, size?: number, opts: RangeOptions & AbortOptions = {}): Promise<void> {
    return this.rangeAsync(offset, size, true, opts);
  }

  /**
   * sync() without the driver's durability step: write back the dirty pages of the range.
   * `opts.signal` acts as for sync().
   * @throws {@link IocError} as {@link Mapping.sync}.
   */
  async flush(offset = 0, size?: number, opts: RangeOptions & AbortOptions = {}): Promise<void> {
    return this.rangeAsync(offset, size, false, opts);
  }

  /**
   * Release the mapping; sync (default true) writes dirty data back first, off the JS thread.
   * `buffer` is detached at the call (nothing is written after it); the promise settles when the
   * write-back (after any earlier sync of the mapping) and the release are done. If the
   * write-back fails the mapping stays open with a new `buffer` over the same memory.
   */
  async unmap(opts: { sync?: boolean } = {}): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    try {
      await this.inCallOrder(callNativeAsync(() => addon().umapUnmapAsync(this.handle, this.buf, Boolean(opts.sync ?? true)), `unmap of ${this.target}`));
    } catch (e) {
      this.buf = callNative(() => addon().umapBuffer(this.handle));
      this.closedFlag = false;
      throw e;
    }
  }

  /** sync() on the calling thread: writes the range's dirty pages and returns when durable. */
  syncSync(offset = 0, size?: number, opts: RangeOptions = {}): void {
    this.range(offset, size, true, opts);
  }

  /** flush() on the calling thread: writes the range's dirty pages back (no driver sync). */
  flushSync(offset = 0, size?: number, opts: RangeOptions = {}): void {
    this.range(offset, size, false, opts);
  }

  /** unmap() on the calling thread. If the write-back fails, the mapping and `buffer` stay usable. */
  unmapSync(opts: { sync?: boolean } = {}): void {
    if (this.closedFlag) return;
    callNative(() => addon().umapUnmap(this.handle, this.buf, Boolean(opts.sync ?? true)), `unmap of ${this.target}`);
    this.closedFlag = true;
  }

  /** unmapSync() (with write-back), for `using m = ummap(...)`. */
  [Symbol.dispose](): void {
    this.unmapSync();
  }

  /** unmap() (with write-back), for `await using m = ummap(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.unmap();
  }

  /**
   * Copy the stored content to another object (server-side for ioc), then re-point the mapping
   * to it: dirty pages go to the new object, the old one keeps its content. Waits (blocking)
   * for the mapping's asynchronous write-backs called before it.
   *
   * @example
   * ```ts
   * m.cow('ioc://1:3');                          // checkpoint 1:2 as 1:3, go on writing 1:3
   * m.cow({ high: 1, low: 3 }, { allowExist: true });
   * ```
   * @throws {@link IocError} `EEXIST` when the target exists and allowExist is not set, `ENOENT`,
   * `EBADF` after unmap; the message names both objects and the server.
   */
  cow(target: MappingTarget, opts: { allowExist?: boolean } = {}): void {
    this.repoint(target, true, Boolean(opts.allowExist));
  }

  /** Re-point the mapping to another object without copying (after the pending write-backs, as cow). */
  switch(target: MappingTarget): void {
    this.repoint(target, false, false);
  }

  /** Counters of the mapping (faults, bytes read and written, write-backs, ...). */
  stats(): UmapStats {
    this.checkOpen();
    emitNotices();
    return callNative(() => addon().umapStats(this.handle));
  }

  /**
   * @internal Checkpoints (src/checkpoint): the dirty pages are taken at the call; then, off
   * the JS thread and after the earlier write-backs, `target` becomes a server-side copy of the
   * mapping's object (already made by {@link Mapping.stageCheckpoint}, or made then), the
   * mapping moves to it and the pages go there; `durable` adds the server's flush to its store.
   * Resolves with the server's volatile epoch the pages were acknowledged in (zeros: a server
   * with --nvdimm) and the bytes sent. Rejects with ESTALE, the pages dirty again, when the
   * server restarted without --nvdimm meanwhile.
   */
  checkpointTo(target: { high: bigint; low: bigint }, durable: boolean): Promise<{ epoch: string; bytes: number }> {
    this.checkOpen();
    const { uri, spec, to } = this.resolveTarget(target);
    const call = callNativeAsync(() => addon().umapCheckpointAsync(this.handle, spec.scheme, spec.params, durable), `checkpoint of ${this.target} to ${to}`);
    // The mapping is on the target once the call ran (also when it failed after moving there).
    this.currentUri = uri;
    this.target = to;
    return this.inCallOrder(call);
  }

  /** @internal Checkpointed regions: a release without unmap() (collection, exit) drops the dirty pages. */
  discardOnRelease(): void {
    this.checkOpen();
    callNative(() => addon().umapDiscardOnRelease(this.handle));
  }

  /** @internal In the mapping's turn, a server-side copy of its object to `target` (the next checkpointTo's). */
  stageCheckpoint(target: { high: bigint; low: bigint }): Promise<void> {
    this.checkOpen();
    const { spec, to } = this.resolveTarget(target);
    return this.inCallOrder(callNativeAsync(() => addon().umapStageAsync(this.handle, spec.scheme, spec.params), `staging of ${to} from ${this.target}`));
  }

  /** @internal Move to `target` and drop every loaded page unwritten: the next touch reads the target. */
  reloadFrom(target: { high: bigint; low: bigint }): Promise<void> {
    this.checkOpen();
    const { uri, spec, to } = this.resolveTarget(target);
    const call = callNativeAsync(() => addon().umapReloadAsync(this.handle, spec.scheme, spec.params), `reload of ${this.target} from ${to}`);
    this.currentUri = uri;
    this.target = to;
    return this.inCallOrder(call);
  }

  private resolveTarget(target: { high: bigint; low: bigint }): { uri: string; spec: DriverSpec; to: string } {
    const uri = `ioc://${target.high}:${target.low}`;
    const spec = parseUri(uri, { server: this.server });
    return { uri, spec, to: targetText(uri, spec) };
  }

  private repoint(target: MappingTarget, copyFirst: boolean, allowExist: boolean): void {
    this.checkOpen();
    const uri = typeof target === 'string' ? target : `ioc://${objectIdInput(target.high, 'high')}:${objectIdInput(target.low, 'low')}`;
    const server = typeof target === 'string' ? this.server : target.server ?? this.server;
    const spec: DriverSpec = parseUri(uri, { vars: this.vars, server });
    const to = targetText(uri, spec);
    const hint = (code: string) => (code === 'EEXIST' && copyFirst ? `${to} exists; pass { allowExist: true } (iocatcher cow --allow-exist) to overwrite it` : '');
    // The native message names both objects and the server ("cow ioc://1:2@h:p -> ioc://1:3@h:p").
    callNative(() => addon().umapSwitch(this.handle, spec.scheme, spec.params, copyFirst, allowExist), undefined, hint);
    this.currentUri = uri;
    this.target = to;
  }

  private range(offset: number, size: number | undefined, syncDriver: boolean, opts: RangeOptions): void {
    const length = this.checkRange(offset, size);
    try {
      callNative(() => addon().umapFlush(this.handle, offset, length, syncDriver, Boolean(opts.evict ?? false)), this.rangeWhat(syncDriver, offset, length));
    } finally {
      emitNotices();
    }
  }

  private rangeWhat(syncDriver: boolean, offset: number, length: number): string {
    return `${syncDriver ? 'sync' : 'flush'} of bytes [${offset}, ${offset + length}) of ${this.target}`;
  }

  private async rangeAsync(offset: number, size: number | undefined, syncDriver: boolean, opts: RangeOptions & AbortOptions): Promise<void> {
    const length = this.checkRange(offset, size);
    const what = this.rangeWhat(syncDriver, offset, length);
    checkSignal(opts.signal, () => what);
    const call = this.inCallOrder(callNativeAsync(() => addon().umapFlushAsync(this.handle, offset, length, syncDriver, Boolean(opts.evict ?? false)), what));
    await raceAbort(call, opts.signal, () => what);
  }

  /** Settles after the earlier asynchronous calls have (each native call is already under way). */
  private inCallOrder<T>(call: Promise<T>): Promise<T> {
    call.catch(() => undefined);  // handled: it may reject before the earlier calls settle
    const mine = this.lastCall.then(() => call).finally(emitNotices);
    this.lastCall = mine.catch(() => undefined);
    return mine;
  }

  /** The range's length; IocError EBADF when unmapped, EINVAL when outside the mapping. */
  private checkRange(offset: number, size: number | undefined): number {
    this.checkOpen();
    const length = size ?? this.size - offset;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.size || !Number.isSafeInteger(length) || length < 0 || offset + length > this.size) {
      throw new IocError('EINVAL', `range [${offset}, ${offset}+${size}) is outside the mapping (size ${this.size})`);
    }
    return length;
  }

  private checkOpen(): void {
    if (this.closedFlag) throw new IocError('EBADF', 'mapping is unmapped');
  }
}
