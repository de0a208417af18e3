// A version's manifest: the object at slot 0 of its commit (docs/checkpoints.md). Written last,
// after every region's bytes were acknowledged, so that a version whose manifest reads back
// whole is complete as far as the writer knew. Layout (little endian):
//   bytes 0-7    magic "IOCCKPT1"
//   bytes 8-11   uint32 length of the JSON text
//   bytes 12-15  zero
//   bytes 16-47  SHA-256 of the JSON text
//   bytes 48-    the JSON text (UTF-8), a Manifest
import { createHash } from 'crypto';

export const MANIFEST_MAGIC = 'IOCCKPT1';
export const MANIFEST_HEADER_BYTES = 48;

/** How durable a version was when checkpoint() resolved. */
export type Durability = 'server' | 'store';

/** One region of a version. */
export interface ManifestRegion {
  /** The name given to protect(). */
  name: string;
  /** Its slot: the region's object is (high, seq * 65536 + slot). */
  slot: number;
  /** Bytes of the region. */
  size: number;
  /** The start epoch (16 hex digits) of the server that acknowledged its pages; zeros when that
   *  server keeps acknowledged writes across a restart (--nvdimm). */
  epoch: string;
}

/** What a manifest holds. */
export interface Manifest {
  /** The layout's version: 1. */
  format: 1;
  /** The set's name. */
  set: string;
  /** The set's high half, decimal. */
  high: string;
  /** The commit's sequence number, decimal. */
  seq: string;
  /** The application's version number. */
  version: number;
  /** When the version was committed (ISO 8601). */
  committedAt: string;
  /** How durable the version was at commit. */
  durability: Durability;
  /** The version's regions. */
  regions: ManifestRegion[];
}

export function encodeManifest(m: Manifest): Buffer {
  const json = Buffer.from(JSON.stringify(m), 'utf8');
  const out = Buffer.alloc(MANIFEST_HEADER_BYTES + json.length);
  out.write(MANIFEST_MAGIC, 0, 'latin1');
  out.writeUInt32LE(json.length, 8);
  createHash('sha256').update(json).digest().copy(out, 16);
  json.copy(out, MANIFEST_HEADER_BYTES);
  return out;
}

/** The JSON length a header announces, or undefined when it is no manifest header. */
export function manifestLength(header: Buffer): number | undefined {
  if (header.length < MANIFEST_HEADER_BYTES || header.toString('latin1', 0, 8) !== MANIFEST_MAGIC) return undefined;
  return header.readUInt32LE(8);
}

/** The manifest in bytes (header and JSON), or undefined when they are not a whole, intact one. */
export function decodeManifest(bytes: Buffer): Manifest | undefined {
  const length = manifestLength(bytes);
  if (length === undefined || bytes.length < MANIFEST_HEADER_BYTES + length) return undefined;
  const json = bytes.subarray(MANIFEST_HEADER_BYTES, MANIFEST_HEADER_BYTES + length);
  if (!createHash('sha256').update(json).digest().equals(bytes.subarray(16, 48))) return undefined;
  try {
    const m = JSON.parse(json.toString('utf8')) as Manifest;
    return m && m.format === 1 && Array.isArray(m.regions) ? m : undefined;
  } catch {
    return undefined;
  }
}
