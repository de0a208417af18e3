import { IocError } from '../errors';

const units: Record<string, number> = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40 };

/** '64MB' -> 67108864. Suffixes B/KB/MB/GB/TB are 1024-based (K/M/G/T accepted too). */
export function parseSize(text: string | number, what = 'size'): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) throw new IocError('EINVAL', `bad ${what}: ${text}`);
    return text;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)?\s*$/i.exec(text);
  if (!m) throw new IocError('EINVAL', `bad ${what} '${text}' (expected e.g. 64MB)`);
  let unit = (m[2] ?? '').toUpperCase();
  if (unit === '') unit = 'B';
  else if (!unit.endsWith('B')) unit += 'B';
  const value = Math.round(parseFloat(m[1]) * units[unit]);
  if (!Number.isSafeInteger(value)) throw new IocError('EINVAL', `bad ${what} '${text}'`);
  return value;
}
