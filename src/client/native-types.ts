// Typed surface of the client half of the native addon (native/addon/client_binding.cc).
// Every call resolves with a raw errno-style number: >= 0 success, < 0 a negative errno.

/** An offset or size: a bigint, or a non-negative safe-integer number. */
export type I64 = bigint | number;

export interface NativeClientHandle {
  read(high: I64, low: I64, offset: I64, target: Uint8Array): Promise<number>;
  write(high: I64, low: I64, offset: I64, data: Uint8Array): Promise<number>;
  flush(high: I64, low: I64, offset: I64, size: I64): Promise<number>;
  create(high: I64, low: I64): Promise<number>;
  cow(srcHigh: I64, srcLow: I64, dstHigh: I64, dstLow: I64, allowExist: boolean, offset: I64, size: I64): Promise<number>;
  registerRange(high: I64, low: I64, offset: I64, size: I64, write: boolean): Promise<number>;
  unregisterRange(id: number, high: I64, low: I64, offset: I64, size: I64, write: boolean): Promise<number>;
  ping(eagerSize: number, rdmaSize: number): Promise<number>;
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
