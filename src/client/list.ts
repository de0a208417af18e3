// IocClient.list(): every object of every server, fetched a page at a time.
import { AbortOptions, checkSignal, raceAbort } from '../abort';
import { IocError } from '../errors';
import type { ObjectIdPart } from './args';
import { failure, split } from './failures';
import type { NativeClientHandle, NativeListHandle } from './native-types';
import { StatPage } from './stat-page';
import type { ObjectStat } from './types';

/** Options of {@link IocClient.list}. */
export interface ListOptions extends AbortOptions {
  /** Only the objects whose high half is this. */
  high?: ObjectIdPart;
  /** Entries fetched per request (1-4096, default 256; a server may send fewer). */
  pageSize?: number;
}

const MAX_PAGE_SIZE = 4096;

/** opts.pageSize checked: a whole number from 1 to MAX_PAGE_SIZE (default 256). @internal */
export function pageSizeOf(opts: ListOptions): number {
  const pageSize = opts.pageSize ?? 256;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new IocError('EINVAL', `pageSize must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${String(pageSize)}`);
  }
  return pageSize;
}

/** The pages of a native listing, one request at a time: the next page is asked for as soon as
 *  one arrives, so that it is on its way while the caller consumes this one. The listing is
 *  freed when the iteration ends in any way (a page still on its way is dropped once it is in). */
export async function* listObjects(n: NativeClientHandle, high: bigint | undefined, pageSize: number,
  signal: AbortSignal | undefined, where: () => string): AsyncGenerator<ObjectStat> {
  const list: NativeListHandle | number = n.listOpen(high !== undefined, high ?? 0n);
  if (typeof list === 'number') throw failure(list, '', where());
  const ask = () => {
    const p = n.listNext(list, pageSize);
    p.catch(() => undefined);  // awaited in its turn; dropped when the iteration ends first
    return p;
  };
  try {
    let next = ask();
    for (;;) {
      checkSignal(signal, where);
      const v = await raceAbort(next, signal, where);
      if (!(v instanceof ArrayBuffer)) {
        const { ret, reason } = split(v);
        throw failure(ret, reason, where());
      }
      const page = new StatPage(v);
      if (page.length === 0) return;
      next = ask();
      for (let i = 0; i < page.length; i++) yield page.at(i);
    }
  } finally {
    n.listClose(list);
  }
}
