// Runs a program to completion; a failure's message carries the command and the tails of its
// stdout and stderr, so a CI log shows why a child failed, not only that it did.
import { execFile, ExecFileOptions } from 'child_process';

export interface RunResult { stdout: string; stderr: string }
/** The error of a failed run: exit code (or signal) and the whole output. */
export interface RunError extends Error { code: number | string | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

const tail = (s: string, n = 2000) => (s.length > n ? `...${s.slice(-n)}` : s);

export function run(file: string, args: string[] = [], opts: ExecFileOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 1 << 26, ...opts, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      const e = err as unknown as RunError;
      const how = e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
      e.message = `${[file, ...args].join(' ')} failed (${how})\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`;
      e.stdout = stdout;
      e.stderr = stderr;
      reject(e);
    });
  });
}
