// Issue 11, "never hang": nothing a client does (stopping, dying, forging addresses, opening
// too many side channels) may block the server's loop, and SIGTERM always stops it cleanly.
import { strict as assert } from 'assert';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { IocClient, IocError } from '../src';
import { failpoints } from './helpers/failpoints';
import { compileCTest, cpuShare, killProcess, spawnUntilReady, stopProcess } from './helpers/faults';
import { buildDir, repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';

/** Runs call; resolves with its duration in ms, rejects when it takes longer than boundMs. */
async function within(boundMs: number, what: string, call: () => Promise<unknown>): Promise<number> {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${boundMs} ms`)), boundMs);
  });
  try {
    await Promise.race([call(), late]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - start;
}

/** Retries call (every 100 ms) until it resolves; rejects with its last error after boundMs. */
async function eventually<T>(boundMs: number, call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Plain TCP connections to a server's side channel, each resolved once its 19-byte greeting came. */
async function sideChannels(server: ServerHandle, count: number): Promise<Array<{ socket: net.Socket; greeting: Promise<Buffer> }>> {
  return Array.from({ length: count }, () => {
    const socket = net.connect(server.port + 1, server.host);
    socket.on('error', () => { /* refused or reset: seen through the greeting */ });
    const greeting = new Promise<Buffer>((resolve) => {
      let got = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); if (got.length >= 19) resolve(got); });
      socket.on('close', () => resolve(got));
    });
    return { socket, greeting };
  });
}

let loadProgram: string | undefined;
/** test/c/load_loop.c built against the C client library (once per run). */
function loadLoop(): string {
  if (loadProgram) return loadProgram;
  const exe = path.join(tmpDir('ioc-load-'), 'load_loop');
  const cc = spawnSync('cc', ['-std=gnu99', '-Wall', '-Werror', '-pthread', '-o', exe, path.join(repoRoot, 'test', 'c', 'load_loop.c'),
    '-I', path.join(repoRoot, 'include'), '-L', buildDir, '-liocatcher-client', `-Wl,-rpath,${buildDir}`], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  loadProgram = exe;
  return exe;
}

describe('integrity: the server loop never hangs', function () {
  this.timeout(180000);
  const children: ChildProcess[] = [];
  const servers: ServerHandle[] = [];
  const clients: IocClient[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) killProcess(c.pid!);
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.stop();
  });
  async function connect(server: ServerHandle): Promise<IocClient> {
    let client: IocClient | undefined;
    await within(10000, 'connect', async () => { client = await IocClient.connect(server.host, server.port); });
    clients.push(client!);
    return client!;
  }

  it('stopped clients (SIGSTOP, 8 x 8 threads of 32 KiB reads): others are served, CPU idle, SIGTERM works', async () => {
    // Before: the 64 replies in flight to the stopped clients held every send slot, and the
    // loop spun (~95% CPU) waiting for one; no new client was served, even after the kill.
    const server = await startServer({ args: ['--rma-timeout', '3'] });
    servers.push(server);
    const loads = await Promise.all(Array.from({ length: 8 }, () =>
      spawnUntilReady(loadLoop(), [server.host, String(server.port), String(32 * 1024), '8', 'r'], /ready/)));
    for (const l of loads) children.push(l.child);
    for (const l of loads) stopProcess(l.child.pid!);
    const c = await connect(server);
    const data = Buffer.alloc(32 * 1024, 7);
    let slowest = 0, calls = 0;
    // Calls for longer than --rma-timeout, so that the stopped clients' peers are given up meanwhile.
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      slowest = Math.max(slowest, await within(5000, `ping ${calls}`, () => c.ping()));
      slowest = Math.max(slowest, await within(5000, `write ${calls}`, () => c.write(77, 1, 0, data)));
      slowest = Math.max(slowest, await within(5000, `read ${calls}`, () => c.read(77, 1, 0, data.length)));
      calls += 3;
      await new Promise((r) => setTimeout(r, 20));
    }
    const second = await connect(server);
    await within(5000, 'second client ping', () => second.ping());
    const cpu = await cpuShare(server.pid, 1500);
    process.stdout.write(`      ${calls} calls, slowest ${slowest} ms; server CPU ${(cpu * 100).toFixed(1)}% with the clients stopped\n`);
    assert.ok(cpu < 0.3, `server CPU with stopped clients and nothing to do: ${(cpu * 100).toFixed(1)}%`);
    assert.match(server.logs(), /gave up \d+ peer\(s\) that took no message/);
    for (const l of loads) killProcess(l.child.pid!);
    for (let i = 0; i < 5; i++) await within(5000, `ping after the kill ${i}`, () => c.ping());
    const third = await connect(server);
    assert.ok((await third.read(77, 1, 0, data.length)).equals(data));
    for (const x of clients.splice(0)) x.close();
    const start = Date.now();
    const code = await server.stop();
    servers.splice(0);
    assert.equal(code, 0, server.logs());
    assert.ok(Date.now() - start < 10000, `SIGTERM took ${Date.now() - start} ms`);
  });

  it('10 CONNECT_INITs naming dead addresses: a client\'s pings are each answered within 1 s meanwhile', async () => {
    // Before: each such message froze the loop ~2 s (retrying EAGAIN): 10 of them, ~18 s.
    const server = await startServer();
    servers.push(server);
    const c = await connect(server);
    const fuzz = spawn(path.join(buildDir, 'iocatcher-live-fuzz'), ['127.0.0.1', String(server.port), 'case', 'dead-addresses'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(fuzz);
    let out = '';
    fuzz.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    fuzz.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const done = new Promise<number | null>((r) => fuzz.on('exit', (code) => r(code)));
    let finished = false;
    void done.then(() => { finished = true; });
    // Ping all along: while the forged messages are sent and handled, and 3 s after.
    let slowest = 0, pings = 0, sentAt = 0;
    while (!finished || Date.now() - sentAt < 3000) {
      if (!sentAt && /sent=10/.test(out)) sentAt = Date.now();
      if (finished && !sentAt) break;
      slowest = Math.max(slowest, await within(1000, `ping ${pings}`, () => c.ping()));
      pings++;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await done, 0, out);
    assert.match(out, /^sent=10$/m, out);
    assert.match(out, /^alive=1$/m, out);
    process.stdout.write(`      ${pings} pings, slowest ${slowest} ms\n`);
    await within(1000, 'a new client', async () => { clients.push(await IocClient.connect(server.host, server.port)); });
  });

  it('SIGTERM with large RMA writes and reads in flight exits 0, 10 times in a row', async () => {
    // Before: ~4 in 10 such SIGTERMs ended in SIGSEGV in ~Transport after "stopped" (exit 1).
    // The server's failpoint sends it SIGTERM itself once 60 RMA ops were posted: transfers are
    // in flight at that moment, whatever the timing.
    for (let round = 0; round < 10; round++) {
      const server = await startServer({ env: failpoints({ 'server.rma_posted': 'after(60):sigterm' }) });
      servers.push(server);
      const loads = [0, 1, 2].map(() => {
        const child = spawn(loadLoop(), [server.host, String(server.port), String(4 << 20), '4', 'rw'], { stdio: 'ignore' });
        children.push(child);
        return child;
      });
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([server.exited,
        new Promise<string>((r) => { timer = setTimeout(() => r('still running after 30 s'), 30000); })]);
      clearTimeout(timer);
      for (const l of loads) killProcess(l.pid!);
      assert.equal(code, 0, `round ${round}:\n${server.logs()}`);
      assert.match(server.logs(), /received Terminated/);
      assert.doesNotMatch(server.logs(), /signal 11|Backtrace/);
      servers.splice(0);
    }
  });

  it('SIGTERM with RMA transfers that can never complete (a client that does not progress) exits 0, 4 times', async () => {
    // Closing the endpoint with such an operation posted crashed libfabric 1.17 (SIGSEGV in
    // fi_close, 3 of 6 runs): the server now waits at most 2 s, abandons the transfer, and exits
    // without the fabric teardown. Its failpoint sends it SIGTERM once that write's RMA ops are posted.
    for (let round = 0; round < 4; round++) {
      const server = await startServer({ env: failpoints({ 'server.rma_posted': 'after(1):sigterm' }) });
      servers.push(server);
      const start = Date.now();
      const stalled = spawn(path.join(buildDir, 'iocatcher-live-fuzz'), ['127.0.0.1', String(server.port), 'case', 'stalled-write'],
        { stdio: 'ignore' });
      children.push(stalled);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([server.exited,
        new Promise<string>((r) => { timer = setTimeout(() => r('still running after 15 s'), 15000); })]);
      clearTimeout(timer);
      killProcess(stalled.pid!);
      assert.equal(code, 0, `round ${round}:\n${server.logs()}`);
      assert.ok(Date.now() - start < 10000, `request to exit: ${Date.now() - start} ms`);
      assert.match(server.logs(), /received Terminated/);
      assert.match(server.logs(), /1 transfers and .* sends still in flight at shutdown: abandoned/);
      assert.doesNotMatch(server.logs(), /signal 11|Backtrace/);
    }
  });

  it('--max-clients 8: the 9th client is refused at once with a clear error, logged once, no spinning', async () => {
    const server = await startServer({ args: ['--max-clients', '8'] });
    servers.push(server);
    const held = await sideChannels(server, 8);
    const REFUSED = 0xffffffffffffffffn;  // the refusal greeting's id (docs/protocol.md, TCP side channel)
    const ids = new Set<bigint>();
    for (const h of held) {
      const g = await h.greeting;
      assert.equal(g.length, 19);
      assert.notEqual(g.readBigUInt64LE(2), REFUSED, 'a client id');
      ids.add(g.readBigUInt64LE(2));
    }
    assert.deepEqual([...ids].sort(), [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n], 'numbered from 0, as the original does');
    for (let i = 0; i < 3; i++) {
      const took = await within(5000, `refused connect ${i}`, async () => {
        await assert.rejects(IocClient.connect(server.host, server.port), (e: IocError) =>
          e.code === 'EUSERS' && /max-clients/.test(e.message));
      });
      assert.ok(took < 5000);
    }
    const extra = await sideChannels(server, 20);
    for (const x of extra) {
      const g = await x.greeting;
      assert.equal(g.length, 19, 'a refusal greeting, then the close');
      assert.equal(g.readBigUInt64LE(2), REFUSED, 'the refusal id');
      assert.equal(g.readBigUInt64LE(10), 0n, 'key 0');
      assert.equal(g[18], 0, 'no kept connection');
    }
    const cpu = await cpuShare(server.pid, 1000);
    process.stdout.write(`      server CPU while refusing: ${(cpu * 100).toFixed(1)}%\n`);
    assert.ok(cpu < 0.3, `server CPU while refusing: ${(cpu * 100).toFixed(1)}%`);
    assert.equal(server.logs().match(/refusing new clients/g)?.length, 1, server.logs());
    for (const h of held.splice(0, 4)) h.socket.destroy();
    const c = await eventually(5000, () => IocClient.connect(server.host, server.port));
    clients.push(c);
    await c.ping();
    assert.match(server.logs(), /accepting clients again/);
    for (const h of held) h.socket.destroy();
  });

  it('out of descriptors (EMFILE): the accept thread backs off instead of spinning, then serves again', async () => {
    // Before: ~1,008 idle side channels under a 1024 limit left accept() failing at once,
    // again and again (82% CPU). Here the daemon's limit is lowered to reach that quickly.
    const server = await startServer({ args: ['--max-clients', '1000'] });
    servers.push(server);
    const open = fs.readdirSync(`/proc/${server.pid}/fd`).length;
    const limit = open + 24;
    const pr = spawnSync('prlimit', ['--pid', String(server.pid), `--nofile=${limit}:${limit}`], { encoding: 'utf8' });
    assert.equal(pr.status, 0, pr.stderr);
    const held = await sideChannels(server, 40);
    try {
      await eventually(5000, async () => assert.match(server.logs(), /accept: Too many open files/));
      const cpu = await cpuShare(server.pid, 1500);
      process.stdout.write(`      server CPU out of descriptors: ${(cpu * 100).toFixed(1)}%\n`);
      assert.ok(cpu < 0.3, `server CPU out of descriptors: ${(cpu * 100).toFixed(1)}%`);
      assert.equal(server.logs().match(/accept: Too many open files/g)?.length, 1, server.logs());
    } finally {
      for (const h of held) h.socket.destroy();
    }
    const c = await eventually(10000, () => IocClient.connect(server.host, server.port));
    clients.push(c);
    await c.ping();
  });

  it('--no-auth: a killed client\'s write range is released (the side channel is kept for liveness)', async () => {
    const server = await startServer({ args: ['--no-auth'] });
    servers.push(server);
    const holder = await spawnUntilReady(process.execPath, ['-e', `
      const { IocClient } = require(${JSON.stringify(path.resolve(__dirname, '..', 'src'))});
      IocClient.connect('127.0.0.1', ${server.port}).then(async (c) => {
        const id = await c.registerRange(5150, 1, 0, 1 << 20, true);
        console.log('registered ' + id);
        // The client stays reachable: a collected client closes, and its range is released.
        setInterval(() => { void c; }, 1000);
      }).catch((e) => { console.log('failed ' + e.message); process.exit(1); });`], /registered \d+/);
    children.push(holder.child);
    const c = await connect(server);
    await assert.rejects(c.registerRange(5150, 1, 4096, 4096, true), (e: IocError) => e.code === 'EBUSY');
    killProcess(holder.child.pid!);
    const id = await eventually(5000, () => c.registerRange(5150, 1, 4096, 4096, true));
    assert.ok(id >= 1);
  });
  it('16 client processes x 4 connections at once: every one connects, every ping and 4 KiB round trip succeeds', async () => {
    const server = await startServer();
    servers.push(server);
    const exe = compileCTest('many_connections');
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(exe, ['127.0.0.1', String(server.port), '4', '20', String(i + 1)], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      child.on('exit', (code) => resolve({ code, out }));
    })));
    for (const [i, r] of results.entries()) assert.equal(r.code, 0, `process ${i + 1}: ${r.out}`);
    console.log(`      slowest call per process (ms): ${results.map((r) => /worst_call_ms=([\d.]+)/.exec(r.out)?.[1]).join(' ')}`);
  });
});
