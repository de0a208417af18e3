// Issue 13 ("drop-in for the original's C ecosystem"): the header beside ummap-io-v2's, ranges
// owned by the client handle (one TCP side channel per handle and server, as the original),
// ioc_client_ping_pong, the original server's PONG and -1 statuses. Races are driven by server
// failpoints (server.hold_writes_until_unregisters), never by sleeps; the original server is
// played by the persona failpoints server.original_ping, server.original_errors and
// fabric.original_shm_name.
import { strict as assert } from 'assert';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient, ummap } from '../src';
import { rejectsWithCode } from './helpers/assertions';
import { failpoints } from './helpers/failpoints';
import { compileCTest, waitForLog } from './helpers/faults';
import { delta, freePort, scrape } from './helpers/ops';
import { run } from './helpers/run';
import { buildDir, repoRoot, ServerHandle, startServer, StartOptions } from './helpers/server';

const MiB = 1 << 20;

describe('C API: drop-in for the original\'s C ecosystem (issue 13)', function () {
  this.timeout(120000);
  const servers: ServerHandle[] = [];
  const clients: IocClient[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.stop();
  });

  async function server(opts: StartOptions = {}): Promise<ServerHandle> {
    const s = await startServer(opts);
    servers.push(s);
    return s;
  }
  async function client(s: ServerHandle): Promise<IocClient> {
    const c = await IocClient.connect(s.host, s.port);
    clients.push(c);
    return c;
  }
  /** A server with a metrics endpoint, to count the PINGs it received. */
  async function countingServer(env: NodeJS.ProcessEnv = {}): Promise<{ s: ServerHandle; pings: () => Promise<number> }> {
    const metrics = `127.0.0.1:${await freePort()}`;
    const s = await server({ args: ['--metrics', metrics, '--stats-interval', '0'], env });
    const base = await scrape(metrics);
    return { s, pings: async () => delta(base, await scrape(metrics), 'ioc_requests_total{type="PING"}') };
  }

  it('docs/c-api.md lists every exported function and every environment variable the library reads', () => {
    const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'c-api.md'), 'utf8');
    const nm = spawnSync('nm', ['-D', '--defined-only', path.join(buildDir, 'libiocatcher-client.so')], { encoding: 'utf8' });
    assert.equal(nm.status, 0, nm.stderr);
    const exported = [...nm.stdout.matchAll(/ T (ioc_client_\w+)$/gm)].map((m) => m[1]);
    assert.ok(exported.includes('ioc_client_ping_pong') && exported.length >= 19, exported.join(' '));
    const header = fs.readFileSync(path.join(repoRoot, 'include', 'iocatcher-client.h'), 'utf8');
    for (const f of exported) {
      assert.match(doc, new RegExp(`\\b${f}\\(`), `${f} is not in docs/c-api.md`);
      assert.match(header, new RegExp(`\\b${f}\\(`), `${f} is exported but not declared in the header`);
    }
    const vars = new Set<string>();
    for (const dir of ['client', 'fabric', 'common']) {
      for (const file of fs.readdirSync(path.join(repoRoot, 'native', dir))) {
        const src = fs.readFileSync(path.join(repoRoot, 'native', dir, file), 'utf8');
        for (const m of src.matchAll(/getenv\("(\w+)"\)/g)) vars.add(m[1]);
        for (const m of src.matchAll(/"(FI_OFI_\w+)"/g)) vars.add(m[1]);  // read through a list
      }
    }
    assert.ok(vars.size >= 6, [...vars].join(' '));
    for (const v of vars) assert.match(doc, new RegExp(`\`${v}\``), `${v} is not in docs/c-api.md`);
  });

  it('the header beside ummap-io-v2\'s typedef: the redundant typedef builds (C and C++)', () => {
    // header_compat.c starts with `typedef struct ioc_client_s ioc_client_t;` (ummap.h's line).
    compileCTest('header_compat');
    const cxx = spawnSync('c++', ['-fsyntax-only', '-Wall', '-Werror', '-x', 'c++', '-I', path.join(repoRoot, 'include'), '-'], {
      input: 'typedef struct ioc_client_s ioc_client_t;\n#include "iocatcher-client.h"\nint main() { ioc_client_t *c = nullptr; ioc_client_fini(c); }\n',
      encoding: 'utf8',
    });
    assert.equal(cxx.status, 0, cxx.stderr);
  });

  for (const original of [false, true]) {
    it(`ioc_client_ping_pong with eager and RMA sizes, built beside ummap.h's typedef${original ? ', against a server that answers PING as the original (server.original_ping)' : ''}`, async () => {
      const { s, pings } = await countingServer(original ? failpoints({ 'server.original_ping': 'on' }) : {});
      const { stdout } = await run(compileCTest('header_compat'), ['127.0.0.1', String(s.port)],
        { env: { ...process.env, IOC_CLIENT_DEBUG: '1' } });
      assert.match(stdout, /c header compat ok/);
      const sent = Number(/pings=(\d+)/.exec(stdout)![1]);
      assert.equal(sent, 5 + 3 + 2 + 3 + 2 + 1 + 2);
      assert.equal(await pings(), sent, 'every round reached the server, and nothing else was sent as PING');
      // The original-style server answers -1 (logged) when the bytes are not its 43 / 42.
      assert.doesNotMatch(s.logs(), /PING bytes are not the original's/);
    });
  }

  it('TS ping (eager and RMA) accepts the original\'s PONG (a plain Response)', async () => {
    const { s, pings } = await countingServer(failpoints({ 'server.original_ping': 'on' }));
    const c = await client(s);
    await c.ping();
    await c.ping(100);
    await c.ping(32768);
    await c.ping(0, MiB);
    await c.ping(10, 4096);
    assert.equal(await pings(), 5);
    assert.doesNotMatch(s.logs(), /PING bytes are not the original's/);
    await rejectsWithCode(c.ping(32769), 'EINVAL');
    await rejectsWithCode(c.ping(0, -1), 'EINVAL');
    await rejectsWithCode(c.ping(0, Number.MAX_SAFE_INTEGER), 'ENOMEM');  // beyond the address space
    // Beyond what our server reads for a ping (64 MiB): its errno, named.
    const plain = await client(await server());
    await plain.ping(0, MiB);
    await rejectsWithCode(plain.ping(0, 65 * MiB), 'EINVAL');
  });

  it('iocatcher-client --mode ping runs ioc_client_ping_pong (eager + RMA), also against an original-style server', async () => {
    for (const env of [{}, failpoints({ 'server.original_ping': 'on' })]) {
      const { s, pings } = await countingServer(env);
      const { stdout } = await run(process.execPath, [path.join(repoRoot, 'bin', 'iocatcher-client.js'), '--mode', 'ping',
        '--eager', '100', '--rdma', '1M', '--count', '20', '--port', String(s.port), '127.0.0.1']);
      assert.match(stdout, /^ping\s+size=1048676\s+count=20\s/m);
      assert.equal(await pings(), 20);
    }
  });

  it('an original server\'s status -1 is EIO naming the request; our server\'s errno codes are kept', async () => {
    const args = ['--max-object-size', '1MB'];
    const ours = await client(await server({ args }));
    const orig = await client(await server({ args, env: failpoints({ 'server.original_errors': 'on' }) }));
    // Past --max-object-size: EFBIG from ours, -1 (no cause) from the original-style server.
    await rejectsWithCode(ours.read(7, 1, 2 * MiB, 4096), 'EFBIG');
    const e = await rejectsWithCode(orig.read(7, 1, 2 * MiB, 4096), 'EIO');
    assert.match(e.message, /^read of bytes \[2097152, 2101248\) of object 7:1 on 127\.0\.0\.1:\d+: EIO/);
    await rejectsWithCode(orig.write(7, 1, 2 * MiB, Buffer.alloc(64 * 1024)), 'EIO');  // RMA size too
    // A conflicting registration: EBUSY from ours, EIO from the original-style server.
    for (const [c, code] of [[ours, 'EBUSY'], [orig, 'EIO']] as const) {
      const id = await c.registerRange(7, 2, 0, 4096, true);
      const err = await rejectsWithCode(c.registerRange(7, 2, 0, 4096, true), code);
      assert.match(err.message, /range register/);
      await c.unregisterRange(id, 7, 2, 0, 4096, true);
    }
    // Successes are untouched by the mapping.
    assert.equal(await orig.write(7, 3, 0, Buffer.alloc(4096, 1)), 4096);
    await orig.ping(10);
  });

  it('shm: the C client finds a server under the original\'s name (fabric.original_shm_name) and under ours', async () => {
    for (const original of [true, false]) {
      const env = { FI_PROVIDER: 'shm' };
      const s = await server({ env: { ...env, ...(original ? failpoints({ 'fabric.original_shm_name': 'on' }) : {}) } });
      assert.match(s.logs(), /provider=shm/);
      const { stdout } = await run(compileCTest('roundtrip'), ['127.0.0.1', String(s.port)], { env: { ...process.env, ...env } });
      assert.match(stdout, /provider: shm/);
      assert.match(stdout, /c roundtrip ok/);
    }
  });

  it('C: ranges registered while large writes hold connections are unregistered from other threads (other connections): all 0; a killed client\'s ranges are released', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    const s = await server({ args: ['--verbose=server', '--metrics', metrics, '--stats-interval', '0'],
      env: failpoints({ 'server.hold_writes_until_unregisters': 'value(4)' }) });
    const exe = compileCTest('shared_ranges');
    const child = spawn(exe, ['127.0.0.1', String(s.port), '31'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, IOC_CLIENT_DEBUG: '1' } });
    children.push(child);
    let out = '', err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const untilOut = async (re: RegExp) => {
      const deadline = Date.now() + 60000;
      while (!re.test(out)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`shared_ranges: no ${re}:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await untilOut(/^phase1$/m);
    await waitForLog(s, /write of tcp client \d+ held until 4 more range unregisters \(3 held\)/, 60000);
    child.stdin!.write('go\n');
    await untilOut(/^phase3$/m);
    // Every connection the registrations used now carries a held write: the unregisters need
    // the 8th connection.
    await waitForLog(s, /held until 4 more range unregisters \(7 held\)/, 60000);
    child.stdin!.write('go\n');
    await untilOut(/^ok failures=\d+/m);
    assert.match(out, /^ok failures=0 unregistered=4$/m, err);
    await waitForLog(s, /test hook: 7 held writes released/, 1000);
    // All 8 connections of the handle (IOC_CLIENT_MAX_CONNECTIONS) over its one side channel.
    const m = await scrape(metrics);
    assert.equal(m.get('ioc_connected_clients{channel="fabric"}'), 8);
    assert.equal(m.get('ioc_connected_clients{channel="tcp"}'), 1);
    // Its ranges B (registered beside the first writes) and C (on the 8th connection) are held...
    const other = await client(s);
    await rejectsWithCode(other.registerRange(31, 2, 0, 4 * 4096, true), 'EBUSY');
    await rejectsWithCode(other.registerRange(31, 3, 0, 4 * 4096, true), 'EBUSY');
    // ...and released when the killed client's one side channel closes.
    child.kill('SIGKILL');
    await exited;
    await waitForLog(s, /tcp client \d+ gone, released 8 ranges/, 30000);
    const b = await other.registerRange(31, 2, 0, 4 * 4096, true);
    const c = await other.registerRange(31, 3, 0, 4 * 4096, true);
    assert.ok(b >= 1 && c >= 1);
    // The ranges A were unregistered: free too.
    assert.ok(await other.registerRange(31, 1, 0, 4 * 4096, true) >= 1);
  });

  // The original numbers its clients from 0: the first client after a server starts gets TCP id 0
  // (docs/protocol.md, "TCP side channel"). Our server does the same, and its refusal greeting is one the original
  // never sends (id all ones, key 0, no kept connection), so id 0 is an ordinary id everywhere.
  describe('the first client of a freshly started server has TCP client id 0, as with the original', () => {
    const firstClient = async (use: (s: ServerHandle) => Promise<void>): Promise<void> => {
      const s = await server({ args: ['--verbose=tcp'] });
      await use(s);
      await waitForLog(s, /client 0 connected/, 5000);
      assert.equal(/client (\d+) connected/.exec(s.logs())![1], '0', 'the first client under test had id 0');
    };
    it('C client: ping, write and read on that first connection', async () => {
      const exe = compileCTest('first_client');
      await firstClient(async (s) => {
        const { stdout } = await run(exe, [s.host, String(s.port)]);
        assert.match(stdout, /first client ok/);
      });
    });
    it('TypeScript client: ping, write and read on that first connection', async () => {
      await firstClient(async (s) => {
        const c = await client(s);
        await c.ping();
        await c.ping(16, 64 * 1024);
        const data = Buffer.alloc(MiB, 0x3c);
        await c.write(0xf1, 2, 0, data);
        assert.ok((await c.read(0xf1, 2, 0, MiB)).equals(data));
      });
    });
    it('ummap: a mapping as that first client loads, syncs and reads back', async () => {
      await firstClient(async (s) => {
        const m = ummap(0xf1, 3, 4 * MiB, { server: s.address, segmentSize: MiB });
        const u = new Uint8Array(m.buffer);
        assert.equal(u[5], 0);
        u.fill(0x7e, 0, 2 * MiB);
        await m.sync();
        await m.unmap();
        const c = await client(s);
        const back = await c.read(0xf1, 3, 0, 2 * MiB);
        assert.ok(back.equals(Buffer.alloc(2 * MiB, 0x7e)));
      });
    });
  });
});
