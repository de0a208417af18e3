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
  /** errno name ('EINVAL', 'EBUSY', 'ETIMEDOUT', ...), 'ENOTFOUND' for an unknown host, 'ABORT_ERR' for an aborted call. */
  readonly code: string;
  /** Negative errno-style value when the error came from native code or the server. */
  readonly errno?: number;

  constructor(code: string, message: string, errno?: number) {
    super(message);
    this.name = 'IocError';
    this.code = code;
    if (errno !== undefined) this.errno = errno;
  }
}

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
// Linux's "too many users", which Node does not list: a server at its --max-clients limit.
if (process.platform === 'linux' && !errnoNames.has(87)) errnoNames.set(87, 'EUSERS');

/** Name of an errno value, positive or negative: 16 or -16 -> 'EBUSY'. */
export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? 'EIO';
}

/** Build an IocError from a negative errno-style return value. */
export function errorFromErrno(ret: number, what: string): IocError {
  const code = errnoName(ret);
  return new IocError(code, `${what}: ${code} (${ret})`, ret > 0 ? -ret : ret);
}
