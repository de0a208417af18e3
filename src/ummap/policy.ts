// Eviction policies: keep a mapping's (or a group of mappings') resident memory under a limit.
//   none                            no limit
//   fifo://SIZE                     evict the oldest loaded segment while over SIZE
//   lifo://SIZE                     evict the newest loaded segment while over SIZE
//   fifo-window://SIZE?window=SIZE  fifo, but evict down to SIZE - window at once
// A UmapPolicy object passed to several mappings gives them one shared quota; `name=NAME` in the
// query (fifo://64MB?name=ckpt) makes it process-wide: every worker thread that asks for that
// name gets the same quota.
import { IocError } from '../errors';
import { addon } from '../native';
import type { NativePolicyHandle } from './native-types';
import { parseSize } from './size';

/** Usage of a policy's quota ({@link UmapPolicy.stats}). */
export interface PolicyStats {
  /** Resident bytes counted against the limit. */
  used: number;
  /** The limit in bytes. */
  limit: number;
}

/** A memory quota for mappings (from {@link createPolicy}, or a policy string in {@link UmapOptions}). */
export class UmapPolicy {
  /** @internal */
  readonly handle: NativePolicyHandle;
  /** The spec it was made from ('fifo://64MB', ...). */
  readonly spec: string;
  /** The limit in bytes. */
  readonly limit: number;
  /** Process-wide name (`?name=`): every thread asking for it shares this quota. */
  readonly name: string | undefined;

  /** @param spec 'fifo://SIZE', 'lifo://SIZE' or 'fifo-window://SIZE?window=SIZE', optionally with '?name=NAME'. */
  constructor(spec: string) {
    const m = /^(fifo|lifo|fifo-window):\/\/([^?]+)(?:\?(.*))?$/i.exec(spec.trim());
    if (!m) throw new IocError('EINVAL', `bad policy '${spec}' (expected none, fifo://SIZE, lifo://SIZE or fifo-window://SIZE?window=SIZE)`);
    const kind = m[1].toLowerCase();
    const limit = parseSize(m[2], 'policy size');
    if (limit <= 0) throw new IocError('EINVAL', `bad policy '${spec}': size must be > 0`);
    const query = new URLSearchParams(m[3] ?? '');
    for (const key of query.keys()) {
      if (key !== 'name' && !(key === 'window' && kind === 'fifo-window')) throw new IocError('EINVAL', `bad policy '${spec}': unknown parameter '${key}'`);
    }
    let window = 0;
    if (kind === 'fifo-window') {
      const w = query.get('window');
      window = w ? parseSize(w, 'policy window') : Math.floor(limit / 8);
      if (window >= limit) throw new IocError('EINVAL', `bad policy '${spec}': window must be below the size`);
    }
    const name = query.get('name') ?? undefined;
    if (name !== undefined && !/^[\w.-]{1,64}$/.test(name)) throw new IocError('EINVAL', `bad policy '${spec}': name must be 1-64 letters, digits, '_', '.' or '-'`);
    this.spec = spec;
    this.limit = limit;
    this.name = name;
    try {
      this.handle = addon().umapPolicyCreate(kind === 'lifo' ? 'lifo' : 'fifo', limit, window, name);
    } catch (e) {
      throw new IocError('EINVAL', `bad policy '${spec}': ${(e as Error).message}`);
    }
  }

  /** Bytes currently counted against the quota, and the limit. */
  stats(): PolicyStats {
    return addon().umapPolicyStats(this.handle);
  }
}

/**
 * A policy to share between mappings (one quota for all of them). With `?name=NAME` in the spec
 * (`fifo://64MB?name=ckpt`) the quota is process-wide: mappings of every worker thread that uses
 * that name share it (asking for an existing name with other parameters is an EINVAL error).
 * Mappings under a named policy track dirty pages with synchronous write-protect faults
 * ('wp-fault'): an eviction triggered by another thread must see every write it races with.
 */
export function createPolicy(spec: string): UmapPolicy {
  return new UmapPolicy(spec);
}

/** opts.policy -> the policy to use (undefined: no limit). */
export function resolvePolicy(policy: string | UmapPolicy | undefined): UmapPolicy | undefined {
  if (policy === undefined || policy instanceof UmapPolicy) return policy;
  if (typeof policy !== 'string') throw new IocError('EINVAL', 'policy must be a string or a UmapPolicy');
  if (policy.trim() === '' || policy.trim().toLowerCase() === 'none') return undefined;
  return new UmapPolicy(policy);
}
