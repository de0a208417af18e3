// Fault injection shared by the integrity tests: bounded waits, waiting for a server's log to
// say a test hook fired, resource limits, small file systems, descriptor counts. The faults
// themselves are failpoints of the test build (./failpoints.ts, native/common/failpoint_list.h)
// and real signals to real processes.
import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { failpoints } from './failpoints';
import { buildDir, repoRoot, ServerHandle, startServer, StartOptions, tmpDir } from './server';

/** Resolve with p's value, or fail naming `what` when p has not settled within ms. */
export async function withBound<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Wait until cond() holds (polled every 20 ms), or fail naming `what` after ms. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wait until the server's log matches re (polling its output); returns the last match. */
export async function waitForLog(server: ServerHandle, re: RegExp, ms: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  const global = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
  for (;;) {
    const all = [...server.logs().matchAll(global)];
    if (all.length) return all[all.length - 1];
    if (Date.now() > deadline) throw new Error(`the server never logged ${re}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Environment for a server that SIGKILLs itself when write k+1 is committed, before its ack: a
 * writer that waits for each ack (a mapping's write-back) had exactly k writes acknowledged
 * (failpoint server.write_committed, evaluated in native/server/metrics.cc).
 */
export function killAfterWrites(k: number): NodeJS.ProcessEnv {
  return failpoints({ 'server.write_committed': `after(${k + 1}):kill` });
}

/** The server's log line of killAfterWrites(k) firing. */
export function killedAfterWritesLine(k: number): RegExp {
  return new RegExp(`failpoint server\\.write_committed: SIGKILL at evaluation ${k + 1}\\b`);
}

/**
 * Start a server again on the port and store of one that has ended (or been killed). The
 * killed process's sockets may hold the port for a moment (its clients still have their ends
 * open): tries for up to 10 s.
 */
export async function startAgain(server: ServerHandle, opts: StartOptions = {}): Promise<ServerHandle> {
  await server.exited;
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      return await startServer({ ...opts, port: server.port, store: server.store });
    } catch (e) {
      if (!/no free port/.test((e as Error).message) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Stop a server (SIGTERM) and start a new one on the same port and store, as an operator
 * restarting the daemon would: clients keep their pooled connections to the old process.
 */
export async function restartServer(server: ServerHandle, opts: StartOptions = {}): Promise<ServerHandle> {
  await server.stop();
  return startServer({ ...opts, port: server.port, store: server.store });
}

/** Compile test/c/NAME.c against the client library; returns the executable's path. */
export function compileCTest(name: string): string {
  const exe = path.join(tmpDir('ioc-c-'), name);
  const cc = spawnSync('cc', ['-std=gnu99', '-Wall', '-Werror', '-pthread', '-o', exe, path.join(repoRoot, 'test', 'c', `${name}.c`),
    '-I', path.join(repoRoot, 'include'), '-L', buildDir, '-liocatcher-client', `-Wl,-rpath,${buildDir}`], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc ${name}.c failed:\n${cc.stderr}`);
  return exe;
}

/** SIGSTOP a process (it stays stopped until continueProcess or a kill). */
export function stopProcess(pid: number): void {
  process.kill(pid, 'SIGSTOP');
}

/** SIGCONT a stopped process. */
export function continueProcess(pid: number): void {
  process.kill(pid, 'SIGCONT');
}

/** SIGKILL a process, ignoring one that is already gone. */
export function killProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch { /* already gone */ }
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), counted from field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]), stime = Number(fields[12]);
  return (utime + stime) / 100;  // USER_HZ is 100 on Linux
}

/** CPU seconds of a process's threads, leaving out those named `except` (by /proc comm). */
function threadCpuSeconds(pid: number, except: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue;  // the thread ended meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (except.includes(comm)) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(tid, (Number(fields[11]) + Number(fields[12])) / 100);
  }
  return out;
}

/**
 * Fraction of one core a server process used over the next `ms` milliseconds (0.5 = half a
 * core), by its threads other than `ioc-prefault`: that thread faults the cache memory in after
 * the start, at idle priority (1 GiB took from 0.2 s to over 5 s on the test VM), which is not
 * the spinning these measurements look for.
 */
export async function cpuShare(pid: number, ms = 1000, except: string[] = ['ioc-prefault']): Promise<number> {
  const before = threadCpuSeconds(pid, except), start = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  const after = threadCpuSeconds(pid, except);
  let used = 0;
  for (const [tid, secs] of after) used += secs - (before.get(tid) ?? 0);
  return used / ((Date.now() - start) / 1000);
}

/**
 * Spawn a child process and resolve once it printed `readyLine` on stdout (rejects when it exits
 * first or after timeoutMs). Its output so far is in the returned `output()`.
 */
export async function spawnUntilReady(cmd: string, args: string[], readyLine: RegExp, timeoutMs = 30000,
  env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} not ready within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.stdout!.on('data', () => {
      if (readyLine.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code ?? signal}) before it was ready:\n${out}`));
    });
  });
  return { child, output: () => out };
}

/** Prefix for StartOptions.runUnder: the server runs with at most `n` file descriptors (soft = hard). */
export function fileLimit(n: number): string[] {
  return ['prlimit', `--nofile=${n}:${n}`];
}

/** Number of file descriptors a process has open now (from /proc/PID/fd). */
export function openFdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * Mount a tmpfs of `sizeMiB` on a new temporary directory (needs root). Resolves with the
 * directory and an unmount function, or with a `skip` reason when mounting is refused here.
 */
export function mountSmallTmpfs(sizeMiB: number): { dir: string; unmount: () => void } | { skip: string } {
  const dir = tmpDir('ioc-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    return { skip: `cannot mount a tmpfs on ${dir}: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}` };
  }
  let mounted = true;
  return {
    dir,
    unmount: () => {
      if (!mounted) return;
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      mounted = false;
    },
  };
}
