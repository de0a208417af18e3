// Starts a throw-away single-node Ceph cluster for tests, from Debian's packages (ceph-mon,
// ceph-osd, ceph-common): one monitor on a random port of 127.0.0.1, one OSD on the memstore
// object store (data in the OSD's memory), auth off, pool size 1, no manager, no systemd, every
// file under one temporary directory. stop() ends both daemons and removes the directory; the
// daemons are also killed if the test process exits.
import { ChildProcess, execFile, spawn, spawnSync } from 'child_process';
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface CephCluster {
  /** ceph.conf of the cluster (give it to --ceph-conf, rados -c, ceph -c). */
  conf: string;
  /** A pool of size 1, created for the tests. */
  pool: string;
  dir: string;
  monPort: number;
  /** Seconds from the first command to the first successful `rados put`. */
  startSeconds: number;
  /** Run the `rados` CLI against the cluster. */
  rados(args: string[], timeoutMs?: number): Promise<string>;
  /** Run the `ceph` CLI against the cluster. */
  ceph(args: string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

const TOOLS = ['ceph-mon', 'ceph-osd', 'ceph', 'rados', 'monmaptool'];

/** Why a cluster cannot be started here (a missing tool), or undefined when it can be tried. */
export function cephUnavailableReason(): string | undefined {
  const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length) return `Ceph tools not installed (${missing.join(', ')}): run scripts/setup.sh (Debian ceph-mon ceph-osd ceph-common)`;
  return undefined;
}

const daemons = new Set<ChildProcess>();
process.on('exit', () => {
  for (const d of daemons) d.kill('SIGKILL');
});

function exec(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

function writeConf(dir: string, fsid: string, monPort: number): string {
  const conf = path.join(dir, 'ceph.conf');
  fs.writeFileSync(conf, `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
osd objectstore = memstore
memstore device bytes = ${3 << 30}
osd max object size = ${1 << 30}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
client mount timeout = 30
# The monitor shuts itself down below 5% free disk by default: a test cluster on a nearly full
# machine would never answer (seen here: the tests then time out at 'ceph osd new').
mon data avail crit = 0
mon data avail warn = 1
run dir = ${dir}/run
crash dir = ${dir}/crash
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
mon data = ${dir}/mon/$name
osd data = ${dir}/osd/$name
keyring = ${dir}/keyring

[client]
# Clients (the servers under test, the CLI) share the name client.admin: no admin sockets.
admin socket =
log file = ${dir}/log/$name.$pid.log
`);
  return conf;
}

function startDaemon(cmd: string, args: string[], logFile: string): { child: ChildProcess; exited: Promise<void> } {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  daemons.add(child);
  const exited = new Promise<void>((resolve) => child.on('exit', () => {
    daemons.delete(child);
    resolve();
  }));
  return { child, exited };
}

async function stopDaemon(d: { child: ChildProcess; exited: Promise<void> } | undefined): Promise<void> {
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGTERM');
  const timer = setTimeout(() => d.child.kill('SIGKILL'), 10000);
  await d.exited;
  clearTimeout(timer);
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function startOnce(pool: string): Promise<CephCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ioc-ceph-'));
  for (const d of ['run', 'log', 'mon', 'osd/osd.0', 'crash']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const monPort = 30000 + Math.floor(Math.random() * 25000);
  const fsid = randomUUID();
  const conf = writeConf(dir, fsid, monPort);
  const ceph = (args: string[], timeoutMs = 30000) => exec('ceph', ['-c', conf, ...args], timeoutMs);
  const rados = (args: string[], timeoutMs = 30000) => exec('rados', ['-c', conf, ...args], timeoutMs);
  let mon: ReturnType<typeof startDaemon> | undefined;
  let osd: ReturnType<typeof startDaemon> | undefined;
  const stop = async () => {
    await stopDaemon(osd);
    await stopDaemon(mon);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const t0 = Date.now();
  try {
    await exec('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, path.join(dir, 'monmap')], 30000);
    await exec('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')], 60000);
    mon = startDaemon('ceph-mon', ['-c', conf, '-i', 'a', '-f'], path.join(dir, 'log', 'mon.out'));
    const osdUuid = randomUUID();
    const id = (await ceph(['osd', 'new', osdUuid], 30000)).trim();
    if (id !== '0') throw new Error(`ceph osd new gave '${id}'`);
    await exec('ceph-osd', ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], 60000);
    osd = startDaemon('ceph-osd', ['-c', conf, '-i', '0', '-f'], path.join(dir, 'log', 'osd.out'));
    await ceph(['osd', 'pool', 'create', pool, '8'], 30000);
    // Ready when an object can be written (`ceph pg`/`ceph df` hang without a manager).
    const probe = path.join(dir, 'probe');
    fs.writeFileSync(probe, 'probe');
    const deadline = Date.now() + 90000;
    for (;;) {
      try {
        await rados(['-p', pool, 'put', 'ioc-probe', probe], 10000);
        await rados(['-p', pool, 'rm', 'ioc-probe'], 10000);
        break;
      } catch (e) {
        if (osd.child.exitCode !== null || mon.child.exitCode !== null || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  } catch (e) {
    const logs = `mon.out:\n${tail(path.join(dir, 'log', 'mon.out'))}\nmon.a.log:\n${tail(path.join(dir, 'log', 'mon.a.log'))}\n` +
      `osd.out:\n${tail(path.join(dir, 'log', 'osd.out'))}\nosd.0.log:\n${tail(path.join(dir, 'log', 'osd.0.log'))}`;
    await stop();
    throw new Error(`${(e as Error).message}\n${logs}`);
  }
  return { conf, pool, dir, monPort, startSeconds: (Date.now() - t0) / 1000, rados, ceph, stop };
}

/** Start a one-monitor, one-OSD (memstore) cluster on 127.0.0.1 with one pool of size 1. */
export async function startCephCluster(opts: { pool?: string } = {}): Promise<CephCluster> {
  let last: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts.pool ?? 'iocatcher');
    } catch (e) {
      last = e as Error;  // most likely the random monitor port was taken: try another
    }
  }
  throw last!;
}
