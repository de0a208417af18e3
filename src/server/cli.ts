// iocatcher-server: resolves the configuration (command line > IOC_* environment > --config file
// > defaults), runs the native daemon, forwards SIGINT/SIGTERM to it (the daemon flushes dirty data
// and stops), logs through pino and, with --metrics HOST:PORT, serves the daemon's metrics.
import { spawn } from 'child_process';
import * as fs from 'fs';
import type { Server } from 'http';
import * as path from 'path';
import { Duplex } from 'stream';
import { buildAdvice, nativeBuildDir, packageVersion } from '../native';
import { effectiveConfig, resolveServerOptions } from './config';
import { createLogger } from './log';
import { DaemonControl, startMetricsServer } from './metrics';
import { daemonArgs, ServerOptions, USAGE } from './options';

export const daemonPath = (): string => path.join(nativeBuildDir, 'iocatcher-serverd');

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  let opts: ServerOptions;
  let sources: Record<string, string>;
  let warnings: string[];
  try {
    ({ options: opts, sources, warnings } = resolveServerOptions(argv, process.env));
  } catch (e) {
    process.stderr.write(`iocatcher-server: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (opts.version) {
    process.stdout.write(`iocatcher-server ${packageVersion}\n`);
    return;
  }
  const cats = typeof opts.verbose === 'string' && opts.verbose ? opts.verbose.split(',').filter((c) => c) : [];
  const logger = createLogger({ format: opts.logFormat, debug: !!process.env.IOC_DEBUG, debugCategories: cats });
  const bin = daemonPath();
  if (!fs.existsSync(bin)) {
    logger.log('fatal', 'server', `native daemon not built (${bin}); ${buildAdvice()}`);
    process.exit(1);
  }
  for (const w of warnings) logger.log('warn', 'config', w);
  logger.log('info', 'config', 'effective configuration', { config: effectiveConfig(opts), sources });

  let control: DaemonControl | undefined;
  let daemonPid: number | undefined;  // for the metrics endpoint's process metrics of the daemon
  let metricsServer: Server | undefined;
  if (opts.metrics) {
    try {
      metricsServer = await startMetricsServer(opts.metrics, () => control, { daemonPid: () => daemonPid });
    } catch (e) {
      logger.log('fatal', 'metrics', `cannot serve metrics on ${opts.metrics}: ${(e as Error).message}`);
      process.exit(1);
    }
    logger.log('info', 'metrics', `metrics on http://${opts.metrics}/metrics`);
  }

  const json = logger.format === 'json';
  const child = spawn(bin, daemonArgs(opts), {
    // fd 3: the control socket (stats / ls for the metrics endpoint).
    stdio: ['inherit', 'inherit', json ? 'pipe' : 'inherit', opts.metrics ? 'pipe' : 'ignore'],
    env: { ...process.env, IOC_EXIT_WITH_PARENT: '1', ...(opts.metrics ? { IOC_CONTROL_FD: '3' } : {}) },
  });
  daemonPid = child.pid;
  if (daemonPid !== undefined) logger.setDaemonPid(daemonPid);
  if (opts.metrics && child.stdio[3]) control = new DaemonControl(child.stdio[3] as Duplex);
  if (json && child.stderr) {
    let pending = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        logger.daemonLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.on('end', () => {
      if (pending) logger.daemonLine(pending);
    });
  }
  let stopping = false;
  // After SIGINT/SIGTERM the daemon has --shutdown-timeout for the store, plus its own bounded
  // steps (2 s for the transfers in flight): past that and a margin, a daemon that has not been
  // reaped is stuck in a store call that never returns (a thread in uninterruptible sleep keeps
  // even an exited process from being reaped). The wrapper does not wait for it: it says so,
  // sends SIGKILL (effective once the store call returns) and exits 1.
  const shutdownBoundMs = (opts.shutdownTimeout + 2 + SHUTDOWN_MARGIN_S) * 1000;
  let giveUp: NodeJS.Timeout | undefined;
  const forward = (sig: NodeJS.Signals) => () => {
    stopping = true;
    child.kill(sig);
    giveUp ??= setTimeout(() => {
      logger.log('error', 'server', `daemon ${daemonPid} did not exit within ${shutdownBoundMs / 1000} s of ${sig} ` +
        '(a store call never returned; what it could not write is listed above): SIGKILL sent, not waiting for it', { exitCode: 1 });
      child.kill('SIGKILL');
      control?.close();
      metricsServer?.close();
      // Its output so far is read (the pipes stay open while any of its threads lives).
      setTimeout(() => process.exit(1), 200);
    }, shutdownBoundMs);
  };
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('error', (e) => {
    logger.log('fatal', 'server', `cannot start ${bin}: ${e.message}`);
    process.exit(1);
  });
  // 'close': the daemon exited and its stderr is fully read.
  child.on('close', (code, signal) => {
    if (giveUp) clearTimeout(giveUp);
    if (signal) logger.log('error', 'server', `daemon ${bin} ended by ${signal}`);
    // A daemon that fails on its own (bad option, cannot listen, no store) ends the service: fatal.
    else if (code !== 0 && !stopping) logger.log('fatal', 'server', `daemon exited with status ${code}`, { exitCode: code });
    control?.close();
    metricsServer?.close();
    process.exit(code ?? 1);
  });
}

// The margin past the daemon's own bound after which the wrapper stops waiting for it.
const SHUTDOWN_MARGIN_S = 2;

if (require.main === module) void main();
