// Typed surface of the client half of the native addon (native/addon/client_binding.cc).
// Every call resolves with a raw errno-style number: >= 0 success, < 0 a negative errno; a
// failure the server explained resolves with a NativeFailure instead.

/** An offset or size: a bigint, or a non-negative safe-integer number. */
export type I64 = bigint | number;

/** A failed call with the server's reason (its ReplyReason), or the client's for a call it did not send. */
export interface NativeFailure {
  ret: number;
  reason: string;
}

/** A call's outcome: its number, or a failure with a reason. */
export type NativeResult = number | NativeFailure;

/** What the server knows of one object (ioc_obj_stat_t): the addon builds the public ObjectStat. */
export type NativeObjectStat = import('./types').ObjectStat;

/** A listing in progress (ioc_obj_list_t). */
export type NativeListHandle = { readonly __brand: 'iocatcher.list' };

export interface NativeClientHandle {
  read(high: I64, low: I64, offset: I64, target: Uint8Array): Promise<NativeResult>;
  write(high: I64, low: I64, offset: I64, data: Uint8Array): Promise<NativeResult>;
  flush(high: I64, low: I64, offset: I64, size: I64): Promise<NativeResult>;
  create(high: I64, low: I64): Promise<NativeResult>;
  cow(srcHigh: I64, srcLow: I64, dstHigh: I64, dstLow: I64, allowExist: boolean, offset: I64, size: I64): Promise<NativeResult>;
  registerRange(high: I64, low: I64, offset: I64, size: I64, write: boolean): Promise<NativeResult>;
  unregisterRange(id: number, high: I64, low: I64, offset: I64, size: I64, write: boolean): Promise<NativeResult>;
  ping(eagerSize: number, rdmaSize: number): Promise<NativeResult>;
  /** The object's stat, or a failure (-ENOENT: no such object; -ENOSYS: no namespace there). */
  stat(high: I64, low: I64): Promise<NativeObjectStat | NativeResult>;
  delete(high: I64, low: I64): Promise<NativeResult>;
  /** A listing of every server's objects (only those whose high half is `high` when filterHigh); nothing sent yet. */
  listOpen(filterHigh: boolean, high: I64): NativeListHandle | number;
  /** Up to max entries; [] once the listing is complete. One call at a time per listing. */
  listNext(list: NativeListHandle, max: number): Promise<NativeObjectStat[] | NativeResult>;
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
  /** Index (in servers()) of the server that owns object (high, low) by rendezvous hashing. */
  serverOf(high: I64, low: I64): number;
  close(): void;
}

export interface NativeClientBinding {
  /** Resolves with a handle, or with a negative errno when the connection failed. */
  clientConnect(host: string, port: string): Promise<NativeClientHandle | number>;
}
