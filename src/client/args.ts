// The arguments IocClient takes, checked: object ids, offsets and sizes, server lists, data.
import { IocError } from '../errors';

/**
 * One half of an object id: a bigint or safe-integer number within int64, or a string in the
 * spelling of ioc:// URIs and the iocatcher command (decimal or 0x hex, optionally negative:
 * '42', '0x2a', '-1'), as ummap() takes it.
 */
export type ObjectIdPart = bigint | number | string;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/**
 * One half of an object id as IocClient takes it (a safe-integer number, a bigint within int64,
 * or its decimal / 0x hex text), else IocError EINVAL. ummap and ioc:// URIs check their ids with
 * it too, so all accept the same ones.
 * @internal
 */
export function idPart(v: ObjectIdPart, what: string): bigint {
  if (typeof v === 'string') {
    const text = v.trim();
    if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(text)) throw new IocError('EINVAL', `${what} must be a decimal or 0x hex integer, got '${v}'`);
    v = text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text);
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
      // A number above 2^53 may already be another integer than the one written: say so.
      throw new IocError('EINVAL', `${what} ${v} is an integer beyond Number.MAX_SAFE_INTEGER (it may have been rounded): pass it as a bigint or a string`);
    }
    if (!Number.isInteger(v)) throw new IocError('EINVAL', `${what} must be an integer, got ${v}`);
    v = BigInt(v);
  }
  if (typeof v !== 'bigint' || v < INT64_MIN || v > INT64_MAX) {
    throw new IocError('EINVAL', `${what} must be a bigint or number within int64, got ${String(v)}`);
  }
  return v;
}

export function u64(v: bigint | number, what: string): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new IocError('EINVAL', `${what} must be a non-negative integer, got ${v}`);
    return BigInt(v);
  }
  if (typeof v !== 'bigint' || v < 0n || v > UINT64_MAX) throw new IocError('EINVAL', `${what} out of range: ${String(v)}`);
  return v;
}

/**
 * Server list accepted by IocClient.connect: "host", "host:port", a comma-separated list of them
 * ("127.0.0.1:9000,127.0.0.1:9002"), or an array of such entries.
 */
export type ServerList = string | string[];

export function serverListString(host: ServerList): string {
  const list = Array.isArray(host) ? host.join(',') : host;
  if (typeof list !== 'string' || list.trim().length === 0) throw new IocError('EINVAL', 'host must be a non-empty string or array of strings');
  for (const entry of list.split(',')) {
    const e = entry.trim();
    if (!e) throw new IocError('EINVAL', `empty entry in server list '${list}'`);
    const m = /^(?:\[[^\]]+\]|[^:\[\]]+)(?::(\d+))?$/.exec(e);
    if (!m && !/^[0-9a-fA-F:]+$/.test(e)) throw new IocError('EINVAL', `bad server address '${e}' (expected host or host:port)`);
    if (m && m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65534)) throw new IocError('EINVAL', `invalid port in '${e}'`);
  }
  return list;
}

/** The bytes of a Buffer, TypedArray or DataView (the same memory, as fs.write takes them). */
export function bytesOf(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new IocError('EINVAL', `${what} must be a Buffer, TypedArray or DataView`);
}

/** host and port of one server-list entry ("host", "host:port", "[v6]:port", bare IPv6). */
export function splitEntry(entry: string, defaultPort: number): { host: string; port: number } {
  const e = entry.trim();
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(e);
  if (bracket) return { host: bracket[1], port: bracket[2] ? Number(bracket[2]) : defaultPort };
  const m = /^([^:]+):(\d+)$/.exec(e);
  if (m) return { host: m[1], port: Number(m[2]) };
  return { host: e, port: defaultPort };
}

/** "bytes [a, b) of object H:L", or "object H:L" for size 0 where 0 means the whole object. */
export function subject(h: bigint, l: bigint, offset: bigint, size: bigint, zeroIsAll: boolean): string {
  return size === 0n && zeroIsAll ? `object ${h}:${l}` : `bytes [${offset}, ${offset + size}) of object ${h}:${l}`;
}
