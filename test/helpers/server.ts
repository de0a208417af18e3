// Starts real iocatcher-server processes (through the CLI in bin/) on 127.0.0.1 for tests,
// and makes sure every process started is stopped.
import { tmpDir } from './tmp';
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { IocClient } from '../../src';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const buildDir = path.join(process.env.IOC_BUILD_DIR ?? path.join(repoRoot, 'build'), 'Release');

export interface ServerHandle {
  host: string;
  port: number;
  /** "127.0.0.1:PORT" */
  address: string;
  store: string;
  /** pid of the native daemon (the process that serves data) */
  pid: number;
  /** Output so far (stdout + stderr). */
  logs(): string;
  /** SIGTERM, wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL the daemon (no clean shutdown) and wait for the wrapper to end. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  store?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  port?: number;
  /** A command the server runs under, e.g. ['prlimit', '--nofile=128:128'] (see faults.ts). */
  runUnder?: string[];
  /** Address to listen on (default 127.0.0.1; the partition tests use 127.0.0.2 and 127.0.0.3). */
  host?: string;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

// Servers running during the current test, or started by it: when the test fails, the tails of
// their logs are printed, so that a CI log says what the servers saw (root hooks: every test).
const watched = new Set<{ port: number; logs: () => string; running: boolean }>();
beforeEach(() => {
  for (const w of watched) if (!w.running) watched.delete(w);
});
afterEach(function () {
  if (this.currentTest?.state !== 'failed') return;
  for (const w of watched) {
    const lines = w.logs().trimEnd().split('\n');
    process.stderr.write(`--- server on port ${w.port}, last ${Math.min(40, lines.length)} log lines\n${lines.slice(-40).join('\n')}\n`);
  }
});

export { tmpDir } from './tmp';

// Below the kernel's ephemeral range (32768-60999 here), where client sockets take their ports.
let portCounter = 20000 + ((process.pid * 7) % 10000);
function nextPort(): number {
  portCounter += 2 + Math.floor(Math.random() * 50) * 2;
  if (portCounter > 32000) portCounter = 20000 + (portCounter % 1000);
  return portCounter;
}

async function startOnce(port: number, opts: StartOptions): Promise<ServerHandle | 'retry'> {
  const store = opts.store ?? tmpDir('ioc-store-');
  const args = [path.join(repoRoot, 'bin', 'iocatcher-server.js'), '--port', String(port), '--store', store,
    ...(opts.args ?? []), opts.host ?? '127.0.0.1'];
  const [cmd, ...cmdArgs] = [...(opts.runUnder ?? []), process.execPath, ...args];
  const child = spawn(cmd, cmdArgs, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    running.delete(child);
    resolve(code);
  }));
  const ready = await new Promise<number | 'exit' | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), 20000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /ready on .* pid=(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    exited.then(() => { clearTimeout(timer); resolve('exit'); });
  });
  if (ready === 'exit' || ready === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    if (/in use|cannot listen|fi_getinfo|fi_endpoint|fi_enable/i.test(out)) return 'retry';
    throw new Error(`server did not start (${ready}):\n${out}`);
  }
  const pid = ready;
  const watch = { port, logs: () => out, running: true };
  watched.add(watch);
  exited.then(() => { watch.running = false; });
  return {
    host: opts.host ?? '127.0.0.1', port, address: `${opts.host ?? '127.0.0.1'}:${port}`, store, pid, exited,
    logs: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => {
        // A daemon stuck in its shutdown must not outlive the test (nor keep mocha's pipes open).
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
        child.kill('SIGKILL');
      }, 15000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill: async () => {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      await exited;
    },
  };
}

/** Start a server on a free port of 127.0.0.1. */
export async function startServer(opts: StartOptions = {}): Promise<ServerHandle> {
  for (let attempt = 0; attempt < 6; attempt++) {
    const r = await startOnce(opts.port ?? nextPort(), opts);
    if (r !== 'retry') return r;
    if (opts.port) break;
  }
  throw new Error('could not start a server: no free port');
}

/** Deterministic pseudo-random bytes for a seed. */
export function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** The servers and clients a describe block's tests start, closed and stopped after each test. */
export interface Tracked {
  servers: ServerHandle[];
  clients: IocClient[];
  /** A client of s, closed after the test. */
  connect(s: ServerHandle): Promise<IocClient>;
  /** Close every client and stop s (no longer tracked), e.g. before starting it again. */
  stopped(s: ServerHandle): Promise<ServerHandle>;
}

/** For a describe block: tracks what its tests start (pushed to servers/clients) and ends it after each test. */
export function tracked(): Tracked {
  const t: Tracked = {
    servers: [],
    clients: [],
    async connect(s) {
      const c = await IocClient.connect(s.host, s.port);
      t.clients.push(c);
      return c;
    },
    async stopped(s) {
      for (const c of t.clients.splice(0)) c.close();
      await s.stop();
      t.servers.splice(t.servers.indexOf(s), 1);
      return s;
    },
  };
  afterEach(async () => {
    for (const c of t.clients.splice(0)) c.close();
    for (const s of t.servers.splice(0)) await s.stop();
  });
  return t;
}

/**
 * For a describe block: start(opts) starts a server plus a client connected to it; both are
 * stopped after each test.
 */
export function serversWithClients(): (opts?: StartOptions) => Promise<{ server: ServerHandle; client: IocClient }> {
  const t = tracked();
  return async (opts: StartOptions = {}) => {
    const server = await startServer(opts);
    t.servers.push(server);
    return { server, client: await t.connect(server) };
  };
}
