// Issue 26: fencing. A server on 127.0.0.2 is cut off with iptables (test/helpers/partition.ts)
// while clients write; a write the client reported failed must never change the object after
// the report, so never overwrite bytes acknowledged after it (README "What an acknowledgement
// means"). Real server processes; every pass/fail check is on data and on the calls' outcomes,
// never on how long something took (the waits only bound how long the test may run).
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { Failpoints, failpoints } from './helpers/failpoints';
import { freePort, scrape } from './helpers/ops';
import { cut, Direction, holdConnections, partitionSupport, PARTITION_HOST, removeAllPartitions, serverSockets } from './helpers/partition';
import { continueProcess, stopProcess } from './helpers/faults';
import { pattern, ServerHandle, startServer } from './helpers/server';

const KiB = 1024;
const MiB = 1024 * KiB;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function storeFile(server: ServerHandle, high: number, low: number): string {
  const hex = (v: number) => BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, '0');
  return path.join(server.store, `${hex(high)}-${hex(low)}`);
}

function countMatches(text: string, re: RegExp): number {
  return [...text.matchAll(new RegExp(re.source, 'g'))].length;
}

async function waitUntil(what: string, ms: number, cond: () => Promise<boolean> | boolean, everyMs = 100): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(everyMs);
  }
}

async function errorCode(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/**
 * Whether the server has surely handled every byte sent to it: no TCP connection of its ports
 * holds unsent or unread bytes (both ends are on this host), and it has no transfer in flight
 * that could still complete; twice in a row, with a metrics scrape (answered by the server's
 * request loop, after the messages it had read) in between.
 */
async function quiescent(port: number, metrics: string): Promise<boolean> {
  for (let i = 0; i < 2; i++) {
    if (serverSockets(port).some((s) => s.tx > 0 || s.rx > 0)) return false;
    const m = await scrape(metrics);
    if ((m.get('ioc_inflight_requests') ?? 0) > 0) return false;
    if (i === 0) await sleep(250);
  }
  return true;
}

/** A write, retried while the server cannot be reached yet (after a partition heals). */
async function writeUntilAcked(client: IocClient, high: number, low: number, offset: number, data: Buffer): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.write(high, low, offset, data);
    } catch (e) {
      if (attempt >= 8) throw e;
      await sleep(300 * attempt);
    }
  }
}

/**
 * Rounds of: W0 acknowledged; W1 of the same range timed out by a partition longer than the
 * client timeout; W2 acknowledged after the partition; once the server has surely dropped or
 * applied W1, the range (and the store after a clean shutdown) must hold W2.
 */
async function partitionRounds(rounds: Array<{ name: string; size: number; offset: number; low: number; inPlace: boolean }>,
  points: Failpoints = {}): Promise<void> {
  const metrics = `127.0.0.1:${await freePort()}`;
  // The RMA of large writes starts 300 ms after the server accepted them: the test cuts the
  // client -> server direction in between (server log line), so that the client's data
  // waits in its kernel and reaches the server only after the partition, past the deadline.
  const server = await startServer({
    host: PARTITION_HOST,
    args: ['--metrics', metrics],
    // IOC_PARTITION_NO_FENCING=1 runs the server without fencing, to see this test catch the bug.
    env: failpoints({ 'server.before_write_rma': 'sleep(300)', ...points, ...noFencing() }),
  });
  const timeoutMs = 1500, partitionMs = 4000;
  const client = await IocClient.connect(PARTITION_HOST, server.port);
  const outcomes: string[] = [];
  try {
    for (const [i, r] of rounds.entries()) {
      const high = 26;
      const w0 = pattern(r.size, 100 + i), w1 = pattern(r.size, 200 + i), w2 = pattern(r.size, 300 + i);
      client.setTimeout(30000);
      assert.equal(await client.write(high, r.low, r.offset, w0), r.size);
      // Clean segments nobody holds: the write goes into the cache in place; else staged.
      if (r.inPlace) await client.flush(high, r.low, 0, 0);
      client.setTimeout(timeoutMs);
      const delayLine = /failpoint server\.before_write_rma \(write of \d+ bytes at \d+\): sleep 300 ms/;
      const delaysBefore = countMatches(server.logs(), delayLine);
      let part;
      let w1call: Promise<number>;
      if (r.size <= 32 * KiB) {
        // Eager: the request itself waits in the client's kernel during the partition.
        part = cut(server.port, 'both');
        w1call = client.write(high, r.low, r.offset, w1);
      } else {
        w1call = client.write(high, r.low, r.offset, w1);
        const w1Outcome = errorCode(w1call);  // observed below; never left unhandled
        await waitUntil('the server accepting W1', 20000, () => countMatches(server.logs(), delayLine) > delaysBefore, 5);
        part = cut(server.port, 'to-server');
        w1call = w1Outcome.then((c) => (c === null ? r.size : Promise.reject(Object.assign(new Error(c), { code: c }))));
      }
      const cutAt = Date.now();
      const w1code = await errorCode(w1call);
      // Keep the partition for its length, longer than the client timeout (not a race: the
      // outcome of W1 is known already).
      await sleep(Math.max(0, cutAt + partitionMs - Date.now()));
      // The partition heals for new connections first: W2 (on a new one, the timed-out call's
      // was dropped) is acknowledged before what the old ones hold (W1) can arrive. Not for an
      // in-place W1: its segments are its own until its RMA ends (W2 waits for that anyway).
      const old = r.inPlace ? undefined : holdConnections(server.port);
      part.heal();
      client.setTimeout(r.inPlace ? 30000 : 5000);
      assert.equal(await writeUntilAcked(client, high, r.low, r.offset, w2), r.size, `${r.name}: W2 acknowledged`);
      old?.heal();
      client.setTimeout(30000);
      // Wait until the server has surely dropped or applied W1: its fencing log line for W1,
      // or nothing left in flight anywhere between client and server.
      const fenceLine = new RegExp(`write of ${r.size} bytes at ${r.offset} of object 1a:${r.low.toString(16)} .*discarded`);
      await waitUntil(`${r.name}: W1 settled`, 60000, async () => fenceLine.test(server.logs()) || quiescent(server.port, metrics), 200);
      const fenced = server.logs().match(fenceLine)?.[0];
      outcomes.push(`${r.name}: W1 ${w1code ?? 'acknowledged'}; ${fenced ? 'server: ' + fenced.replace(/^.*from client \d+ /, '') : 'never reached the server'}`);
      const got = await client.read(high, r.low, r.offset, r.size);
      assert.ok(got.equals(w2), `${r.name}: the range reads back W2 (W1 was ${w1code ?? 'acknowledged'}, ` +
        `${got.equals(w1) ? 'but W1 landed after W2' : 'other bytes'})`);
    }
  } finally {
    removeAllPartitions();
    client.close();
  }
  assert.equal(await server.stop(), 0, 'clean shutdown');
  for (const [i, r] of rounds.entries()) {
    const fd = fs.openSync(storeFile(server, 26, r.low), 'r');
    const b = Buffer.alloc(r.size);
    fs.readSync(fd, b, 0, r.size, r.offset);
    fs.closeSync(fd);
    assert.ok(b.equals(pattern(r.size, 300 + i)), `${r.name}: the store holds W2 after the shutdown`);
  }
  console.log(`      ${outcomes.join('\n      ')}`);
}


/** IOC_PARTITION_NO_FENCING=1: servers without fencing (server.no_fencing), to see the tests catch the bug. */
function noFencing(): Failpoints {
  return process.env.IOC_PARTITION_NO_FENCING === '1' ? { 'server.no_fencing': 'on' } : {};
}

describe('partitions and fencing (issue 26)', function () {
  this.timeout(120000);
  before(function () {
    const why = partitionSupport();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
  });
  afterEach(() => removeAllPartitions());
  after(() => removeAllPartitions());

  it('a write timed out by a partition never overwrites the same range acknowledged after it (eager, staged, in place)', async function () {
    await partitionRounds([
      // 4 KiB: one provider message (larger eager writes go as a rendezvous that the closed
      // connection of the timed-out call can no longer serve), delivered after the partition.
      { name: 'eager 4 KiB', size: 4 * KiB, offset: 4096, low: 1, inPlace: false },
      { name: 'staged 256 KiB', size: 256 * KiB, offset: 12345, low: 2, inPlace: false },
      { name: 'in place 1 MiB', size: MiB, offset: 0, low: 3, inPlace: true },
    ]);
  });

  it('a write whose RMA data arrives after its deadline is discarded on completion (staged, in place)', async function () {
    // server.fence_no_expiry: the server does not answer the request at its deadline, so the
    // late RMA completion itself meets the check before the copy / commit (finishRequest).
    await partitionRounds([
      { name: 'staged 512 KiB', size: 512 * KiB, offset: 777, low: 4, inPlace: false },
      { name: 'in place 2 MiB', size: 2 * MiB, offset: 0, low: 5, inPlace: true },
    ], { 'server.fence_no_expiry': 'on' });
  });

  it('writes held in the stopped server\'s socket buffers past their timeout are refused when it resumes', async function () {
    // No partition: the server is stopped (SIGSTOP), so the requests wait in its kernel's
    // socket buffers; the calls fail with ETIMEDOUT, then the server resumes and reads them.
    const server = await startServer({ host: PARTITION_HOST, env: failpoints(noFencing()) });
    const client = await IocClient.connect(PARTITION_HOST, server.port);
    const cases = [{ low: 1, size: 4 * KiB, offset: 100 }, { low: 2, size: 256 * KiB, offset: 5000 }];
    try {
      // Concurrently: the client then has a connection per call (a new one could not connect to
      // the stopped server, and its write would never be sent).
      for (let k = 0; k < 2; k++) {
        assert.deepEqual(await Promise.all(cases.map((c, i) => client.write(27, c.low, c.offset, pattern(c.size, 10 + i)))),
          cases.map((c) => c.size));
      }
      client.setTimeout(1000);
      stopProcess(server.pid);
      let codes: Array<string | null>;
      try {
        codes = await Promise.all(cases.map((c, i) => errorCode(client.write(27, c.low, c.offset, pattern(c.size, 20 + i)))));
      } finally {
        continueProcess(server.pid);
      }
      assert.deepEqual(codes, ['ETIMEDOUT', 'ETIMEDOUT']);
      client.setTimeout(30000);
      // Settled: the server logged each late write, or has nothing left to read or finish.
      const metricsFree = () => serverSockets(server.port).every((x) => x.tx === 0 && x.rx === 0);
      for (const c of cases) {
        const line = new RegExp(`write of ${c.size} bytes at ${c.offset} of object 1b:${c.low} .*discarded`);
        await waitUntil('the server handling the held writes', 30000, () => line.test(server.logs()) || metricsFree(), 100);
      }
      for (const [i, c] of cases.entries()) {
        const got = await client.read(27, c.low, c.offset, c.size);
        assert.ok(got.equals(pattern(c.size, 10 + i)), `${c.size}-byte write reported ETIMEDOUT changed the object when the server resumed`);
      }
      const lines = server.logs().match(/arrived[^\n]*past its deadline/g) ?? [];
      console.log(`      ${lines.length} late writes refused on arrival (${lines.map((l) => l.replace(/ past.*/, '')).join('; ')})`);
    } finally {
      client.close();
    }
    assert.equal(await server.stop(), 0);
    for (const [i, c] of cases.entries()) {
      const b = fs.readFileSync(storeFile(server, 27, c.low)).subarray(c.offset, c.offset + c.size);
      assert.ok(b.equals(pattern(c.size, 10 + i)), 'the store holds the acknowledged bytes');
    }
  });

  it('the long randomized checker (IOC_LONG_FAULTS=1)', async function () {
    if (process.env.IOC_LONG_FAULTS !== '1') {
      console.log('      skipped: set IOC_LONG_FAULTS=1 (scripts/ci-extra.sh does)');
      this.skip();
    }
    const rounds = Number(process.env.IOC_LONG_FAULTS_ROUNDS ?? 30);
    this.timeout(rounds * 120000 + 60000);
    await longChecker(rounds, Number(process.env.IOC_LONG_FAULTS_SEED ?? Date.now() % 100000));
  });
});

// ---- the long randomized checker -------------------------------------------------------------

const OBJECTS = 3, OBJECT_WORDS = (4 * MiB) / 8;

interface WriteRec {
  id: number;        // unique, > 0; stamped in every word it writes
  writer: number;    // 1 or 2
  low: number;
  word: number;      // first word
  words: number;
  start: number;     // performance.now() when the call started
  end: number;       // when its outcome was reported
  acked: boolean;
  code: string | null;
}

/** A write's bytes: each 8-byte word = writer << 48 | id (the content names its write). */
function stamp(w: WriteRec): Buffer {
  const b = Buffer.alloc(w.words * 8);
  const v = (BigInt(w.writer) << 48n) | BigInt(w.id);
  for (let i = 0; i < w.words; i++) b.writeBigUInt64LE(v, i * 8);
  return b;
}

function rng(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

/**
 * Checks one object's content against the history. For each word, the write whose id it holds
 * (0: none) must be allowed: a write x (acknowledged, or reported failed) may be there only if
 * no acknowledged write covering the word started after x's outcome was reported (a failed write
 * that changed the word after its report, or an older write that landed over a later
 * acknowledged one, both break this); zeros only where no acknowledged write covers the word.
 * Returns the violations (at most a few, described).
 */
function checkObject(content: Buffer, low: number, history: WriteRec[], where: string): string[] {
  const byId = new Map<number, WriteRec>();
  for (const w of history) byId.set(w.id, w);
  // For each word, the latest start of an acknowledged write covering it.
  const latestAckedStart = new Float64Array(OBJECT_WORDS).fill(-1);
  for (const w of history) {
    if (w.low !== low || !w.acked) continue;
    for (let i = w.word; i < w.word + w.words; i++) latestAckedStart[i] = Math.max(latestAckedStart[i], w.start);
  }
  const bad: string[] = [];
  for (let i = 0; i < OBJECT_WORDS && bad.length < 5; i++) {
    const v = content.length >= (i + 1) * 8 ? content.readBigUInt64LE(i * 8) : 0n;
    if (v === 0n) {
      if (latestAckedStart[i] >= 0) bad.push(`${where}: object ${low} word ${i} is zero, but acknowledged writes covered it`);
      continue;
    }
    const id = Number(v & 0xffffffffffffn), writer = Number(v >> 48n);
    const w = byId.get(id);
    if (!w || w.writer !== writer || w.low !== low || i < w.word || i >= w.word + w.words) {
      bad.push(`${where}: object ${low} word ${i} holds ${v.toString(16)}, written by no write of that range`);
      continue;
    }
    if (latestAckedStart[i] > w.end) {
      const later = history.find((x) => x.acked && x.low === low && x.start === latestAckedStart[i]);
      bad.push(`${where}: object ${low} word ${i} holds write ${id} (${w.acked ? 'acknowledged' : 'reported ' + w.code}), ` +
        `but write ${later?.id} covering it was acknowledged and started ${(latestAckedStart[i] - w.end).toFixed(0)} ms after that outcome`);
    }
  }
  return bad;
}

async function longChecker(rounds: number, seed: number): Promise<void> {
  const rand = rng(seed);
  const metrics = `127.0.0.1:${await freePort()}`;
  const server = await startServer({ host: PARTITION_HOST, args: ['--metrics', metrics], env: failpoints(noFencing()) });
  const clients = [await IocClient.connect(PARTITION_HOST, server.port), await IocClient.connect(PARTITION_HOST, server.port)];
  const history: WriteRec[] = [];
  const lastRead = new Map<number, Buffer>();
  let nextId = 1;
  const stats = { acked: 0, failed: 0, codes: new Map<string, number>(), partitions: [] as string[], violations: [] as string[] };
  const t0 = performance.now();
  try {
    for (let round = 1; round <= rounds; round++) {
      const partitionMs = 1000 + Math.floor(rand() * 29000);
      const timeoutMs = Math.max(500, Math.floor(partitionMs * (0.3 + rand() * 1.2)));
      const direction: Direction = (['both', 'to-server', 'from-server'] as const)[Math.floor(rand() * 3)];
      for (const c of clients) c.setTimeout(timeoutMs);
      let stop = false;
      const writer = async (k: number) => {
        const client = clients[k];
        const r = rng(seed * 31 + round * 7 + k);
        while (!stop) {
          const bytes = 4 * KiB + Math.floor(r() * (MiB - 4 * KiB));
          const words = Math.max(1, Math.floor(bytes / 8));
          const w: WriteRec = {
            id: nextId++, writer: k + 1, low: 1 + Math.floor(r() * OBJECTS), word: Math.floor(r() * (OBJECT_WORDS - words)),
            words, start: performance.now(), end: 0, acked: false, code: null,
          };
          history.push(w);
          try {
            await client.write(264, w.low, w.word * 8, stamp(w));
            w.acked = true;
            stats.acked++;
          } catch (e) {
            w.code = (e as NodeJS.ErrnoException).code ?? 'error';
            stats.failed++;
            stats.codes.set(w.code, (stats.codes.get(w.code) ?? 0) + 1);
            await sleep(50);  // a failed connect backs off anyway
          }
          w.end = performance.now();
        }
      };
      const writers = [writer(0), writer(1)];
      await sleep(200 + rand() * 800);
      const part = cut(server.port, direction);
      await sleep(partitionMs);
      part.heal();
      await sleep(1000 + rand() * 2000);  // writes go on after the partition
      stop = true;
      await Promise.all(writers);
      for (const c of clients) c.setTimeout(30000);
      // Everything sent has been handled (see quiescent) before reading back.
      await waitUntil(`round ${round}: server quiescent`, 120000, () => quiescent(server.port, metrics), 250);
      for (let low = 1; low <= OBJECTS; low++) {
        let content: Buffer | undefined;
        for (let attempt = 1; !content; attempt++) {
          try {
            content = await clients[0].read(264, low, 0, OBJECT_WORDS * 8);
          } catch (e) {
            if (attempt >= 10) throw e;
            await sleep(500);
          }
        }
        stats.violations.push(...checkObject(content, low, history, `round ${round}`));
        lastRead.set(low, content);
      }
      stats.partitions.push(`${(partitionMs / 1000).toFixed(1)}s/${direction}/timeout ${(timeoutMs / 1000).toFixed(1)}s`);
    }
  } finally {
    removeAllPartitions();
    for (const c of clients) c.close();
  }
  const code = await server.stop();
  for (let low = 1; low <= OBJECTS; low++) {
    const file = storeFile(server, 264, low);
    const content = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    stats.violations.push(...checkObject(content, low, history, 'store after shutdown'));
    // The store holds what the server served last (the model after the last round), zeros past the file's end.
    const served = lastRead.get(low) ?? Buffer.alloc(0);
    const stored = Buffer.concat([content, Buffer.alloc(Math.max(0, served.length - content.length))]).subarray(0, served.length);
    if (!stored.equals(served) || content.subarray(served.length).some((b) => b !== 0))
      stats.violations.push(`store after shutdown: object ${low} differs from the last read-back`);
  }
  const fenced = countMatches(server.logs(), /\[iocatcher \S+ warn fence\]/);
  console.log(`      long checker (seed ${seed}): ${rounds} rounds in ` +
    `${((performance.now() - t0) / 1000).toFixed(0)} s, partitions ${stats.partitions.join(', ')}`);
  console.log(`      writes: ${stats.acked} acknowledged, ${stats.failed} failed (${[...stats.codes].map(([c, n]) => `${c} ${n}`).join(', ')}); ` +
    `server fenced ${fenced}; violations ${stats.violations.length}`);
  for (const v of stats.violations.slice(0, 10)) console.log(`      ${v}`);
  assert.equal(code, 0, 'clean shutdown');
  assert.deepEqual(stats.violations, []);
}
