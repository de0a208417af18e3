// Issue 21, item 3: a store the server cannot write. The start refuses a store that does not take
// a probe write (exit 2, one line naming the store); a store that fails later is named in the
// clients' flush errors and in the server's log, and a shutdown lists every object (and its byte
// count) that did not reach it: kept in the --nvdimm pool (written after a restart) or LOST.
// The daemon runs as nobody (setpriv), so that taking the store directory away from it (chown to
// root) makes the store refuse writes; the tests run as root.
import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { hex16, rejectsWithCode } from './helpers/assertions';
import { waitForLog } from './helpers/faults';
import { pattern, repoRoot, ServerHandle, startServer, StartOptions, tmpDir } from './helpers/server';

const MiB = 1 << 20;
const NOBODY = 65534;
const asNobody = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
// Dirty data stays dirty until a flush or the shutdown (no write-behind, no spill).
const ARGS = ['--write-behind', 'off', '--cache-size', '64MB', '--segment-size', '1MB'];

function canDropPrivileges(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (to run the daemon as nobody)';
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'needs setpriv (util-linux)';
  // The daemon, the CLI and its modules must be readable by nobody.
  const r = spawnSync(asNobody[0], [...asNobody.slice(1), process.execPath, path.join(repoRoot, 'bin', 'iocatcher-server.js'), '--version']);
  if (r.status !== 0) return `nobody cannot run the server from ${repoRoot}: ${String(r.stderr).trim()}`;
  return undefined;
}

/** A directory nobody can reach (its parent is searchable by all), owned by `uid`. */
function dirOwnedBy(uid: number, name: string): string {
  const base = tmpDir('ioc-storefault-');
  fs.chmodSync(base, 0o755);
  const dir = path.join(base, name);
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chownSync(dir, uid, uid);
  return dir;
}

/** Runs the server CLI to its end, expecting it not to start; resolves with its exit code and output. */
async function startRefused(store: string, runUnder: string[] = []): Promise<{ code: number | null; out: string }> {
  const args = [path.join(repoRoot, 'bin', 'iocatcher-server.js'), '--port', '21998', '--store', store, '127.0.0.1'];
  const [cmd, ...cmdArgs] = [...runUnder, process.execPath, ...args];
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20000);  // a server that did start
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  assert.doesNotMatch(out, /ready on/, 'the server must not start');
  return { code, out };
}

/** The lines of out that say a store cannot be written. */
const refusals = (out: string): string[] => out.split('\n').filter((l) => /cannot be written/.test(l));

const objectLine = (high: number, low: number, bytes: number, fate: string): RegExp =>
  new RegExp(`shutdown: object ${hex16(high)}-${hex16(low)} \\(${high}:${low}\\): ${bytes} dirty bytes not in the store \\(${fate}\\)`);

describe('store faults: a store the server cannot write', function () {
  this.timeout(120000);
  let skip: string | undefined;
  before(() => { skip = canDropPrivileges(); });
  beforeEach(function () {
    if (skip) {
      console.log(`      skipped: ${skip}`);
      this.skip();
    }
  });

  const servers: ServerHandle[] = [];
  const clients: IocClient[] = [];
  async function start(opts: StartOptions): Promise<{ server: ServerHandle; client: IocClient }> {
    const server = await startServer(opts);
    servers.push(server);
    const client = await IocClient.connect(server.host, server.port);
    clients.push(client);
    return { server, client };
  }
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.stop();
  });

  it('a store directory the server user cannot write: the start is refused (exit 2) with one line naming the store and "Permission denied"', async () => {
    const store = dirOwnedBy(0, 'store');  // root's, mode 0755
    const { code, out } = await startRefused(store, asNobody);
    assert.equal(code, 2, out);
    assert.deepEqual(refusals(out), [`iocatcher-server: store ${store} cannot be written: Permission denied`], out);
    assert.deepEqual(fs.readdirSync(store), [], 'no probe file left behind');
  });

  it('a plain file given as the store: the start is refused (exit 2) naming it', async () => {
    const file = path.join(tmpDir('ioc-storefault-'), 'not-a-dir');
    fs.writeFileSync(file, 'x');
    const { code, out } = await startRefused(file);
    assert.equal(code, 2, out);
    assert.deepEqual(refusals(out), [`iocatcher-server: store ${file} cannot be written: Not a directory`], out);
  });

  it('a writable store passes the start check and keeps no probe file', async () => {
    const store = dirOwnedBy(NOBODY, 'store');
    const { client } = await start({ store, args: ARGS, runUnder: asNobody });
    await client.ping();
    assert.deepEqual(fs.readdirSync(store), []);
  });

  it('a flush while the store refuses writes: the client error is EACCES and says the store refused; the log names store and object', async () => {
    const store = dirOwnedBy(NOBODY, 'store');
    const { server, client } = await start({ store, args: ARGS, runUnder: asNobody });
    const data = pattern(MiB, 5);
    await client.write(211, 1, 0, data);
    fs.chownSync(store, 0, 0);  // nobody cannot create the object's file any more
    const err = await rejectsWithCode(client.flush(211, 1), 'EACCES');
    assert.match(err.message, /flush of object 211:1 on 127\.0\.0\.1:\d+: EACCES \(-13\): the server's store refused the write \(EACCES/);
    await waitForLog(server, new RegExp(`flush of object ${hex16(211)}-${hex16(1)} \\(211:1\\) to the store dir://${store} failed: Permission denied`), 10000);
    // The store comes back: the data was never lost, the next flush writes it.
    fs.chownSync(store, NOBODY, NOBODY);
    await client.flush(211, 1);
    assert.ok(fs.readFileSync(path.join(store, `${hex16(211)}-${hex16(1)}`)).equals(data));
    clients.splice(0).forEach((c) => c.close());
    assert.equal(await servers.splice(0)[0].stop(), 0);
  });

  for (const durable of [false, true]) {
    it(`${durable ? 'SIGTERM' : 'SIGINT'} with a store that became unwritable: the log lists each object and its bytes as ${durable ? 'kept in the --nvdimm pool; after a restart they read back and reach the store' : 'LOST'}, exit non-zero`, async () => {
      const store = dirOwnedBy(NOBODY, 'store');
      const pool = dirOwnedBy(NOBODY, 'pool');
      const args = [...ARGS, ...(durable ? ['--nvdimm', pool] : [])];
      const { server, client } = await start({ store, args, runUnder: asNobody });
      const a = pattern(MiB, 11), b = pattern(MiB, 12);
      await client.write(212, 1, 0, a);
      await client.write(212, 2, 0, b);
      fs.chownSync(store, 0, 0);
      clients.splice(0).forEach((c) => c.close());
      servers.splice(0);
      // Both signals take the same shutdown: SIGINT straight to the daemon, SIGTERM through the CLI.
      let code: number | null;
      if (durable) {
        code = await server.stop();
      } else {
        process.kill(server.pid, 'SIGINT');
        code = await server.exited;
      }
      assert.notEqual(code, 0, 'a shutdown that lost (or kept back) data is not a success');
      const logs = server.logs();
      const fate = durable ? 'kept in the --nvdimm pool, written after a restart' : 'LOST';
      assert.match(logs, objectLine(212, 1, MiB, fate));
      assert.match(logs, objectLine(212, 2, MiB, fate));
      assert.match(logs, new RegExp(`shutdown: the store dir://${store} refused the writes \\(Permission denied\\): 2 objects, ${2 * MiB} dirty bytes ${durable ? 'stay in the --nvdimm pool' : 'are lost'}`));
      assert.match(logs, new RegExp(`flush at shutdown failed: the store dir://${store} refused the writes: Permission denied`));
      assert.deepEqual(fs.readdirSync(store), [], 'nothing reached the store');
      if (!durable) return;

      // The store is writable again: the same pool serves the data and writes it to the store.
      fs.chownSync(store, NOBODY, NOBODY);
      const again = await start({ store, args, runUnder: asNobody });
      assert.ok((await again.client.read(212, 1, 0, MiB)).equals(a), 'object 212:1 reads back byte for byte');
      assert.ok((await again.client.read(212, 2, 0, MiB)).equals(b), 'object 212:2 reads back byte for byte');
      await again.client.flush(212, 1);
      await again.client.flush(212, 2);
      assert.ok(fs.readFileSync(path.join(store, `${hex16(212)}-${hex16(1)}`)).equals(a), 'object 212:1 is in the store');
      assert.ok(fs.readFileSync(path.join(store, `${hex16(212)}-${hex16(2)}`)).equals(b), 'object 212:2 is in the store');
      clients.splice(0).forEach((c) => c.close());
      assert.equal(await servers.splice(0)[0].stop(), 0);
      assert.doesNotMatch(again.server.logs(), /not in the store/);
    });
  }
});
