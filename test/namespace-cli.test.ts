// The object namespace from the admin command (real processes, real servers): put and get of a
// 300 MiB object through pipes, byte for byte; ls of stored objects after a server restart; rm;
// stat; flush of an unknown object; the progress line only on a terminal (script(1) gives the
// command one).
import { strict as assert } from 'assert';
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { startAgain } from './helpers/faults';
import { run } from './helpers/run';
import { pattern, repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';

const MiB = 1 << 20;
const admin = path.join(repoRoot, 'bin', 'iocatcher.js');
const NO_WRITE_BEHIND = ['--write-behind', 'off'];

/** iocatcher with args, to completion (stdin, stdout and stderr are pipes). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [admin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120000 });
}

/** A shell pipeline, to completion; rejects with its output when it fails. */
function sh(script: string): Promise<{ stdout: string; stderr: string }> {
  return run('bash', ['-o', 'pipefail', '-c', script]);
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('object namespace: the iocatcher command', function () {
  this.timeout(300000);
  const servers: ServerHandle[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });
  async function server(args: string[] = []): Promise<ServerHandle> {
    const s = await startServer({ args: [...NO_WRITE_BEHIND, ...args] });
    servers.push(s);
    return s;
  }

  it('put from a pipe, then get into a pipe: 300 MiB byte for byte, no progress line when stderr is a pipe', async () => {
    const s = await server(['--cache-size', '512MB']);
    const file = path.join(tmpDir('ioc-cli-put-'), 'data');
    const size = 300 * MiB + 12345;
    const fd = fs.openSync(file, 'w');
    for (let done = 0; done < size;) {
      const n = Math.min(16 * MiB, size - done);
      fs.writeSync(fd, crypto.randomBytes(n));
      done += n;
    }
    fs.closeSync(fd);
    const node = q(process.execPath);
    const put = await sh(`cat ${q(file)} | ${node} ${q(admin)} put - 50:1 --server ${s.address}`);
    assert.equal(put.stdout, `put ${size} bytes into 50:1\n`);
    assert.equal(put.stderr, '', 'no progress line into a pipe');
    const get = await sh(`${node} ${q(admin)} get 50:1 - --server ${s.address} | cmp - ${q(file)}`);
    assert.equal(get.stderr, '');
    // Stored (put flushes), its size what was written.
    const st = JSON.parse(cli(['stat', '50:1', '--json', '--server', s.address]).stdout);
    assert.deepEqual([st.size, st.storedBytes, st.stored, st.dirtyBytes], [size, size, true, 0]);
    // A shorter put replaces the object: its size is then the new one.
    const small = await sh(`printf 'short' | ${node} ${q(admin)} put - 50:1 --server ${s.address}`);
    assert.equal(small.stdout, 'put 5 bytes into 50:1\n');
    const back = await sh(`${node} ${q(admin)} get 50:1 --server ${s.address}`);
    assert.equal(back.stdout, 'short');
    // An empty input makes an empty, existing object.
    await sh(`${node} ${q(admin)} put - 50:2 --server ${s.address} < /dev/null`);
    const empty = JSON.parse(cli(['stat', '50:2', '--json', '--server', s.address]).stdout);
    assert.deepEqual([empty.size, empty.stored], [0, true]);
    assert.equal((await sh(`${node} ${q(admin)} get 50:2 - --server ${s.address} | wc -c`)).stdout.trim(), '0');
    // Files over an existing object: a larger file overwrites it whole (the object is kept), an
    // equal one too, a shorter one replaces it; each time the object is exactly the file.
    const dir = tmpDir('ioc-cli-put-');
    for (const [name, bytes] of [['new', pattern(MiB, 20)], ['larger', pattern(3 * MiB + 7, 21)], ['equal', pattern(3 * MiB + 7, 22)], ['shorter', pattern(MiB, 23)]] as Array<[string, Buffer]>) {
      const f = path.join(dir, name);
      fs.writeFileSync(f, bytes);
      await sh(`${node} ${q(admin)} put ${q(f)} 50:3 --server ${s.address}`);
      const got = await sh(`${node} ${q(admin)} get 50:3 - --server ${s.address} | cmp - ${q(f)}`);
      assert.equal(got.stderr, '', `${name}: the object is the file`);
      const stf = JSON.parse(cli(['stat', '50:3', '--json', '--server', s.address]).stdout);
      assert.deepEqual([stf.size, stf.storedBytes, stf.dirtyBytes], [bytes.length, bytes.length, 0], `${name}: its size, stored`);
    }
  });

  it('ls lists stored objects after a server restart, rm removes them; stat, --high, --json', async () => {
    let s = await server();
    const c = await IocClient.connect(s.address);
    try {
      await c.write(51, 1, 0, pattern(3 * MiB, 1));
      await c.write(51, 2, 0, pattern(1000, 2));
      await c.write(52, 1, 0, pattern(10, 3));
      for (const [h, l] of [[51, 1], [51, 2], [52, 1]]) await c.flush(h, l);
    } finally {
      c.close();
    }
    await s.stop();
    s = await startAgain(s, { args: NO_WRITE_BEHIND });
    servers.push(s);
    const env = { IOC_SERVER: s.address };
    const ls = cli(['ls'], env);
    assert.equal(ls.status, 0, ls.stderr);
    const lines = ls.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^\s+SIZE\s+STORED\s+CACHED\s+DIRTY\s+ID$/);
    assert.deepEqual(lines.slice(1).map((l) => l.trim().split(/\s{2,}/)).sort((a, b) => a[4].localeCompare(b[4])), [
      ['3.0 MiB', '3.0 MiB', '0 B', '0 B', '51:1'],
      ['1000 B', '1000 B', '0 B', '0 B', '51:2'],
      ['10 B', '10 B', '0 B', '0 B', '52:1'],
    ]);
    const json = cli(['ls', '--json', '--high', '51', '--server', s.address]);
    const objs = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.id.localeCompare(b.id));
    assert.deepEqual(objs, [
      { id: '51:1', high: '51', low: '1', size: 3 * MiB, storedBytes: 3 * MiB, cachedBytes: 0, dirtyBytes: 0, stored: true, server: s.address },
      { id: '51:2', high: '51', low: '2', size: 1000, storedBytes: 1000, cachedBytes: 0, dirtyBytes: 0, stored: true, server: s.address },
    ]);
    const st = cli(['stat', '51:2'], env);
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, /^object +51:2$/m);
    assert.match(st.stdout, /^size +1000 B \(1000 bytes\)$/m);
    assert.match(st.stdout, /^stored +yes, 1000 B \(1000 bytes\)$/m);

    const rm = cli(['rm', '51:1', '52:1'], env);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(rm.stdout, 'removed 51:1\nremoved 52:1\n');
    const after = cli(['ls', '--json'], env).stdout.trimEnd().split('\n').map((l) => JSON.parse(l).id);
    assert.deepEqual(after, ['51:2']);
    const again = cli(['rm', '51:1', '51:2'], env);
    assert.equal(again.status, 1);
    assert.equal(again.stdout, 'removed 51:2\n', 'the others are still removed');
    assert.match(again.stderr, /^iocatcher: delete of object 51:1 on 127\.0\.0\.1:\d+: ENOENT \(-2\): (no such object|object 51:1 does not exist)/m);
    const none = cli(['ls'], env);
    assert.match(none.stdout, /^\s+SIZE\s+STORED\s+CACHED\s+DIRTY\s+ID\n$/);
    const absent = cli(['stat', '51:1'], env);
    assert.equal(absent.status, 1);
    assert.match(absent.stderr, /stat of object 51:1 .*ENOENT \(-2\): (no such object|object 51:1 does not exist)/);
  });

  it('flush of an unknown object says so and exits 1; of a known one, 0', async () => {
    const s = await server();
    const unknown = cli(['flush', '53:1', '--server', s.address]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /^iocatcher: flush of object 53:1 on 127\.0\.0\.1:\d+: object 53:1 does not exist \(ENOENT\)$/m);
    const c = await IocClient.connect(s.address);
    try {
      await c.write(53, 1, 0, Buffer.from('x'));
    } finally {
      c.close();
    }
    const known = cli(['flush', '53:1', '--server', s.address]);
    assert.equal(known.status, 0, known.stderr);
    assert.equal(known.stdout, 'flushed 53:1\n');
  });

  it('a progress line (bytes, rate, time left) on stderr when it is a terminal (script -qec), none when it is a pipe', async () => {
    const s = await server();
    const dir = tmpDir('ioc-cli-tty-');
    const file = path.join(dir, 'data');
    fs.writeFileSync(file, pattern(20 * MiB, 7));
    const cmd = (args: string) => `${q(process.execPath)} ${q(admin)} ${args} --server ${s.address}`;
    // script gives the command a terminal and copies what it wrote there to our pipe.
    const tty = await run('script', ['-qec', cmd(`put ${q(file)} 54:1`), '/dev/null']);
    assert.match(tty.stdout, /put 54:1 +\[#{20}\] +100% +20\.0 MiB \/ 20\.0 MiB +[\d.]+ [KMG]?i?B\/s +ETA 0:00/);
    assert.match(tty.stdout, /put 20971520 bytes into 54:1/);
    const out = path.join(dir, 'back');
    const ttyGet = await run('script', ['-qec', cmd(`get 54:1 ${q(out)}`), '/dev/null']);
    assert.match(ttyGet.stdout, /get 54:1 +\[#{20}\] +100% +20\.0 MiB \/ 20\.0 MiB/);
    assert.ok(fs.readFileSync(out).equals(pattern(20 * MiB, 7)));
    // The same commands with stderr a pipe: not a byte on it.
    const piped = await sh(`${cmd(`put ${q(file)} 54:2`)} && ${cmd(`get 54:2 ${q(out)}`)}`);
    assert.equal(piped.stderr, '');
    assert.equal(piped.stdout, `put ${20 * MiB} bytes into 54:2\ngot ${20 * MiB} bytes of 54:2 into ${out}\n`);
    // From a pipe the total is unknown: bytes and rate only.
    const ttyPipe = await run('script', ['-qec', `cat ${q(file)} | ${cmd('put - 54:3')}`, '/dev/null']);
    assert.match(ttyPipe.stdout, /put 54:3 +20\.0 MiB +[\d.]+ [KMG]?i?B\/s/);
    assert.doesNotMatch(ttyPipe.stdout, /ETA/);
  });

  it('usage: ids, argument counts, --metrics only for stats (exit 2); a missing input file (exit 1)', async () => {
    for (const [args, msg] of [
      [['ls', '--metrics', '127.0.0.1:1'], /ls takes no --metrics: .*only stats reads --metrics/],
      [['stat'], /stat takes 1 argument/],
      [['rm'], /rm takes at least 1 argument/],
      [['get', '1:2', 'a', 'b'], /get takes 1 or 2 arguments/],
      [['put', '1:2'], /put takes 2 arguments/],
      [['put', '-', 'x:2'], /bad object id 'x:2'/],
      [['ls', '--high', '1:2'], /--high takes a signed 64-bit integer/],
      [['rm', '1:2', '--json'], /rm takes no --json/],
    ] as Array<[string[], RegExp]>) {
      const r = cli(args, { IOC_SERVER: '127.0.0.1:1' });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
    const s = await server();
    const missing = cli(['put', '/nonexistent/file', '1:2', '--server', s.address]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read \/nonexistent\/file/);
    const help = cli(['--help']);
    for (const word of ['ls', 'stat', 'rm', 'get', 'put', 'flush', 'cow', 'stats', '--server', '--high', '--json']) assert.ok(help.stdout.includes(word), word);
  });

  it('several servers (--server A,B,C or IOC_SERVER): ls lists each object once, get and rm reach the owner', async () => {
    const trio = [await server(), await server(), await server()];
    const list = trio.map((x) => x.address).join(',');
    const node = q(process.execPath);
    // Owners follow the servers' addresses (random ports): ids are chosen so that each server owns some.
    const router = await IocClient.connect(list);
    const owners = new Set<string>();
    let n = 0;
    while (n < 9 || owners.size < 3) owners.add(router.serverOf(55, ++n));
    router.close();
    for (let low = 1; low <= n; low++) await sh(`printf 'object ${low}' | ${node} ${q(admin)} put - 55:${low} --server ${list}`);
    const ids = cli(['ls', '--json'], { IOC_SERVER: list }).stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(ids.map((o) => o.id).sort(), Array.from({ length: n }, (_, i) => `55:${i + 1}`).sort());
    assert.equal(new Set(ids.map((o) => o.server)).size, 3, 'objects on all three servers');
    for (const o of ids) assert.equal(cli(['get', o.id, '--server', o.server]).stdout, `object ${o.low}`, 'on its owner');
    assert.equal(cli(['rm', '55:3', '--server', list]).status, 0);
    assert.equal(cli(['ls', '--json', '--server', list]).stdout.trimEnd().split('\n').length, n - 1);
  });
});
