// How a checkpoint set names its objects (docs/checkpoints.md): every object of set NAME has
// the high half setHigh(NAME); the low half packs the commit sequence number and a slot,
// low = seq * 2^16 + slot, slot 0 being the version's manifest and slot 1.. its regions.
import { IocError } from '../errors';

/** The tag in the top 16 bits of a set's high half ('IC'): tells set objects apart in `iocatcher ls`. */
export const SET_TAG = 0x4943n;
/** Slots per commit: the manifest (0) and at most 65535 regions. */
export const SLOTS = 1n << 16n;
/** The largest sequence number: the low half stays a positive int64. */
export const MAX_SEQ = (1n << 47n) - 1n;

/** FNV-1a, 64 bits, of the UTF-8 bytes of text. */
export function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

/** The high half of set `name`: SET_TAG << 48 | the low 48 bits of FNV-1a-64("iocatcher-checkpoints:" + name). */
export function setHigh(name: string): bigint {
  return (SET_TAG << 48n) | (fnv1a64(`iocatcher-checkpoints:${name}`) & 0xffffffffffffn);
}

/** The low half of a commit's slot. */
export function objectLow(seq: bigint, slot: number): bigint {
  if (seq < 1n || seq > MAX_SEQ) throw new IocError('EOVERFLOW', `checkpoint sequence number ${seq} outside 1..2^47-1`);
  return seq * SLOTS + BigInt(slot);
}

/** A low half's parts ({@link splitLow}). */
export interface LowParts {
  /** The commit's sequence number. */
  seq: bigint;
  /** 0: the manifest; 1..: a region. */
  slot: number;
}

/** Sequence number and slot of a low half. */
export function splitLow(low: bigint): LowParts {
  return { seq: low / SLOTS, slot: Number(low % SLOTS) };
}
