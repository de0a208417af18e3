// What IocClient's calls take and give besides objects' bytes.
import type { AbortOptions } from '../abort';
import type { ObjectIdPart } from './args';

/** What a client last heard of a server's life ({@link IocClient.serverEpoch}). */
export interface ServerEpoch {
  /** The server's start epoch, 16 hex digits (zeros: unknown). */
  epoch: string;
  /** Whether the server keeps acknowledged writes across a restart (--nvdimm). */
  durable: boolean;
}

/** What a server knows of one object ({@link IocClient.stat}, {@link IocClient.list}). */
export interface ObjectStat {
  /** High half of the object's id. */
  high: bigint;
  /** Low half of the object's id. */
  low: bigint;
  /** Logical size in bytes: the end of the highest byte written, or the stored size. */
  size: number;
  /** Size of the object in the backing store (0: not stored, or stored empty). */
  storedBytes: number;
  /** Bytes of the object in the server's cache. */
  cachedBytes: number;
  /** Of those, bytes not yet written to the backing store. */
  dirtyBytes: number;
  /** The backing store holds the object (possibly empty). */
  stored: boolean;
}

/** Options of {@link IocClient.list}. */
export interface ListOptions extends AbortOptions {
  /** Only the objects whose high half is this. */
  high?: ObjectIdPart;
  /** Entries fetched per request (1-4096, default 256; a server may send fewer). */
  pageSize?: number;
}
