// Typed surface of the client exports of the native addon (native/addon/client_binding.cc).
// A call resolves with its number (>= 0: bytes moved, a range id, 0) or its value; a failure
// rejects with a NativeError. Arguments of the wrong type throw a TypeError (code
// ERR_INVALID_ARG_TYPE), out of range a RangeError (ERR_OUT_OF_RANGE).

/** An offset or size: a bigint, or a non-negative safe-integer number. */
export type I64 = bigint | number;

/** How every native call fails (native/addon/util/errors.h). */
export interface NativeError extends Error {
  /** The errno's name: 'ENOENT', 'EBUSY', ... */
  code: string;
  /** The negative errno. */
  errno: number;
  /** The server's reason (its ReplyReason), or the client's for a call it did not send. */
  reason?: string;
}

/** Stats of objects (ioc_obj_stat_t) packed as src/client/stat-page.ts reads them. */
export type NativeStatPage = ArrayBuffer;

/** A listing in progress (ioc_obj_list_t). */
export type NativeListHandle = { readonly __brand: 'iocatcher.list' };

export interface NativeClientHandle {
  /** Bytes read. */
  read(high: I64, low: I64, offset: I64, target: Uint8Array): Promise<number>;
  /** Bytes written. */
  write(high: I64, low: I64, offset: I64, data: Uint8Array): Promise<number>;
  flush(high: I64, low: I64, offset: I64, size: I64): Promise<number>;
  create(high: I64, low: I64): Promise<number>;
  cow(srcHigh: I64, srcLow: I64, dstHigh: I64, dstLow: I64, allowExist: boolean, offset: I64, size: I64): Promise<number>;
  /** The range's id (>= 1). */
  registerRange(high: I64, low: I64, offset: I64, size: I64, write: boolean): Promise<number>;
  unregisterRange(id: number, high: I64, low: I64, offset: I64, size: I64, write: boolean): Promise<number>;
  ping(eagerSize: number, rdmaSize: number): Promise<number>;
  /** The object's stat, packed (ENOENT: no such object; ENOSYS: no namespace there). */
  stat(high: I64, low: I64): Promise<NativeStatPage>;
  delete(high: I64, low: I64): Promise<number>;
  /** A listing of every server's objects (only those whose high half is `high` when filterHigh); nothing sent yet. */
  listOpen(filterHigh: boolean, high: I64): NativeListHandle;
  /** Up to max (>= 1) entries, packed; none once the listing is complete. One call at a time per listing (EBUSY). */
  listNext(list: NativeListHandle, max: number): Promise<NativeStatPage>;
  /** Frees the listing (once the page on its way, if any, is in). */
  listClose(list: NativeListHandle): void;
  providerName(): string;
  setPassiveWait(value: boolean): void;
  setTimeout(ms: number): void;
  /** The start epoch of the object's server as its latest handshake said (16 hex digits, zeros
   *  when unknown) and whether it keeps acknowledged writes across a restart (--nvdimm). */
  serverEpoch(high: I64, low: I64): { epoch: string; durable: boolean };
  /** The servers, "host:port", in the order given. */
  servers(): string[];
  /** Index (in servers()) of the server that owns object (high, low) by rendezvous hashing (EBADF once closed). */
  serverOf(high: I64, low: I64): number;
  close(): void;
}

export interface NativeClientBinding {
  /** Resolves with a handle; rejects with the connect errno (ECONNREFUSED, ETIMEDOUT, EUSERS, ...). */
  clientConnect(host: string, port: string): Promise<NativeClientHandle>;
}
