// iocatcher-server: validates the command line, then runs the native daemon and forwards
// SIGINT/SIGTERM to it (the daemon flushes dirty data and stops).
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { nativeBuildDir } from '../native';
import { daemonArgs, parseServerArgs, USAGE } from './options';

export const daemonPath = (): string => path.join(nativeBuildDir, 'iocatcher-serverd');

export function main(argv: string[] = process.argv.slice(2)): void {
  let opts;
  try {
    opts = parseServerArgs(argv);
  } catch (e) {
    process.stderr.write(`iocatcher-server: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return;
  }
  const bin = daemonPath();
  if (!fs.existsSync(bin)) {
    process.stderr.write(`iocatcher-server: native daemon not built (${bin}); run: npm run build\n`);
    process.exit(1);
  }
  const child = spawn(bin, daemonArgs(opts), {
    stdio: 'inherit',
    env: { ...process.env, IOC_EXIT_WITH_PARENT: '1' },
  });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('error', (e) => {
    process.stderr.write(`iocatcher-server: cannot start ${bin}: ${e.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) process.stderr.write(`iocatcher-server: daemon ended by ${signal}\n`);
    process.exit(code ?? 1);
  });
}

if (require.main === module) main();
