// The object namespace calls of IocClient that checkpoint sets use (stat, delete, list).
import type { AbortOptions } from '../abort';
import type { ObjectIdPart } from '../client';

/** What the server knows of one object (IocClient.stat). */
export interface ObjectStatLike {
  high: bigint;
  low: bigint;
  size: number;
  storedBytes: number;
  cachedBytes: number;
  dirtyBytes: number;
  stored: boolean;
}

export interface NamespaceClient {
  stat(high: ObjectIdPart, low: ObjectIdPart, opts?: AbortOptions): Promise<ObjectStatLike>;
  delete(high: ObjectIdPart, low: ObjectIdPart, opts?: AbortOptions): Promise<void>;
  list(opts?: { high?: ObjectIdPart; pageSize?: number } & AbortOptions): AsyncIterable<ObjectStatLike>;
}
