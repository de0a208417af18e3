// Issue 26: a server killed (SIGKILL) and restarted under a client that keeps calling. The client
// process never dies (before, the retry of an event-loop call created V8 handles with no handle
// scope and Node aborted), every call that fails rejects (TS) or returns (C) with an errno code,
// and the calls resume on the restarted server. Rounds: IOC_DEATH_ROUNDS (default 6; the CI
// extra pass runs 20).
import { strict as assert } from 'assert';
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { compileCTest, startAgain } from './helpers/faults';
import { ServerHandle, startServer, tmpDir } from './helpers/server';

const ROUNDS = Number(process.env.IOC_DEATH_ROUNDS ?? 6);
const fixture = path.join(__dirname, 'server-death-fixture.js');

interface Caller {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startCaller(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Caller {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: tmpDir('ioc-death-'), env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })));
  return { child, out: () => out, err: () => err, exited };
}

// Resolves once the caller printed `resumed` `count` times; rejects if it exits first.
async function resumed(c: Caller, count: number, what: string): Promise<void> {
  const deadline = Date.now() + 60000;
  for (;;) {
    if ((c.out().match(/^resumed$/gm) ?? []).length >= count) return;
    if (c.child.exitCode !== null || c.child.signalCode !== null) {
      throw new Error(`${what}: the caller died (exit ${c.child.exitCode}, signal ${c.child.signalCode}):\n${c.err().slice(-3000)}`);
    }
    if (Date.now() > deadline) throw new Error(`${what}: calls did not resume within 60 s:\n${c.err().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Kill and restart the server ROUNDS times under the caller, then stop it; returns its summary.
async function killUnder(c: Caller, first: ServerHandle): Promise<string> {
  let server = first;
  try {
    c.child.stdin!.write('mark\n');
    await resumed(c, 1, 'before the first kill');
    for (let round = 1; round <= ROUNDS; round++) {
      await server.kill();
      server = await startAgain(server, { args: ['--prefault', 'off'] });
      c.child.stdin!.write('mark\n');
      await resumed(c, round + 1, `round ${round}`);
    }
    c.child.stdin!.write('stop\n');
    const end = await c.exited;
    assert.deepEqual(end, { code: 0, signal: null }, `the caller ended badly:\n${c.err().slice(-3000)}`);
    return c.out().trim().split('\n').pop()!;
  } finally {
    c.child.kill('SIGKILL');
    await server.kill();
  }
}

describe('server killed and restarted under a calling client (issue 26)', function () {
  this.timeout(60000 + ROUNDS * 30000);

  it(`TypeScript client, 3 loops of 4 KiB event-loop calls: ${ROUNDS} kills, every failure has a code, the process lives and resumes`, async () => {
    const server = await startServer({ args: ['--prefault', 'off'] });
    const c = startCaller(process.execPath, [fixture, 'client', String(server.port)]);
    const summary = JSON.parse(await killUnder(c, server));
    assert.deepEqual(summary.uncoded, [], 'every failed call rejected with an errno code');
    for (const code of Object.keys(summary.codes)) assert.match(code, /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|ENOTCONN|EIO)$/);
    assert.ok(summary.ok > ROUNDS * 6, `calls succeeded between the kills: ${JSON.stringify(summary)}`);
  });

  it(`C client, 3 threads of 4 KiB calls: ${ROUNDS} kills, every failure a server-gone errno, resumes`, async () => {
    const exe = compileCTest('call_loops');
    const server = await startServer({ args: ['--prefault', 'off'] });
    const c = startCaller(exe, ['127.0.0.1', String(server.port)]);
    const summary = await killUnder(c, server);
    const m = /^summary ok=(\d+) failed=(\d+) unexpected=(\d+)$/.exec(summary);
    assert.ok(m, summary);
    assert.equal(Number(m[3]), 0, `unexpected results:\n${c.err().slice(-2000)}`);
    assert.ok(Number(m[1]) > ROUNDS * 6, summary);
  });

  it(`ummap: faults and syncs of a mapping whose server is killed ${ROUNDS} times: the process lives, syncs reject with a code, resume`, async () => {
    const server = await startServer({ args: ['--prefault', 'off'] });
    // A fault waits for the server to come back (well within the fault timeout) instead of SIGBUS.
    const c = startCaller(process.execPath, [fixture, 'ummap', String(server.port)], { UMMAP_FAULT_TIMEOUT_MS: '60000' });
    const summary = JSON.parse(await killUnder(c, server));
    assert.deepEqual(summary.uncoded, [], 'every failed sync rejected with an errno code');
    for (const code of Object.keys(summary.codes)) assert.match(code, /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|ENOTCONN|EIO)$/);
  });
});
