// Issue #7, reliability and security: limits and bad input (each gets an error status and a log
// line, and the connection and server carry on), faults (server killed or hung during calls,
// client killed mid-transfer, SIGBUS on a dead server's mapping).
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { failpoints } from './helpers/failpoints';
import { run } from './helpers/run';
import { IocClient } from '../src';
import { code, hex16 } from './helpers/assertions';
import { buildDir, pattern, ServerHandle, startServer, tmpDir } from './helpers/server';
import { waitFor } from './helpers/faults';
const MiB = 1 << 20;
const distSrc = path.resolve(__dirname, '..', 'src');


describe('limits and bad input', function () {
  this.timeout(120000);
  let server: ServerHandle;
  let client: IocClient;
  before(async () => {
    server = await startServer({ args: ['--max-message', '8KB', '--max-transfer', '2MB', '--max-object-size', '1GB'] });
    client = await IocClient.connect(server.host, server.port);
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  // [case of iocatcher-live-fuzz, expected status, log line]
  const cases: Array<[string, RegExp, RegExp]> = [
    ['unknown-type', /^status=-38 reply=ERROR_ACK$/m, /refused message of unknown type 999/],
    ['overflow-read', /^status=-22 reply=READ_WRITE_ACK$/m, /refused OBJ_READ .*the range overflows/],
    ['overflow-flush', /^status=-22 reply=FLUSH_ACK$/m, /refused FLUSH .*overflows/],
    ['overflow-register', /^status=-22 reply=RANGE_REGISTER_ACK$/m, /refused RANGE_REGISTER .*overflows/],
    ['overflow-cow', /^status=-22 reply=COW_ACK$/m, /refused COW .*overflows/],
    ['big-eager', /^status=-90 reply=READ_WRITE_ACK$/m, /refused a \d+-byte OBJ_WRITE .*--max-message 8192/],
    ['far-write', /^status=-27 reply=READ_WRITE_ACK$/m, /refused OBJ_WRITE .*ends past --max-object-size/],
    ['truncated-payload', /^status=-22 reply=CREATE_ACK$/m, /./],
    ['foreign-lf-id', /^status=-1 reply=BAD_AUTH$/m, /bad credentials in CREATE from lf client id \d+ \(tcp client \d+\): BAD_AUTH/],
    ['unknown-lf-id', /^status=-1 reply=BAD_AUTH$/m, /unknown client id in CREATE from lf client id 2251799812711237 .*: BAD_AUTH/],
    // Credentials that are not the sender's own: it cannot be identified, so it gets nothing.
    ['foreign-tcp-id', /^status=none$/m, /bad credentials in CREATE .*: dropped/],
  ];
  for (const [name, status, logLine] of cases) {
    it(`${name}: error status, log line, connection and server carry on`, async () => {
      const { stdout } = await run(path.join(buildDir, 'iocatcher-live-fuzz'), ['127.0.0.1', String(server.port), 'case', name]);
      assert.match(stdout, status, stdout);
      assert.match(stdout, /^alive=1$/m, 'the same connection is served afterwards');
      if (/other-received/.test(stdout)) assert.match(stdout, /^other-received=0$/m, 'the client whose id was used got nothing');
      assert.match(server.logs(), logLine);
      await client.ping();
    });
  }

  it('the TypeScript client sees EMSGSIZE beyond --max-transfer and EFBIG beyond --max-object-size', async () => {
    assert.equal(await code(client.read(90, 1, 0, 2 * MiB + 1)), 'EMSGSIZE');
    assert.equal(await code(client.write(90, 1, 1024 * MiB - 1, Buffer.alloc(2))), 'EFBIG');
    assert.equal(await code(client.flush(90, 1, 1024 * MiB, 1)), 'EFBIG');
    assert.equal(await client.write(90, 1, 1024 * MiB - 2, Buffer.alloc(2, 7)), 2);
    assert.equal(await client.write(90, 2, 0, pattern(2 * MiB, 1)), 2 * MiB);
  });

  for (const name of ['bad-rma-key-write', 'bad-rma-addr-write', 'bad-rma-key-read']) {
    it(`${name}: an RMA with a key or address the client never registered fails, object unchanged`, async () => {
      // The server only ever uses the Iov of the request at hand, against the sender's own
      // endpoint; the client's provider refuses the key (and drops that connection, so the
      // error reply may be lost: the client's own call then times out). The server logs the
      // failure and carries on; a failed write leaves the object as it was.
      const { stdout } = await run(path.join(buildDir, 'iocatcher-live-fuzz'), ['127.0.0.1', String(server.port), 'case', name]);
      assert.match(stdout, /^status=(none|-\d+ reply=READ_WRITE_ACK)$/m, stdout);
      assert.doesNotMatch(stdout, /^status=0 /m);
      assert.match(stdout, /^alive=1$/m);
      if (name !== 'bad-rma-key-read') assert.match(stdout, /^unchanged=1$/m);
      await client.ping();
    });
  }
});

describe('faults', function () {
  this.timeout(120000);

  it('a handshake left unanswered is retried on a new endpoint: connect still succeeds', async () => {
    // libfabric 1.17 (tcp;ofi_rxm) rarely loses the server's ASSIGN_ID on a connection made
    // while the server accepts others; the server's failpoint plays that loss twice.
    const server = await startServer({ env: failpoints({ 'server.unanswered_connect': 'first(2)' }) });
    try {
      const client = await IocClient.connect(server.host, server.port);
      try {
        await client.write(7100, 1, 0, pattern(4096, 7100));
        assert.ok((await client.read(7100, 1, 0, 4096)).equals(pattern(4096, 7100)));
      } finally {
        client.close();
      }
      assert.equal(server.logs().match(/left unanswered/g)?.length, 2, server.logs());
    } finally {
      await server.stop();
    }
  });

  it('a hung server (SIGSTOP) makes calls fail with ETIMEDOUT within the timeout', async () => {
    const server = await startServer();
    const client = await IocClient.connect(server.host, server.port);
    try {
      client.setTimeout(2000);
      await client.write(91, 1, 0, Buffer.alloc(1000, 1));
      process.kill(server.pid, 'SIGSTOP');
      const t0 = Date.now();
      const results = await Promise.all([
        code(client.read(91, 1, 0, 1000)), code(client.write(91, 2, 0, Buffer.alloc(4 * MiB, 2))),
        code(client.flush(91, 1)), code(client.ping()),
      ]);
      const elapsed = Date.now() - t0;
      for (const r of results) assert.match(r, /^(ETIMEDOUT|ECONNRESET)$/, `results: ${results}`);
      assert.ok(results.includes('ETIMEDOUT'), `results: ${results}`);
      assert.ok(elapsed < 2000 + 4000, `failed within the timeout (+ margin): ${elapsed} ms`);
    } finally {
      try { process.kill(server.pid, 'SIGCONT'); } catch { /* gone */ }
      client.close();
      await server.kill();
    }
  });

  it('a server killed during calls: errors (no hang), fast failures while down, reconnect when back', async () => {
    const store = tmpDir('ioc-rel-');
    let server = await startServer({ store });
    const port = server.port;
    const client = await IocClient.connect(server.host, port);
    try {
      client.setTimeout(5000);
      await client.write(92, 1, 0, Buffer.from('before'));
      await client.flush(92, 1);
      const big = Buffer.alloc(32 * MiB, 3);
      const pending = Array.from({ length: 4 }, (_, i) => code(client.write(92, 2 + i, 0, big)));
      await new Promise((r) => setTimeout(r, 20));
      const t0 = Date.now();
      await server.kill();
      const results = await Promise.all(pending);
      for (const r of results) assert.match(r, /^(ok|ECONNRESET|ETIMEDOUT|EIO|ECONNREFUSED)$/, `${results}`);
      assert.ok(Date.now() - t0 < 5000 + 3000, 'within the timeout');
      // While it is down: a clear error, at once (reconnects back off).
      const t1 = Date.now();
      for (let i = 0; i < 5; i++) assert.match(await code(client.ping()), /^(ECONNREFUSED|ECONNRESET)$/);
      assert.ok(Date.now() - t1 < 3000, `fast failures: ${Date.now() - t1} ms`);
      // Back on the same port and store: the client reconnects by itself.
      server = await startServer({ store, port });
      await waitFor(async () => (await code(client.ping())) === 'ok', 20000, 'reconnection');
      assert.equal((await client.read(92, 1, 0, 6)).toString(), 'before');
    } finally {
      client.close();
      await server.stop();
    }
  });

  // Dirty segments take the staged path (RMA into a staging buffer, copied in on success): a
  // writer killed at any moment leaves every segment old or new. (The in-place path, for clean
  // segments, is driven by a test hook in test/integrity-server.test.ts.)
  it('a client killed in the middle of large RMA writes to dirty (staged) segments leaves the server consistent, ranges released, nothing pinned', async () => {
    const server = await startServer({ args: ['--segment-size', '1MB'] });
    const client = await IocClient.connect(server.host, server.port);
    const SIZE = 32 * MiB;
    const oldData = pattern(SIZE, 93);
    const newData = pattern(SIZE, 94);
    try {
      await client.write(93, 1, 0, oldData);
      const script = `
        const { IocClient } = require(${JSON.stringify(distSrc)});
        (async () => {
          const c = await IocClient.connect('127.0.0.1', ${server.port});
          await c.registerRange(93, 2, 0, 4096, true);
          const data = Buffer.alloc(${SIZE});
          for (let i = 0; i < data.length; i++) data[i] = 0;
          const src = require('fs').readFileSync(process.argv[1]);
          process.stdout.write('ready\\n');
          for (;;) await c.write(93, 1, 0, src);
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const file = path.join(tmpDir('ioc-new-'), 'new.bin');
      fs.writeFileSync(file, newData);
      for (let round = 0; round < 3; round++) {
        const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
          child.on('exit', (c) => reject(new Error(`child exited ${c}`)));
        });
        await new Promise((r) => setTimeout(r, 150 + round * 97));  // any moment will do
        child.kill('SIGKILL');
        await new Promise((r) => child.on('exit', r));
        // Ranges released (the side channel closed).
        await waitFor(async () => {
          try {
            const id = await client.registerRange(93, 2, 0, 4096, true);
            await client.unregisterRange(id, 93, 2, 0, 4096, true);
            return true;
          } catch { return false; }
        }, 10000, 'range release');
        // Each 1 MiB segment holds the old or the new bytes, never a mix.
        const back = await client.read(93, 1, 0, SIZE);
        for (let s = 0; s < SIZE / MiB; s++) {
          const seg = back.subarray(s * MiB, (s + 1) * MiB);
          assert.ok(seg.equals(oldData.subarray(s * MiB, (s + 1) * MiB)) || seg.equals(newData.subarray(s * MiB, (s + 1) * MiB)),
            `round ${round}: segment ${s} is neither old nor new`);
        }
      }
      // Nothing stays pinned: the in-flight requests of the dead clients were released.
      await waitFor(() => {
        process.kill(server.pid, 'SIGUSR1');
        const lines = server.logs().match(/\((\d+) pinned\)/g) ?? [];
        return lines.length > 0 && lines[lines.length - 1] === '(0 pinned)';
      }, 15000, '0 pinned segments');
      assert.equal(await Promise.race([server.exited, new Promise((r) => setTimeout(() => r('running'), 50))]), 'running');
    } finally {
      client.close();
      await server.stop();
    }
  });

  it("a mapping whose server is gone: the fault retries until the timeout, then SIGBUS naming the mapping", async () => {
    const server = await startServer();
    try {
      const script = `
        const { ummap } = require(${JSON.stringify(distSrc)});
        const m = ummap(94, 1, 16 << 20, { server: '127.0.0.1:${server.port}', segmentSize: '1MB' });
        const u = new Uint8Array(m.buffer);
        process.stdout.write('loaded ' + u[0] + '\\n');
        process.stdin.once('data', () => {
          const v = u[10 << 20];  // a segment never loaded: the server is gone by now
          process.stdout.write('read ' + v + '\\n');
          process.exit(0);
        });`;
      const asan = process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:handle_sigbus=0` : undefined;
      const child = spawn(process.execPath, ['-e', script], {
        cwd: tmpDir('ioc-sigbus-'), // node may leave a crash backtrace file in its directory
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, UMMAP_FAULT_TIMEOUT_MS: '1500', ...(asan ? { ASAN_OPTIONS: asan } : {}) },
      });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      const exited = new Promise<string | null>((r) => child.on('exit', (_c, sig) => r(sig)));
      await waitFor(() => out.includes('loaded 0'), 20000, `the child's first load (${err})`);
      await server.kill();
      const t0 = Date.now();
      child.stdin!.write('go\n');
      const sig = await exited;
      const elapsed = Date.now() - t0;
      // Node's own SIGBUS handler may report it ("terminated with signal 7") instead of the default action.
      assert.ok(sig === 'SIGBUS' || /terminated with signal 7\b/.test(err), `exit signal ${sig} (stderr: ${err})`);
      assert.doesNotMatch(out, /read /, 'the access never completed with made-up data');
      assert.match(err, new RegExp(`ummap: SIGBUS: cannot load segment 10 .*of the mapping of ioc://94:1@127\\.0\\.0\\.1:${server.port} `));
      assert.match(err, /retried for \d+ ms \(UMMAP_FAULT_TIMEOUT_MS 1500\)/);
      assert.ok(elapsed >= 1400 && elapsed < 1500 + 10000, `after the timeout: ${elapsed} ms`);
    } finally {
      await server.kill();
    }
  });
});
