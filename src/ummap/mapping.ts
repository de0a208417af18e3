import { IocError } from '../errors';
import { addon } from '../native';
import type { DirtyTrackingMode, NativeMappingHandle, NativeMappingStats } from './native-types';
import type { UmapPolicy } from './policy';
import { idPart } from '../client';
import { DriverSpec, objectIdPart, parseUri, UriVars } from './uri';

export type ObjectIdInput = bigint | number | string;

/** An object id half given as an argument: IocClient's rule for numbers and bigints, the URI
 *  spellings for strings. IocError EINVAL otherwise. */
export function objectIdInput(v: ObjectIdInput, what: string): string {
  if (typeof v === 'string') return objectIdPart(v.trim(), what);
  return idPart(v, what).toString();
}

/** Where cow()/switch() re-point a mapping: a URI, or an object of the mapping's server. */
export type MappingTarget = string | { high: ObjectIdInput; low: ObjectIdInput; server?: string };

export interface RangeOptions {
  /** Drop the segments of the range after writing them back (the next touch reloads them). */
  evict?: boolean;
}

export type UmapStats = NativeMappingStats;

/** Native errors carry code/errno: rethrow them as IocError. */
export function rethrow(e: unknown): never {
  if (e instanceof IocError) throw e;
  const err = e as Error & { code?: string; errno?: number };
  throw new IocError(typeof err.code === 'string' ? err.code : 'EIO', err.message, err.errno);
}

export function callNative<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    rethrow(e);
  }
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
 */
export class Mapping {
  readonly size: number;
  readonly segmentSize: number;
  /** How written pages are found: 'wp-async' (PAGEMAP_SCAN) or 'wp-fault' (a fault per page). */
  readonly dirtyTracking: DirtyTrackingMode;
  readonly policy?: UmapPolicy;
  private handle: NativeMappingHandle;
  private buf: ArrayBuffer;
  private currentUri: string;
  private closedFlag = false;
  private readonly server?: string;
  private readonly vars?: UriVars;

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
  }

  /** The mapped memory (detached, byteLength 0, after unmap). */
  get buffer(): ArrayBuffer {
    return this.buf;
  }

  /** URI of the object the mapping currently reads from and writes to. */
  get uri(): string {
    return this.currentUri;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Write back the dirty pages of the range, then make them durable (server flush, fdatasync). */
  sync(offset = 0, size?: number, opts: RangeOptions = {}): void {
    this.range(offset, size, true, opts);
  }

  /** Write back the dirty pages of the range (no driver sync). */
  flush(offset = 0, size?: number, opts: RangeOptions = {}): void {
    this.range(offset, size, false, opts);
  }

  /** Release the mapping; sync (default true) writes dirty data back first. `buffer` is detached. */
  unmap(opts: { sync?: boolean } = {}): void {
    if (this.closedFlag) return;
    callNative(() => addon().umapUnmap(this.handle, this.buf, opts.sync ?? true));
    this.closedFlag = true;
  }

  /**
   * Copy the stored content to another object (server-side for ioc), then re-point the mapping
   * to it: dirty pages go to the new object, the old one keeps its content.
   */
  cow(target: MappingTarget, opts: { allowExist?: boolean } = {}): void {
    this.repoint(target, true, opts.allowExist ?? false);
  }

  /** Re-point the mapping to another object without copying. */
  switch(target: MappingTarget): void {
    this.repoint(target, false, false);
  }

  stats(): UmapStats {
    this.checkOpen();
    return callNative(() => addon().umapStats(this.handle));
  }

  private repoint(target: MappingTarget, copyFirst: boolean, allowExist: boolean): void {
    this.checkOpen();
    const uri = typeof target === 'string' ? target : `ioc://${objectIdInput(target.high, 'high')}:${objectIdInput(target.low, 'low')}`;
    const server = typeof target === 'string' ? this.server : target.server ?? this.server;
    const spec: DriverSpec = parseUri(uri, { vars: this.vars, server });
    callNative(() => addon().umapSwitch(this.handle, spec.scheme, spec.params, copyFirst, allowExist));
    this.currentUri = uri;
  }

  private range(offset: number, size: number | undefined, syncDriver: boolean, opts: RangeOptions): void {
    this.checkOpen();
    const length = size ?? this.size - offset;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.size || !Number.isSafeInteger(length) || length < 0 || offset + length > this.size) {
      throw new IocError('EINVAL', `range [${offset}, ${offset}+${size}) is outside the mapping (size ${this.size})`);
    }
    callNative(() => addon().umapFlush(this.handle, offset, length, syncDriver, opts.evict ?? false));
  }

  private checkOpen(): void {
    if (this.closedFlag) throw new IocError('EBADF', 'mapping is unmapped');
  }
}
