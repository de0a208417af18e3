// Shared helpers of the ummap tests (not a test file itself).
import * as path from 'path';
import { tmpDir } from './helpers/tmp';

/** Small deterministic PRNG (xorshift32) so failures reproduce. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/** Apply `count` random writes (1..512 bytes) to both the mapping and a reference copy. */
export function randomWrites(target: Uint8Array, reference: Uint8Array, count: number, seed: number): void {
  const rand = rng(seed);
  for (let i = 0; i < count; i++) {
    const len = 1 + Math.floor(rand() * 512);
    const off = Math.floor(rand() * (target.length - len));
    const value = 1 + Math.floor(rand() * 255);
    target.fill(value, off, off + len);
    reference.fill(value, off, off + len);
  }
}

/** Index of the first differing byte, or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

export function tmpFile(name: string): string {
  return path.join(tmpDir('ummap-test-'), name);
}

export const MiB = 1 << 20;
