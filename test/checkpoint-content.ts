// The content every version of the checkpoint tests' regions holds, computable from the version
// number alone: version v writes, over version v-1, a pseudo-random choice of pages (about 1 in 8,
// and always page v % pages) with bytes derived from (v, region, page). Version 0 is all zeros.
export const PAGE = 4096;

/** Deterministic 32-bit generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pages that version v writes in region r (of `pages` pages). */
export function pagesWritten(v: number, r: number, pages: number): number[] {
  const next = rng(v * 7919 + r * 104729 + 1);
  const out = new Set<number>([v % pages]);
  for (let p = 0; p < pages; p++) if (next() < 0.125) out.add(p);
  return [...out].sort((a, b) => a - b);
}

/** Fill page p of a region's memory as version v does. */
export function fillPage(mem: Uint8Array, v: number, r: number, p: number): void {
  const page = mem.subarray(p * PAGE, (p + 1) * PAGE);
  const next = rng(v * 131 + r * 977 + p * 31337 + 7);
  const words = new Uint32Array(page.buffer, page.byteOffset, PAGE / 4);
  for (let i = 0; i < words.length; i++) words[i] = (next() * 4294967296) >>> 0;
  words[0] = v;  // the version that wrote the page, to make failures readable
}

/** Apply version v's writes to a region's memory. */
export function writeVersion(mem: Uint8Array, v: number, r: number): void {
  for (const p of pagesWritten(v, r, mem.length / PAGE)) fillPage(mem, v, r, p);
}

/** A region's whole content at version v. */
export function contentAt(v: number, r: number, size: number): Uint8Array {
  const mem = new Uint8Array(size);
  for (let k = 1; k <= v; k++) writeVersion(mem, k, r);
  return mem;
}
