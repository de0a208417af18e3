// Logging of iocatcher-server (pino). Two outputs on stderr:
//   text (default): `[iocatcher TIME LEVEL CATEGORY] message`, the daemon's own format, so that
//                   the wrapper's records and the daemon's lines read alike; TIME is ISO-8601 in
//                   UTC to the millisecond (2026-12-07T03:12:45.123Z);
//   json:           one pino record per line, with `category`; the daemon's lines are parsed and
//                   re-emitted as records (level and category kept).
// Levels: info by default; debug with IOC_DEBUG=1 or for the categories of -v=CATS.
import pino from 'pino';

export type LogFormat = 'text' | 'json';

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const BASE_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'category', 'daemonPid']);

/** The daemon's text line format (native/server/log.cc). */
const DAEMON_LINE = /^\[iocatcher (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (error|warn|info|debug) ([^\]]+)\] (.*)$/;

export interface DaemonLine {
  level: 'error' | 'warn' | 'info' | 'debug';
  category: string;
  msg: string;
  /** The daemon's timestamp, milliseconds since the epoch. */
  time?: number;
}

/** Lines the daemon writes before its logger runs or when it gives up ("iocatcher-serverd: invalid
 *  --port", "iocatcher-server: cannot listen ..."): errors, whatever their format. */
const DAEMON_FAILURE = /^iocatcher-server(d)?: /;

/**
 * Parses one stderr line of the daemon. Lines in another format are of category 'daemon': errors
 * when the daemon names itself (its fatal startup messages), else warnings (libfabric's, ...).
 */
export function parseDaemonLine(line: string): DaemonLine {
  const m = DAEMON_LINE.exec(line);
  if (!m) return { level: DAEMON_FAILURE.test(line) ? 'error' : 'warn', category: 'daemon', msg: line };
  return { level: m[2] as DaemonLine['level'], category: m[3], msg: m[4], time: Date.parse(m[1]) };
}

function textLine(record: Record<string, unknown>): string {
  const t = typeof record.time === 'number' ? record.time : Date.now();
  const level = LEVEL_NAMES[record.level as number] ?? String(record.level);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) if (!BASE_FIELDS.has(k)) extra[k] = v;
  const tail = Object.keys(extra).length ? ` ${JSON.stringify(extra)}` : '';
  return `[iocatcher ${new Date(t).toISOString()} ${level} ${record.category ?? 'server'}] ${record.msg ?? ''}${tail}\n`;
}

export interface LoggerOptions {
  format?: LogFormat;
  /** Debug records for every category. */
  debug?: boolean;
  /** Debug records for these categories only ("all": every one). */
  debugCategories?: string[];
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
}

/** Levels of the wrapper's own records: the daemon's, and fatal (60) for a daemon that could not start. */
export type LogLevel = DaemonLine['level'] | 'fatal';

export interface Logger {
  readonly format: LogFormat;
  readonly pino: pino.Logger;
  log(level: LogLevel, category: string, msg: string, fields?: Record<string, unknown>): void;
  /** Every record from now on carries `daemonPid` (pid is the wrapper's, which pino sets). */
  setDaemonPid(pid: number): void;
  /** Re-emits a daemon stderr line (json format; the text format passes lines through as they are). */
  daemonLine(line: string): void;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? 'text';
  const write = opts.write ?? ((s: string) => { process.stderr.write(s); });
  const cats = new Set(opts.debugCategories ?? []);
  const debugAll = !!opts.debug || cats.has('all');
  const stream = {
    write(s: string) {
      if (format === 'json') return write(s.endsWith('\n') ? s : `${s}\n`);
      try {
        write(textLine(JSON.parse(s)));
      } catch {
        write(s);
      }
    },
  };
  const p = pino({ level: 'debug', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.epochTime }, stream);
  const enabled = (level: string, category: string) => level !== 'debug' || debugAll || cats.has(category);
  let daemonPid: number | undefined;
  const withPid = (fields: Record<string, unknown>) => (daemonPid === undefined ? fields : { ...fields, daemonPid });
  return {
    format,
    pino: p,
    log(level, category, msg, fields = {}) {
      if (!enabled(level, category)) return;
      p[level](withPid({ category, ...fields }), msg);
    },
    setDaemonPid(pid: number) {
      daemonPid = pid;
    },
    daemonLine(line: string) {
      if (format === 'text') return write(`${line}\n`);
      const d = parseDaemonLine(line);
      // The daemon already filtered by level and category: keep everything it wrote.
      const fields: Record<string, unknown> = { category: d.category, source: 'daemon' };
      if (d.time !== undefined) fields.daemonTime = d.time;
      p[d.level](withPid(fields), d.msg);
    },
  };
}
