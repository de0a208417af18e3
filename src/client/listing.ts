// IocClient.list(): a native listing's pages as an async iterator.
import { checkSignal, raceAbort } from '../abort';
import { failure, failureOf } from './failures';
import type { NativeClientHandle, NativeListHandle } from './native-types';
import { StatPage } from './stat-page';
import type { ObjectStat } from './types';

/** The pages of a native listing, one request at a time: the next page is asked for as soon as
 *  one arrives, so that it is on its way while the caller consumes this one. The listing is
 *  freed when the iteration ends in any way (a page still on its way is dropped once it is in). */
export async function* listObjects(n: NativeClientHandle, high: bigint | undefined, pageSize: number,
  signal: AbortSignal | undefined, where: () => string): AsyncGenerator<ObjectStat> {
  let list: NativeListHandle;
  try {
    list = n.listOpen(high !== undefined, high ?? 0n);
  } catch (e) {
    throw failure(failureOf(e).ret, '', where());
  }
  const ask = () => {
    const p = n.listNext(list, pageSize);
    p.catch(() => undefined);  // awaited in its turn; dropped when the iteration ends first
    return p;
  };
  try {
    let next = ask();
    for (;;) {
      checkSignal(signal, where);
      let v: ArrayBuffer;
      try {
        v = await raceAbort(next, signal, where);
      } catch (e) {
        const { ret, reason } = failureOf(e);
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
