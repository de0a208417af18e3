// The object namespace: a listing of many stored objects beside `ls -f` of the store directory
// (with the lister's and the server's peak memory), stat beside ping, and `iocatcher get`/`put`
// of 1 GiB beside the C client's read and write of the same object; each in the same run.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { IocClient } from '../src';
import { packageRoot } from '../src/native';
import { cClient, GiB, infoRow, log, MiB, num, pairedRow, Server, withServer } from './common';

const GROUP = 'object namespace';

/** Peak resident memory of a process (VmHWM), in MiB. */
function peakRssMiB(pid: number | 'self'): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** n stored objects as the directory store names them (HIGH-LOW, 16 hex digits each), 4 KiB each. */
function fillStore(store: string, n: number): void {
  const bytes = Buffer.alloc(4096, 7);
  for (let i = 0; i < n; i++)
    fs.writeFileSync(path.join(store, `${(0x180).toString(16).padStart(16, '0')}-${i.toString(16).padStart(16, '0')}`), bytes);
}

/** The listing in a process of its own (so that its peak memory is the lister's): objects, seconds, peak MiB. */
function listInChild(port: number): { count: number; seconds: number; rssMiB: number } {
  const script = `
    const { IocClient } = require(${JSON.stringify(path.join(packageRoot, 'dist', 'src'))});
    (async () => {
      const client = await IocClient.connect('127.0.0.1', ${port});
      const t0 = process.hrtime.bigint();
      let count = 0;
      for await (const o of client.list({ pageSize: 4096 })) count++;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      client.close();
      const m = /VmHWM:\\s+(\\d+) kB/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'));
      console.log(JSON.stringify({ count, seconds, rssMiB: Number(m[1]) / 1024 }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 600000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

async function opsPerSecond(fn: () => Promise<unknown>, seconds: number): Promise<number> {
  for (let i = 0; i < 50; i++) await fn();  // warm
  let n = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = process.hrtime.bigint();
  while (Date.now() < end) {
    await fn();
    n++;
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export async function runNamespace(quick: boolean): Promise<void> {
  const n = quick ? 20000 : 100000;
  const reps = quick ? 1 : 3;
  const of = reps > 1 ? `; median of ${reps}, ratio: median of the pairs` : '';

  // Listing: the store holds n objects (written as files before the server starts).
  const listed: number[] = [], lsRate: number[] = [];
  let clientRss = 0, serverRss = 0;
  for (let i = 0; i < reps; i++) {
    log(`${GROUP}: list ${n} stored objects beside ls -f of the store directory (${i + 1}/${reps})`);
    await withServer(async (s: Server) => {
      const t0 = process.hrtime.bigint();
      const lines = execFileSync('ls', ['-f', s.store], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').filter((l) => /^[0-9a-f]{16}-/.test(l)).length;
      lsRate.push(lines / (Number(process.hrtime.bigint() - t0) / 1e9));
      const r = listInChild(s.port);
      if (r.count !== n) throw new Error(`the listing gave ${r.count} objects, the store holds ${n}`);
      listed.push(r.count / r.seconds);
      clientRss = Math.max(clientRss, r.rssMiB);
      serverRss = Math.max(serverRss, peakRssMiB(s.pid));
    }, { args: (store) => { fillStore(store, n); return ['--cache-size', '256MB']; } });
  }
  pairedRow(GROUP, `client.list() of ${n} stored objects (objects/s, a page at a time${of})`, listed, lsRate, 'objects/s',
    `ls -f of the store directory (${n} files)`, 0.3);
  infoRow(GROUP, `peak RSS of the listing process (node, ${n} objects)`, clientRss, 'MiB');
  infoRow(GROUP, `peak RSS of the server (256 MiB cache, after listing ${n} objects)`, serverRss, 'MiB');

  // stat beside ping, on one cached object.
  const stat: number[] = [], ping: number[] = [];
  const secs = quick ? 0.5 : 1.5;
  for (let i = 0; i < reps; i++) {
    log(`${GROUP}: stat ops/s beside ping ops/s, TS client (${i + 1}/${reps})`);
    await withServer(async (s) => {
      const client = await IocClient.connect('127.0.0.1', s.port);
      try {
        await client.write(0x181, 1, 0, Buffer.alloc(4096, 1));
        ping.push(await opsPerSecond(() => client.ping(), secs));
        stat.push(await opsPerSecond(() => client.stat(0x181, 1), secs));
      } finally {
        client.close();
      }
    });
  }
  pairedRow(GROUP, `TS client stat of a cached object (ops/s${of})`, stat, ping, 'ops/s', 'TS client ping, same server', 0.8);

  // get / put of 1 GiB beside the C client's read / write of the same object. Both sides are
  // timed from process start to exit (a program that moves the bytes, connection included).
  // get's main row writes into a tmpfs file, memory as the C client's reads fill memory; the
  // same get into a file on the store's disk is shown beside dd of as many bytes there.
  const size = quick ? 256 * MiB : GiB;
  const label = quick ? '256 MiB' : '1 GiB';
  const put: number[] = [], cWrite: number[] = [], get: number[] = [], cRead: number[] = [], getDisk: number[] = [], dd: number[] = [];
  const admin = path.join(packageRoot, 'bin', 'iocatcher.js');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ioc-bench-ns-'));
  const memDir = fs.existsSync('/dev/shm') && fs.statfsSync('/dev/shm').bavail * fs.statfsSync('/dev/shm').bsize > 2 * size
    ? fs.mkdtempSync('/dev/shm/ioc-bench-ns-') : tmp;
  const memLabel = memDir === tmp ? 'a file' : 'a tmpfs file';
  const src = path.join(tmp, 'in');
  execFileSync('dd', ['if=/dev/urandom', `of=${src}`, 'bs=1M', `count=${size / MiB}`, 'status=none']);
  const rate = (t0: bigint) => size / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e9;
  try {
    for (let i = 0; i < reps; i++) {
      log(`${GROUP}: iocatcher put/get of ${label} beside the C client's write/read of the same object (${i + 1}/${reps})`);
      await withServer(async (s) => {
        const server = `127.0.0.1:${s.port}`;
        const cmd = (args: string[]) => {
          const t0 = process.hrtime.bigint();
          const r = spawnSync(process.execPath, [admin, ...args, '--server', server], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`iocatcher ${args[0]}: ${r.stderr}`);
          return rate(t0);
        };
        const c = async (args: string[]) => {
          const t0 = process.hrtime.bigint();
          await cClient(s.port, args);
          return rate(t0);
        };
        // put flushes to the store at its end: beside the C client's write + flush of the same bytes.
        cWrite.push(await c(['--mode', 'checkpoint', '--size', String(8 * MiB), '--total', String(size), '--object', '0x182:1']));
        put.push(cmd(['put', src, '0x182:1']));
        cRead.push(await c(['--mode', 'read', '--size', String(8 * MiB), '--count', String(size / (8 * MiB)), '--sweep',
          '--total', String(size), '--object', '0x182:1']));
        get.push(cmd(['get', '0x182:1', path.join(memDir, 'out')]));
        fs.rmSync(path.join(memDir, 'out'));
        const t0 = process.hrtime.bigint();
        execFileSync('dd', ['if=/dev/zero', `of=${path.join(tmp, 'dd')}`, 'bs=16M', `count=${size / (16 * MiB)}`, 'status=none']);
        dd.push(rate(t0));
        fs.rmSync(path.join(tmp, 'dd'));
        getDisk.push(cmd(['get', '0x182:1', path.join(tmp, 'out')]));
        fs.rmSync(path.join(tmp, 'out'));
      });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (memDir !== tmp) fs.rmSync(memDir, { recursive: true, force: true });
  }
  pairedRow(GROUP, `iocatcher put of a ${label} file (process start to exit, store flush included${of})`, put, cWrite, 'GB/s',
    `C client 8 MiB writes of the same object + flush (process start to exit), same server`, 0.8);
  pairedRow(GROUP, `iocatcher get of a ${label} object into ${memLabel} (process start to exit${of})`, get, cRead, 'GB/s',
    `C client 8 MiB reads of the same object into memory (process start to exit), same server`, 0.8);
  pairedRow(GROUP, `iocatcher get of a ${label} object into a file on the store's disk (process start to exit${of})`, getDisk, dd, 'GB/s',
    `dd of ${label} from /dev/zero into a file there (16 MiB blocks)`);
}
