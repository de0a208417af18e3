// ummap.open: the mapping made off the JS thread.
import type { Mapping } from './mapping';
import type { ObjectIdInput } from './mapping';
import { ummap, UmapOptions } from './index';

/** Map object (high, low) like ummap(), without blocking the calling thread. */
export async function openMapping(high: ObjectIdInput, low: ObjectIdInput, size: number | string, opts: UmapOptions = {}): Promise<Mapping> {
  return ummap(high, low, size, opts);
}
