// Eviction policies: keep a mapping's (or a group of mappings') resident memory under a limit.
//   none                            no limit
//   fifo://SIZE                     evict the oldest loaded segment while over SIZE
//   lifo://SIZE                     evict the newest loaded segment while over SIZE
//   fifo-window://SIZE?window=SIZE  fifo, but evict down to SIZE - window at once
// A UmapPolicy object passed to several mappings gives them one shared quota.
import { IocError } from '../errors';
import { addon } from '../native';
import type { NativePolicyHandle } from './native-types';
import { parseSize } from './size';

export interface PolicyStats {
  /** Resident bytes counted against the limit. */
  used: number;
  limit: number;
}

export class UmapPolicy {
  /** @internal */
  readonly handle: NativePolicyHandle;
  readonly spec: string;
  readonly limit: number;

  constructor(spec: string) {
    const m = /^(fifo|lifo|fifo-window):\/\/([^?]+)(?:\?(.*))?$/i.exec(spec.trim());
    if (!m) throw new IocError('EINVAL', `bad policy '${spec}' (expected none, fifo://SIZE, lifo://SIZE or fifo-window://SIZE?window=SIZE)`);
    const kind = m[1].toLowerCase();
    const limit = parseSize(m[2], 'policy size');
    if (limit <= 0) throw new IocError('EINVAL', `bad policy '${spec}': size must be > 0`);
    let window = 0;
    if (kind === 'fifo-window') {
      const w = new URLSearchParams(m[3] ?? '').get('window');
      window = w ? parseSize(w, 'policy window') : Math.floor(limit / 8);
      if (window >= limit) throw new IocError('EINVAL', `bad policy '${spec}': window must be below the size`);
    }
    this.spec = spec;
    this.limit = limit;
    this.handle = addon().umapPolicyCreate(kind === 'lifo' ? 'lifo' : 'fifo', limit, window);
  }

  stats(): PolicyStats {
    return addon().umapPolicyStats(this.handle);
  }
}

/** A policy to share between mappings (one quota for all of them). */
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
