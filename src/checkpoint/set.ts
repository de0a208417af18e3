// A checkpoint set: regions of memory (ummap mappings) whose content is committed together as
// numbered versions, each a complete, self-contained set of objects (docs/checkpoints.md).
// One class over the set's shared state (regions, versions, the pending checkpoint): kept whole.
import { performance } from 'perf_hooks';
import { IocClient, idPart } from '../client';
import type { ObjectIdPart, ObjectStat } from '../client';
import { IocError, iocErrorCode } from '../errors';
import { parseSize } from '../size';
import type { Mapping } from '../ummap/mapping';
import { ummap } from '../ummap';
import { optimalInterval, IntervalAdvice, IntervalFormula } from './interval';
import { Durability, decodeManifest, encodeManifest, Manifest, MANIFEST_HEADER_BYTES, manifestLength } from './manifest';
import { MAX_SEQ, objectLow, setHigh, SLOTS, splitLow } from './ids';

/** Options of {@link openCheckpoints}. */
export interface CheckpointSetOptions {
  /** The iocatcher server, "host" or "host:port" (default: IOC_SERVER, else 127.0.0.1:8556).
   *  One server: a set's versions are copied server-side. */
  server?: string;
  /** Committed versions kept; older ones are deleted after each checkpoint (default 2, Infinity: all). */
  keep?: number;
  /** Default durability of checkpoint(): 'server' (acknowledged by the server; default) or
   *  'store' (also written to the server's backing store). */
  durability?: Durability;
  /** The high half of the set's objects (default: derived from the name, see setHigh). */
  high?: ObjectIdPart;
  /** Segment size of the regions' mappings (default 1 MiB). */
  segmentSize?: number | string;
}

/** Options of {@link CheckpointSet.checkpoint}. */
export interface CheckpointCallOptions {
  /** 'server' resolves once the server holds every byte; 'store' once its backing store does. */
  durability?: Durability;
}

/** A region of memory whose content goes into every version. */
export interface ProtectedRegion {
  /** The name given to protect(). */
  readonly name: string;
  /** Bytes. */
  readonly size: number;
  /** The memory to compute in (the same ArrayBuffer for the life of the set, also across restore()). */
  readonly buffer: ArrayBuffer;
}

/** What a committed checkpoint cost. */
export interface CheckpointResult {
  /** The version number given to checkpoint(). */
  version: number;
  /** The commit's sequence number: its objects are (high, seq * 65536 + slot). */
  seq: bigint;
  /** How durable the version was when the call resolved. */
  durability: Durability;
  /** From the call to the commit. */
  durationMs: number;
  /** Of which the calling thread was blocked (taking the snapshot of the written pages). */
  blockedMs: number;
  /** Region bytes sent to the server (the pages written since the previous checkpoint). */
  bytesSent: number;
  /** Bytes of all regions. */
  regionBytes: number;
}

/** A complete version ({@link CheckpointSet.versions}). */
export interface VersionInfo {
  /** The version number given to checkpoint(). */
  version: number;
  /** Its commit's sequence number. */
  seq: bigint;
  /** When it was committed. */
  committedAt: Date;
  /** How durable it was when its checkpoint() resolved. */
  durability: Durability;
  /** Its regions and their objects. */
  regions: VersionRegion[];
}

/** A region of a version and its object. */
export interface VersionRegion {
  /** The name given to protect(). */
  name: string;
  /** Bytes. */
  size: number;
  /** The object's high half (the set's). */
  high: bigint;
  /** The object's low half: seq * 65536 + slot. */
  low: bigint;
}

/** Options of {@link CheckpointSet.suggestedInterval}. */
export interface IntervalOptions {
  /** Mean time between failures of the job, seconds. */
  mtbfSeconds: number;
  /** Default 'daly'. */
  formula?: IntervalFormula;
  /** The cost of one checkpoint in seconds; default: the mean duration of this set's checkpoints so far. */
  costSeconds?: number;
}

interface Region {
  name: string;
  size: number;
  slot: number;
  mapping: Mapping;
  /** The commit whose object the mapping is on. */
  seq: bigint;
}

const ZERO_EPOCH = '0'.repeat(16);

function checkDurability(d: unknown): Durability {
  if (d !== 'server' && d !== 'store') throw new IocError('EINVAL', `durability must be 'server' or 'store', got '${String(d)}'`);
  return d;
}

/**
 * Open checkpoint set `name` on a server: see {@link CheckpointSet}.
 *
 * @example
 * ```ts
 * const ck = await openCheckpoints('heat2d', { server: '10.0.0.5', keep: 2 });
 * const grid = new Float64Array((await ck.protect('grid', 8 * n * n)).buffer);
 * const last = await ck.latest();
 * if (last !== undefined) await ck.restore(last);
 * ```
 * @throws {@link IocError} connection errors, `EINVAL` for bad options, `ENOSYS` from a server
 * without the object namespace.
 */
export async function openCheckpoints(name: string, opts: CheckpointSetOptions = {}): Promise<CheckpointSet> {
  if (typeof name !== 'string' || name.length === 0) throw new IocError('EINVAL', 'a checkpoint set needs a non-empty name');
  const keep = opts.keep ?? 2;
  if (!(keep === Infinity || (Number.isSafeInteger(keep) && keep >= 1))) throw new IocError('EINVAL', `keep must be a whole number >= 1 or Infinity, got ${String(keep)}`);
  const durability = checkDurability(opts.durability ?? 'server');
  const high = opts.high === undefined ? setHigh(name) : idPart(opts.high, 'high');
  const segmentSize = opts.segmentSize === undefined ? undefined : parseSize(opts.segmentSize, 'segmentSize');
  const client = await IocClient.connect(opts.server);
  try {
    // A version is made by server-side copies: every object of a set on one server.
    if (client.servers().length > 1) {
      throw new IocError('EINVAL', `checkpoint set '${name}' needs one server, got ${client.servers().join(',')} (a set's versions are copied server-side)`);
    }
    let maxSeq = 0n;
    for await (const o of client.list({ high })) maxSeq = splitLow(o.low).seq > maxSeq ? splitLow(o.low).seq : maxSeq;
    return new CheckpointSet(name, high, client, { keep, durability, server: opts.server, segmentSize, nextSeq: maxSeq + 1n });
  } catch (e) {
    client.close();
    throw e;
  }
}

/**
 * Versions of a set of memory regions, committed atomically: a version is complete or
 * invisible. Each version is self-contained (restorable after older ones are deleted); a
 * checkpoint sends only the pages written since the previous one, the rest of the version
 * being a server-side copy of the previous version made between checkpoints. One writer per
 * set at a time.
 */
export class CheckpointSet {
  /** Committed versions kept. */
  readonly keep: number;
  private readonly regions: Region[] = [];
  private readonly server?: string;
  private readonly segmentSize?: number;
  private readonly defaultDurability: Durability;
  private nextSeq: bigint;
  /** Checkpoints called and not yet settled, by sequence number. */
  private readonly inFlight = new Set<bigint>();
  /** Commits, restores and retention run one at a time, in call order. */
  private tail: Promise<unknown> = Promise.resolve();
  private restoring = 0;
  private closed = false;
  private readonly durations: number[] = [];
  /** The last failure of a background staging (the next checkpoint then copies on its own). */
  lastStagingError?: Error;
  /** The last failure to delete old versions after a commit (the next checkpoint tries again). */
  lastRetentionError?: Error;
  /** The background copies for the next checkpoint, settled when done. */
  private staging: Promise<unknown> = Promise.resolve();

  /**
   * @internal use openCheckpoints()
   * @param name the set's name
   * @param high the high half of the set's objects
   */
  constructor(readonly name: string, readonly high: bigint, private readonly client: IocClient,
    o: { keep: number; durability: Durability; server?: string; segmentSize?: number; nextSeq: bigint }) {
    this.keep = o.keep;
    this.defaultDurability = o.durability;
    this.server = o.server;
    this.segmentSize = o.segmentSize;
    this.nextSeq = o.nextSeq;
  }

  /**
   * Add a region of `size` bytes (a number or a size string such as '64MB') to every later
   * version. Its memory starts as zeros; restore() fills it. Protect every region before the
   * first restore() or checkpoint().
   * @throws {@link IocError} `EEXIST` for a name already protected, `EINVAL` for a bad size,
   * the mapping's errors.
   */
  async protect(name: string, size: number | string): Promise<ProtectedRegion> {
    this.checkOpen();
    if (typeof name !== 'string' || name.length === 0) throw new IocError('EINVAL', 'a region needs a non-empty name');
    if (this.regions.some((r) => r.name === name)) throw new IocError('EEXIST', `region '${name}' is already protected in checkpoint set '${this.name}'`);
    const bytes = parseSize(size, `size of region '${name}'`);
    if (bytes <= 0) throw new IocError('EINVAL', `region '${name}' needs a size above 0`);
    const slot = this.regions.length + 1;
    if (BigInt(slot) >= SLOTS) throw new IocError('E2BIG', `checkpoint set '${this.name}' holds at most ${SLOTS - 1n} regions`);
    const seq = this.nextSeq;
    const low = objectLow(seq, slot);
    await this.client.create(this.high, low);
    const mapping = await ummap.open(this.high, low, bytes, { server: this.server, segmentSize: this.segmentSize });
    mapping.discardOnRelease();
    const region: Region = { name, size: bytes, slot, mapping, seq };
    this.regions.push(region);
    return { name, size: bytes, get buffer() { return mapping.buffer; } };
  }

  /**
   * Commit every region's content as of this call as `version` (a whole number; the newest
   * commit wins when one is used twice). The calling thread is blocked only while the written
   * pages are taken; the promise resolves once the version is committed at the durability asked
   * (default: the set's). Older versions beyond `keep` are deleted before it resolves.
   * Checkpoints may overlap: they commit in call order.
   *
   * @throws {@link IocError} (rejection) `ESTALE` when the server restarted without --nvdimm
   * during the checkpoint or since the pages it builds on were acknowledged (nothing committed;
   * the pages go with the next checkpoint), `EBUSY` during a restore, the server's errors.
   */
  checkpoint(version: number, opts: CheckpointCallOptions = {}): Promise<CheckpointResult> {
    try {
      this.checkOpen();
      if (!Number.isSafeInteger(version) || version < 0) throw new IocError('EINVAL', `version must be a whole number >= 0 (a safe integer), got ${String(version)}`);
      if (this.regions.length === 0) throw new IocError('EINVAL', `checkpoint set '${this.name}' has no region: protect() one first`);
      if (this.restoring) throw new IocError('EBUSY', `checkpoint ${version} of set '${this.name}' called during a restore`);
    } catch (e) {
      return Promise.reject(e);
    }
    let durability: Durability;
    try {
      durability = checkDurability(opts.durability ?? this.defaultDurability);
    } catch (e) {
      return Promise.reject(e);
    }
    const t0 = performance.now();
    const seq = this.nextSeq++;
    if (seq > MAX_SEQ) return Promise.reject(new IocError('EOVERFLOW', `checkpoint set '${this.name}' ran out of sequence numbers`));
    this.inFlight.add(seq);
    // Every region's pages are taken here, before anything else runs on this thread.
    const jobs = this.regions.map((r) => {
      try {
        const job = r.mapping.checkpointTo({ high: this.high, low: objectLow(seq, r.slot) }, durability === 'store');
        r.seq = seq;
        return job;
      } catch (e) {
        return Promise.reject(e);
      }
    });
    const blockedMs = performance.now() - t0;
    jobs.forEach((j) => j.catch(() => undefined));
    const done = this.tail.then(() => this.commit(seq, version, durability, jobs, t0, blockedMs)).finally(() => this.inFlight.delete(seq));
    this.tail = done.catch(() => undefined);
    return done;
  }

  private async commit(seq: bigint, version: number, durability: Durability, jobs: Promise<{ epoch: string; bytes: number }>[],
    t0: number, blockedMs: number): Promise<CheckpointResult> {
    const what = `checkpoint ${version} of set '${this.name}' (objects ${this.high}:${objectLow(seq, 0)}..)`;
    const settled = await Promise.allSettled(jobs);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) throw this.failed(what, failure.reason);
    const results = settled.map((s) => (s as PromiseFulfilledResult<{ epoch: string; bytes: number }>).value);
    const manifest: Manifest = {
      format: 1,
      set: this.name,
      high: this.high.toString(),
      seq: seq.toString(),
      version,
      committedAt: new Date().toISOString(),
      durability,
      regions: this.regions.map((r, i) => ({ name: r.name, slot: r.slot, size: r.size, epoch: results[i].epoch })),
    };
    const mlow = objectLow(seq, 0);
    try {
      await this.client.write(this.high, mlow, 0, encodeManifest(manifest));
      if (durability === 'store') await this.client.flush(this.high, mlow);
      else if (!(await this.sameEpochs(seq, manifest))) {
        await this.client.delete(this.high, mlow).catch(() => undefined);
        throw new IocError('ESTALE', 'the server restarted without --nvdimm after acknowledging the pages');
      }
    } catch (e) {
      // The manifest may have reached the server before the failure: latest() then decides
      // (it takes the version only if it is whole and its bytes are still held).
      throw this.failed(what, e, 'not committed, unless its manifest reached the server (latest() tells)');
    }
    const durationMs = performance.now() - t0;
    this.durations.push(durationMs);
    if (this.nextSeq === seq + 1n) this.stage(this.nextSeq);
    // Committed: a failure to delete old versions is for the next checkpoint to retry.
    await this.applyRetention().catch((e: Error) => {
      this.lastRetentionError = e;
    });
    return {
      version, seq, durability, durationMs, blockedMs,
      bytesSent: results.reduce((n, r) => n + r.bytes, 0),
      regionBytes: this.regions.reduce((n, r) => n + r.size, 0),
    };
  }

  private failed(what: string, e: unknown, outcome = 'nothing committed'): IocError {
    const err = e as Error & { code?: string; errno?: number };
    return new IocError(iocErrorCode(err?.code), `${what}: ${outcome}: ${err?.message ?? String(e)}`, err?.errno);
  }

  /** Every region's server is still in the epoch its pages were acknowledged in (or durable). */
  private async sameEpochs(seq: bigint, m: Manifest): Promise<boolean> {
    for (const r of m.regions) {
      if (r.epoch === ZERO_EPOCH) continue;
      const low = objectLow(seq, r.slot);
      await this.client.stat(this.high, low);  // a round trip: the client's epoch is then current
      if (this.client.serverEpoch(this.high, low).epoch !== r.epoch) return false;
    }
    return true;
  }

  /** Start the server-side copies that the checkpoint `seq` builds on (in each mapping's turn). */
  private stage(seq: bigint): void {
    this.staging = Promise.all(this.regions.map((r) =>
      r.mapping.stageCheckpoint({ high: this.high, low: objectLow(seq, r.slot) }).catch((e: Error) => {
        this.lastStagingError = e;
      })));
  }

  /**
   * Resolves once the checkpoints called so far are settled and the server-side copies that the
   * next checkpoint builds on are made (they run between checkpoints, while the application
   * computes; a checkpoint called before they are done waits for them). For measurements.
   */
  async idle(): Promise<void> {
    await this.tail;
    await this.staging;
  }

  /** Delete the versions beyond `keep` and the objects of commits that never completed. */
  private async applyRetention(): Promise<void> {
    const bySeq = await this.objectsBySeq();
    const committed = [...bySeq].filter(([, lows]) => lows.some((l) => splitLow(l).slot === 0)).map(([s]) => s).sort((a, b) => (a > b ? -1 : 1));
    const kept = new Set(committed.slice(0, this.keep === Infinity ? undefined : this.keep));
    let floor = this.nextSeq;
    for (const s of this.inFlight) if (s < floor) floor = s;
    const held = new Set(this.regions.map((r) => r.seq));
    for (const [seq, lows] of bySeq) {
      if (seq >= floor || kept.has(seq) || held.has(seq)) continue;
      // The manifest first: the version is invisible from then on.
      lows.sort((a, b) => (a < b ? -1 : 1));
      for (const low of lows) {
        await this.client.delete(this.high, low).catch((e: IocError) => {
          if (e.code !== 'ENOENT' && e.code !== 'EBUSY') throw e;
        });
      }
    }
  }

  private async objectsBySeq(): Promise<Map<bigint, bigint[]>> {
    const bySeq = new Map<bigint, bigint[]>();
    for await (const o of this.client.list({ high: this.high })) {
      const { seq } = splitLow(o.low);
      const lows = bySeq.get(seq) ?? [];
      lows.push(o.low);
      bySeq.set(seq, lows);
    }
    return bySeq;
  }

  /**
   * The newest complete version's number, or undefined when there is none. Complete: its
   * manifest reads back intact, every region object exists, and its bytes are still held: the
   * version was committed to the store, or its server keeps acknowledged writes (--nvdimm), or
   * that server has not restarted since.
   */
  async latest(): Promise<number | undefined> {
    for (const seq of await this.manifestSeqs()) {
      const info = await this.validVersion(seq);
      if (info) return info.version;
    }
    return undefined;
  }

  /** Every complete version, newest first. */
  async versions(): Promise<VersionInfo[]> {
    const out: VersionInfo[] = [];
    for (const seq of await this.manifestSeqs()) {
      const info = await this.validVersion(seq);
      if (info) out.push(info);
    }
    return out;
  }

  private async manifestSeqs(): Promise<bigint[]> {
    this.checkOpen();
    const seqs: bigint[] = [];
    for await (const o of this.client.list({ high: this.high })) {
      const { seq, slot } = splitLow(o.low);
      if (slot === 0 && seq >= 1n) seqs.push(seq);
    }
    return seqs.sort((a, b) => (a > b ? -1 : 1));
  }

  private async validVersion(seq: bigint): Promise<VersionInfo | undefined> {
    const mlow = objectLow(seq, 0);
    let m: Manifest | undefined;
    try {
      const header = await this.client.read(this.high, mlow, 0, MANIFEST_HEADER_BYTES);
      const length = manifestLength(header);
      if (length === undefined) return undefined;
      m = decodeManifest(await this.client.read(this.high, mlow, 0, MANIFEST_HEADER_BYTES + length));
    } catch (e) {
      if ((e as IocError).code === 'ENOENT') return undefined;
      throw e;
    }
    if (!m || m.set !== this.name || m.seq !== seq.toString()) return undefined;
    for (const r of m.regions) {
      const low = objectLow(seq, r.slot);
      let st: ObjectStat;
      try {
        st = await this.client.stat(this.high, low);
      } catch (e) {
        if ((e as IocError).code === 'ENOENT') return undefined;
        throw e;
      }
      if (st.size > r.size) return undefined;
      if (m.durability === 'server' && r.epoch !== ZERO_EPOCH && this.client.serverEpoch(this.high, low).epoch !== r.epoch) return undefined;
    }
    return {
      version: m.version, seq, committedAt: new Date(m.committedAt), durability: m.durability,
      regions: m.regions.map((r) => ({ name: r.name, size: r.size, high: this.high, low: objectLow(seq, r.slot) })),
    };
  }

  /**
   * Bring every protected region back to `version` (the newest complete commit of it). Pages
   * are read back as they are touched. Waits for the checkpoints called before it.
   * @throws {@link IocError} `ENOENT` when no complete version has that number, or it lacks a
   * protected region; `EINVAL` when a region's size differs.
   */
  async restore(version: number): Promise<void> {
    this.checkOpen();
    this.restoring++;
    const run = this.tail.then(() => this.restoreNow(version));
    this.tail = run.catch(() => undefined);
    try {
      await run;
    } finally {
      this.restoring--;
    }
  }

  private async restoreNow(version: number): Promise<void> {
    let info: VersionInfo | undefined;
    for (const seq of await this.manifestSeqs()) {
      const v = await this.validVersion(seq);
      if (v && v.version === version) {
        info = v;
        break;
      }
    }
    if (!info) throw new IocError('ENOENT', `checkpoint set '${this.name}' has no complete version ${version}`);
    const found = info;
    const targets = this.regions.map((r) => {
      const mr = found.regions.find((x) => x.name === r.name);
      if (!mr) throw new IocError('ENOENT', `version ${version} of checkpoint set '${this.name}' has no region '${r.name}'`);
      if (mr.size !== r.size) throw new IocError('EINVAL', `region '${r.name}' is ${r.size} bytes, ${mr.size} in version ${version} of set '${this.name}'`);
      return mr;
    });
    await Promise.all(this.regions.map((r, i) => r.mapping.reloadFrom({ high: this.high, low: targets[i].low })));
    for (const r of this.regions) r.seq = found.seq;
    this.stage(this.nextSeq);
  }

  /**
   * How many seconds to compute between checkpoints for the least expected loss, from the cost
   * of a checkpoint (by default the mean duration of this set's checkpoints) and the mean time
   * between failures (Young's or Daly's formula).
   * @throws {@link IocError} `EINVAL` without a measured or given cost, or for bad values.
   */
  suggestedInterval(opts: IntervalOptions): IntervalAdvice {
    const formula = opts.formula ?? 'daly';
    let cost = opts.costSeconds;
    if (cost === undefined) {
      if (this.durations.length === 0) throw new IocError('EINVAL', 'no checkpoint measured yet: checkpoint once, or pass costSeconds');
      cost = this.durations.reduce((a, b) => a + b, 0) / this.durations.length / 1000;
    }
    return { seconds: optimalInterval(cost, opts.mtbfSeconds, formula), costSeconds: cost, mtbfSeconds: opts.mtbfSeconds, formula };
  }

  /**
   * Wait for the checkpoints under way, release the regions (what was written since the last
   * checkpoint is dropped), delete the objects of commits that never completed, disconnect.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    for (const r of this.regions) await r.mapping.unmap({ sync: false });
    try {
      const bySeq = await this.objectsBySeq();
      for (const [, lows] of bySeq) {
        if (lows.some((l) => splitLow(l).slot === 0)) continue;
        for (const low of lows) await this.client.delete(this.high, low).catch(() => undefined);
      }
    } finally {
      this.client.close();
    }
  }

  /** close(), for `await using ck = await openCheckpoints(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new IocError('EBADF', `checkpoint set '${this.name}' is closed`);
  }
}
