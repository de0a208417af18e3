// How the admin command prints sizes and object stats.
import type { ObjectStat } from '../client';

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** A byte count for people: '512 B', '1.5 KiB', '300.0 MiB' (1024-based, one decimal). */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${UNITS[u]}`;
}

/** An object id as the command takes it: HIGH:LOW in decimal. */
export function idText(o: { high: bigint; low: bigint }): string {
  return `${o.high}:${o.low}`;
}

/** One object as a JSON line: ids as strings (they exceed 2^53), sizes in bytes. */
export function statJson(o: ObjectStat, server: string): string {
  return JSON.stringify({
    id: idText(o), high: String(o.high), low: String(o.low), size: o.size, storedBytes: o.storedBytes,
    cachedBytes: o.cachedBytes, dirtyBytes: o.dirtyBytes, stored: o.stored, server,
  });
}

const COLUMN = 10;
/** The header of `ls`: fixed-width columns, so that rows print as they come. */
export const LS_HEADER = `${['SIZE', 'STORED', 'CACHED', 'DIRTY'].map((c) => c.padStart(COLUMN)).join('  ')}  ID\n`;

/** One row of `ls`: sizes for people ('-': not stored), then the id. */
export function lsRow(o: ObjectStat): string {
  const cells = [humanBytes(o.size), o.stored ? humanBytes(o.storedBytes) : '-', humanBytes(o.cachedBytes), humanBytes(o.dirtyBytes)];
  return `${cells.map((c) => c.padStart(COLUMN)).join('  ')}  ${idText(o)}\n`;
}

/** `stat` for people: one field a line, sizes with their exact byte counts. */
export function statText(o: ObjectStat, server: string): string {
  const bytes = (n: number) => `${humanBytes(n)} (${n} bytes)`;
  return [
    `object   ${idText(o)}`,
    `server   ${server}`,
    `size     ${bytes(o.size)}`,
    `stored   ${o.stored ? `yes, ${bytes(o.storedBytes)}` : 'no'}`,
    `cached   ${bytes(o.cachedBytes)}`,
    `dirty    ${bytes(o.dirtyBytes)}`,
  ].join('\n') + '\n';
}
