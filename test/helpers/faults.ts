// Fault injection shared by the integrity tests: bounded waits, waiting for a server's log to
// say a test hook fired. The faults themselves are server/client test hooks (IOC_TEST_*
// environment variables, documented where they are read) and real signals to real processes.
import { ServerHandle } from './server';

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
