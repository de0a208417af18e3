// Object stats as the addon hands them over (native/addon/client_binding.cc, packStats): one
// buffer per page, STAT_SLOTS 8-byte slots per entry: high and low as int64, then size,
// storedBytes, cachedBytes, dirtyBytes and stored (0/1) as doubles.
import type { ObjectStat } from './types';

const STAT_SLOTS = 7;

/** The entries of a packed page, read one at a time (a page may hold thousands). */
export class StatPage {
  private readonly ids: BigInt64Array;
  private readonly figures: Float64Array;
  readonly length: number;

  constructor(buf: ArrayBuffer) {
    this.ids = new BigInt64Array(buf);
    this.figures = new Float64Array(buf);
    this.length = buf.byteLength / (STAT_SLOTS * 8);
  }

  at(i: number): ObjectStat {
    const s = i * STAT_SLOTS, f = this.figures;
    return {
      high: this.ids[s], low: this.ids[s + 1],
      size: f[s + 2], storedBytes: f[s + 3], cachedBytes: f[s + 4], dirtyBytes: f[s + 5], stored: f[s + 6] !== 0,
    };
  }
}
