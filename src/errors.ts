import { constants } from 'os';

/**
 * Every error thrown by iocatcher carries a string `code` ('EINVAL', 'EBUSY', ...). Messages of
 * object operations name the call, the object (HIGH:LOW), the byte range and the server.
 *
 * @example
 * ```ts
 * try {
 *   await client.cow({ high: 1n, low: 2n }, { high: 1n, low: 3n });
 * } catch (e) {
 *   if (e instanceof IocError && e.code === 'EEXIST') { ... }  // 1:3 exists: allowExist to overwrite
 * }
 * ```
 */
export class IocError extends Error {
  /** errno name ('EINVAL', 'EBUSY', 'ETIMEDOUT', ...), 'ENOTFOUND'/'EAI_AGAIN' for a host name
   *  that does not resolve, 'ABORT_ERR' for an aborted call, 'ENOADDON' without the native addon. */
  readonly code: IocErrorCode;
  /** Negative errno-style value when the error came from native code or the server. */
  readonly errno?: number;

  constructor(code: IocErrorCode, message: string, errno?: number) {
    super(message);
    this.name = 'IocError';
    this.code = code;
    if (errno !== undefined) this.errno = errno;
  }
}

/** An errno name: those Node knows on this platform (os.constants.errno), and Linux's EUSERS. */
export type ErrnoCode = keyof typeof constants.errno | 'EUSERS';
/** Every code an {@link IocError} carries. */
export type IocErrorCode = ErrnoCode | 'ENOTFOUND' | 'EAI_AGAIN' | 'ABORT_ERR' | 'ENOADDON';

const errnoNames = new Map<number, ErrnoCode>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name as ErrnoCode);
}
// Linux's "too many users", which Node does not list: a server at its --max-clients limit.
if (process.platform === 'linux' && !errnoNames.has(87)) errnoNames.set(87, 'EUSERS');

/** Name of an errno value, positive or negative: 16 or -16 -> 'EBUSY'. */
export function errnoName(errno: number): ErrnoCode {
  return errnoNames.get(Math.abs(errno)) ?? 'EIO';
}

const otherCodes = new Set<string>(['ENOTFOUND', 'EAI_AGAIN', 'ABORT_ERR', 'ENOADDON']);
/** code itself when it is one of IocErrorCode's, else fallback (a code from outside: native, DNS). */
export function iocErrorCode(code: unknown, fallback: IocErrorCode = 'EIO'): IocErrorCode {
  if (typeof code !== 'string') return fallback;
  if (otherCodes.has(code) || code === 'EUSERS' || Object.prototype.hasOwnProperty.call(constants.errno, code)) return code as IocErrorCode;
  return fallback;
}

/** Build an IocError from a negative errno-style return value. */
export function errorFromErrno(ret: number, what: string): IocError {
  const code = errnoName(ret);
  return new IocError(code, `${what}: ${code} (${ret})`, ret > 0 ? -ret : ret);
}
