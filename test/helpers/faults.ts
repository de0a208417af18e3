// Fault injection for tests: stop, continue and kill processes, and measure their CPU use.
import * as fs from 'fs';
import { ChildProcess, spawn } from 'child_process';

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

/** Fraction of one core a process used over the next `ms` milliseconds (0.5 = half a core). */
export async function cpuShare(pid: number, ms = 1000): Promise<number> {
  const before = cpuSeconds(pid), start = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return (cpuSeconds(pid) - before) / ((Date.now() - start) / 1000);
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
