import { IocError } from './errors';

// The one size syntax of iocatcher, shared by the TypeScript API (ummap options, policies, URIs),
// the server's options (here and in native/common/size.h, which the daemon and iocatcher-client
// use) and the admin CLI: a number, decimals allowed, then an optional unit. Every unit is
// 1024-based whatever its spelling: K = KB = KiB = 1024, M = MB = MiB = 1024^2, up to T. Case is
// ignored. A fractional byte count rounds to the nearest byte (0.5MB = 524288).
/** The size syntax in words, as error messages and --help texts give it. */
export const SIZE_SYNTAX = 'a number with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB (1024-based), e.g. 64MB or 1.5GiB';

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:I?B)?|B)?\s*$/i;
const shift: Record<string, number> = { K: 10, M: 20, G: 30, T: 40 };

/** '64MB' -> 67108864, '1.5GiB' -> 1610612736 (units are powers of 1024; see SIZE_SYNTAX). */
export function parseSize(text: string | number, what = 'size'): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) throw new IocError('EINVAL', `bad ${what}: ${text}`);
    return text;
  }
  const m = typeof text === 'string' ? SIZE_RE.exec(text) : null;
  if (!m) throw new IocError('EINVAL', `bad ${what} '${text}': expected ${SIZE_SYNTAX}`);
  const value = Math.round(parseFloat(m[1]) * 2 ** (m[2] ? shift[m[2].toUpperCase()] : 0));
  if (!Number.isSafeInteger(value)) throw new IocError('EINVAL', `bad ${what} '${text}': above 2^53 bytes`);
  return value;
}
