// The IocErrors of IocClient's failed calls: the errno, the call, the object and its byte range,
// the server, and the cause a person can act on.
import { promises as dns } from 'dns';
import { errnoName, errorFromErrno, IocError, iocErrorCode } from '../errors';
import { splitEntry } from './args';
import type { NativeResult } from './native-types';

/** A native outcome as its number and the reason the server gave ('' when none). */
export function split(v: NativeResult): { ret: number; reason: string } {
  return typeof v === 'number' ? { ret: v, reason: '' } : { ret: v.ret, reason: v.reason };
}

/** The IocError of a failed call: "what: CODE (errno)[: the server's reason]". */
export function failure(ret: number, reason: string, what: string): IocError {
  const e = errorFromErrno(ret, what);
  if (reason) e.message += `: ${reason}`;
  return e;
}

/** The connect failure, with the cause a person can act on. */
export async function connectError(ret: number, list: string, port: number): Promise<IocError> {
  const entries = list.split(',').map((e) => splitEntry(e, port));
  const where = entries.map((e) => `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`).join(',');
  const what = `cannot connect to iocatcher server ${where}`;
  const code = errnoName(ret);
  if (code === 'EINVAL') {
    // libfabric reports a name it cannot resolve as EINVAL: say which name, as Node would.
    for (const { host } of entries) {
      try {
        await dns.lookup(host);
      } catch (e) {
        const dnsCode = iocErrorCode((e as NodeJS.ErrnoException).code, 'ENOTFOUND');
        return new IocError(dnsCode, `${what}: unknown host '${host}' (getaddrinfo ${dnsCode})`);
      }
    }
  }
  const e = errorFromErrno(ret, `${what}${code === 'EUSERS' ? ' (it serves as many clients as its --max-clients allows)' : ''}`);
  if (code === 'ETIMEDOUT') {
    e.message += `: no answer to the connection handshake. Is a server listening there, and do client and server use the same libfabric provider? This client: FI_PROVIDER=${process.env.FI_PROVIDER || '(unset: tcp;ofi_rxm)'}; the server: iocatcher-server --provider`;
  }
  return e;
}

/** "bytes [a, b) of object H:L", or "object H:L" for size 0 where 0 means the whole object. */
export function subject(h: bigint, l: bigint, offset: bigint, size: bigint, zeroIsAll: boolean): string {
  return size === 0n && zeroIsAll ? `object ${h}:${l}` : `bytes [${offset}, ${offset + size}) of object ${h}:${l}`;
}

// The errors a flush reports when the server's backing store refused the write-back. The reply
// carries only the errno: the server's log names the store, the object and the error.
const STORE_REFUSALS: Record<string, string> = {
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left',
  EIO: 'I/O error',
  ENOTDIR: 'not a directory',
};

/** The words of a failed flush whose errno is a store refusal ('' otherwise), with the server's
 *  reason (which names the store) when it gave one. */
export function storeRefusal(ret: number, reason: string): string {
  const code = errnoName(ret);
  const why = STORE_REFUSALS[code];
  if (!why) return '';
  return `the server's store refused the write (${code}: ${why}${reason ? `): ${reason}` : '; the server\'s log names the store and the object)'}`;
}
