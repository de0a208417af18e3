// How a failed native call of IocClient becomes the IocError it throws: its errno, the server's
// reason and words a person can act on.
import { promises as dns } from 'dns';
import { errnoName, errorFromErrno, IocError, iocErrorCode } from '../errors';
import type { NativeError } from './native-types';
import { splitEntry } from './args';

/** A failed native call: its errno (negative) and the reason the server gave ('' when none). */
export interface Failure {
  ret: number;
  reason: string;
}

/** The failure a native call rejected (or threw) with; anything else (an abort, a TypeError of
 *  the addon's argument checks: a bug here) is thrown again. */
export function failureOf(e: unknown): Failure {
  const err = e as NativeError;
  if (err instanceof Error && !(err instanceof IocError) && typeof err.errno === 'number') return { ret: err.errno, reason: err.reason ?? '' };
  throw e;
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
