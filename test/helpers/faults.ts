// Fault injection shared by tests: each helper is self-contained and stops what it starts.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { buildDir, repoRoot, ServerHandle, startServer, StartOptions, tmpDir } from './server';

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
  const cc = spawnSync('cc', ['-std=c99', '-Wall', '-Werror', '-o', exe, path.join(repoRoot, 'test', 'c', `${name}.c`),
    '-I', path.join(repoRoot, 'include'), '-L', buildDir, '-liocatcher-client', `-Wl,-rpath,${buildDir}`], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc ${name}.c failed:\n${cc.stderr}`);
  return exe;
}
