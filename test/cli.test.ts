// The three commands from the outside (real processes): --version, and every kind of bad input
// (a bad number, an unknown mode or --verbose category, a misspelt IOC_* variable, a variable
// that is not a number) is one clear line on stderr and exit status 2. Also the one size syntax,
// through the TypeScript API, the server's options (the CLI and the native daemon) and the admin
// command.
import { strict as assert } from 'assert';
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient, IocError, parseSize, version } from '../src';
import { checkClientEnv, checkEnvNames } from '../src/env';
import { freePort, httpGet } from './helpers/ops';
import { buildDir, repoRoot, startServer, tmpDir } from './helpers/server';

const pkgVersion: string = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
const bin = (name: string) => path.join(repoRoot, 'bin', `${name}.js`);

/** Runs a command of bin/ to completion, with extra environment variables. */
function cli(name: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin(name), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60000 });
}

/** Exit status 2 and one line on stderr matching `re`, without the usage text. */
function usageError(r: SpawnSyncReturns<string>, re: RegExp): void {
  assert.equal(r.status, 2, `exit status ${r.status}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, re);
  assert.doesNotMatch(r.stderr, /Usage:|Options:/, 'the error, not the whole usage text');
}

describe('command lines', function () {
  this.timeout(120000);

  it('--version on iocatcher-server, iocatcher-client, iocatcher (and the native binaries) prints the package version', () => {
    assert.equal(version, pkgVersion);
    for (const name of ['iocatcher-server', 'iocatcher-client', 'iocatcher']) {
      const r = cli(name, ['--version']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${name} ${pkgVersion}\n`);
    }
    // The native tools answer too (the client wrapper answers before the tool is looked up).
    for (const [exe, name] of [['iocatcher-serverd', 'iocatcher-serverd'], ['iocatcher-client-bench', 'iocatcher-client']]) {
      const r = spawnSync(path.join(buildDir, exe), ['--version'], { encoding: 'utf8' });
      assert.equal(r.stdout, `${name} ${pkgVersion}\n`);
    }
  });

  it('iocatcher-client: a negative or malformed --count, an unknown --mode, a bad --size or --port: exit 2 saying which', () => {
    usageError(cli('iocatcher-client', ['--count', '-5', '127.0.0.1']), /--count takes a positive whole number, got '-5'/);
    usageError(cli('iocatcher-client', ['--count', '10x', '127.0.0.1']), /--count .* got '10x'/);
    usageError(cli('iocatcher-client', ['--count', '0', '127.0.0.1']), /--count .* got '0'/);
    usageError(cli('iocatcher-client', ['--mode', 'bogus', '127.0.0.1']), /unknown --mode 'bogus' \(ping, read, write, all or checkpoint\)/);
    usageError(cli('iocatcher-client', ['--size', '1QB', '127.0.0.1']), /invalid --size '1QB': expected .*1024-based/);
    usageError(cli('iocatcher-client', ['--port', 'http', '127.0.0.1']), /invalid --port 'http'/);
    usageError(cli('iocatcher-client', ['--bogus', '127.0.0.1']), /unrecognized option '--bogus'/);
    usageError(cli('iocatcher-client', []), /expected one SERVER_IP/);
  });

  it('iocatcher-client names the native binary it cannot find', () => {
    const r = cli('iocatcher-client', ['127.0.0.1'], { IOC_BUILD_DIR: '/nonexistent-ioc-build' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /native tool not built \(\/nonexistent-ioc-build\/Release\/iocatcher-client-bench\)/);
  });

  it('iocatcher-server: -v=bogus (command line or IOC_VERBOSE) is an error naming the categories', () => {
    usageError(cli('iocatcher-server', ['-v=bogus', '127.0.0.1']), /unknown --verbose category 'bogus' \(fabric, protocol, /);
    usageError(cli('iocatcher-server', ['--verbose=cache,bogus', '127.0.0.1']), /unknown --verbose category 'bogus'/);
    usageError(cli('iocatcher-server', ['127.0.0.1'], { IOC_VERBOSE: 'tcp,bogus' }), /environment: unknown --verbose category 'bogus'/);
    // The daemon checks its own arguments the same way.
    const d = spawnSync(path.join(buildDir, 'iocatcher-serverd'), ['-v=bogus', '127.0.0.1'], { encoding: 'utf8' });
    assert.equal(d.status, 2);
    assert.match(d.stderr, /unknown --verbose category 'bogus'/);
  });

  it('iocatcher-server: a misspelt IOC_* variable is an error naming the known one; a far one is only a warning', () => {
    usageError(cli('iocatcher-server', ['127.0.0.1'], { IOC_CACHE_SIZ: '1GB' }), /unknown environment variable IOC_CACHE_SIZ \(did you mean IOC_CACHE_SIZE\?\)/);
    usageError(cli('iocatcher-server', ['127.0.0.1'], { IOC_NOAUTH: '1' }), /did you mean IOC_NO_AUTH\?/);
    usageError(cli('iocatcher-server', ['127.0.0.1'], { IOC_PROT: '9000' }), /did you mean IOC_PORT\?/);
    // The same for a config file's keys.
    const file = path.join(tmpDir('ioc-cli-'), 'server.json');
    fs.writeFileSync(file, JSON.stringify({ 'cache-sise': '1GB' }));
    usageError(cli('iocatcher-server', ['--config', file, '127.0.0.1']), /unknown option 'cache-sise' \(did you mean 'cache-size'\?\)/);
    fs.writeFileSync(file, JSON.stringify({ noAuth: 'maybe' }));
    usageError(cli('iocatcher-server', ['--config', file, '127.0.0.1']), /'no-auth' takes true or false, got "maybe"/);
    const warnings = checkEnvNames({ IOC_SOMETHING_ELSE_ENTIRELY: '1', IOC_FAILPOINTS: 'server.no_echo=on', IOC_PORT: '1', PATH: '/bin' }, ['IOC_PORT']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^ignoring unknown environment variable IOC_SOMETHING_ELSE_ENTIRELY \(closest known: IOC_\w+\)$/);
    // The old per-hook variables are gone (failpoints replaced them): no longer exempt.
    assert.match(checkEnvNames({ IOC_TEST_NO_ECHO: '1' }, ['IOC_PORT'])[0], /^ignoring unknown environment variable IOC_TEST_NO_ECHO /);
  });

  it('IOC_CLIENT_TIMEOUT_MS=abc: IocError EINVAL from the TS API, exit 2 from iocatcher-client and iocatcher', async () => {
    const saved = process.env.IOC_CLIENT_TIMEOUT_MS;
    process.env.IOC_CLIENT_TIMEOUT_MS = 'abc';
    try {
      await assert.rejects(IocClient.connect('127.0.0.1', 1), (e: IocError) => {
        assert.ok(e instanceof IocError);
        assert.equal(e.code, 'EINVAL');
        assert.match(e.message, /IOC_CLIENT_TIMEOUT_MS='abc' is not a whole number of milliseconds/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.IOC_CLIENT_TIMEOUT_MS;
      else process.env.IOC_CLIENT_TIMEOUT_MS = saved;
    }
    assert.throws(() => checkClientEnv({ IOC_CLIENT_SPIN_US: 'fast' }), (e: IocError) => e.code === 'EINVAL' && /IOC_CLIENT_SPIN_US='fast'/.test(e.message));
    checkClientEnv({ IOC_CLIENT_TIMEOUT_MS: '0', IOC_CLIENT_SPIN_US: '1000' });
    for (const v of ['abc', '-1', '10s']) {
      usageError(cli('iocatcher-client', ['127.0.0.1'], { IOC_CLIENT_TIMEOUT_MS: v }), new RegExp(`IOC_CLIENT_TIMEOUT_MS='${v}' is not a whole number`));
      usageError(cli('iocatcher', ['flush', '1:2'], { IOC_CLIENT_TIMEOUT_MS: v }), new RegExp(`IOC_CLIENT_TIMEOUT_MS='${v}' is not a whole number`));
    }
  });

  it('iocatcher: bad --size / --offset / option: exit 2 naming the syntax', () => {
    usageError(cli('iocatcher', ['flush', '1:2', '--size', '1QB']), /--size takes a byte count .*1024-based.*got '1QB'/);
    usageError(cli('iocatcher', ['flush', '1:2', '--offset', '-4']), /unknown option '-4'|--offset .* got '-4'/);
    usageError(cli('iocatcher', ['stats', '--bogus']), /unknown option '--bogus'/);
  });
});

describe('one size syntax', function () {
  this.timeout(120000);
  const MiB = 2 ** 20;
  // The same spellings mean the same bytes everywhere; every unit is a power of 1024.
  const good: Array<[string, number]> = [
    ['4096', 4096], ['512B', 512], ['64K', 64 * 1024], ['64KB', 64 * 1024], ['64KiB', 64 * 1024], ['64 kib', 64 * 1024],
    ['1.5MB', 1.5 * MiB], ['1.5MiB', 1.5 * MiB], ['1.5m', 1.5 * MiB], ['1GiB', 2 ** 30], ['1GB', 2 ** 30], ['1g', 2 ** 30],
    ['2TB', 2 * 2 ** 40], ['0.5KB', 512],
  ];
  const bad = ['', 'MB', '1.5.5MB', '1Ki', '1XB', '-1MB', '1MBB', '1e6', '0x10', '1,5MB', '.5MB'];

  it('TS API: parseSize and the ummap options take them (IocError EINVAL naming the syntax otherwise)', () => {
    for (const [text, bytes] of good) assert.equal(parseSize(text), bytes, text);
    for (const text of bad) {
      assert.throws(() => parseSize(text), (e: IocError) => e instanceof IocError && e.code === 'EINVAL' && /1024-based/.test(e.message), text);
    }
  });

  it('the native daemon accepts exactly the same spellings as the TS parser', () => {
    // A size that parses lets the daemon reach the next check (low-water below high-water), so
    // which error it prints tells whether it took the size; no server starts.
    for (const text of [...good.map(([t]) => t), ...bad]) {
      const r = spawnSync(path.join(buildDir, 'iocatcher-serverd'),
        ['--max-object-size', text, '--low-water', '90', '--high-water', '80', '127.0.0.1'], { encoding: 'utf8' });
      assert.equal(r.status, 2, text);
      const tsOk = (() => { try { return parseSize(text) > 0; } catch { return false; } })();
      // '' is no value at all, as for the CLI.
      assert.match(r.stderr, tsOk ? /--low-water must be below/ : text ? /invalid size for --max-object-size/ : /option --max-object-size needs a value/, `'${text}': ${r.stderr}`);
    }
    // So does the native iocatcher-client (same header): a good size reaches the --mode check.
    for (const [text] of good) {
      const r = spawnSync(path.join(buildDir, 'iocatcher-client-bench'), ['--size', text, '--mode', 'x', '127.0.0.1'], { encoding: 'utf8' });
      assert.match(r.stderr, /unknown --mode/, `${text}: ${r.stderr}`);
    }
  });

  it('iocatcher-server: 1.5MiB segments and a 0.25GB cache from the command line, 96MiB from IOC_CACHE_SIZE', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    const server = await startServer({ args: ['--segment-size', '1.5MiB', '--cache-size', '0.25GB', '--metrics', metrics] });
    try {
      const stats = JSON.parse((await httpGet(`http://${metrics}/stats`)).body);
      assert.equal(stats.cache.limitBytes, 0.25 * 2 ** 30);
      const objects = JSON.parse((await httpGet(`http://${metrics}/objects`)).body);
      assert.equal(objects.segmentSize, 1.5 * MiB);
    } finally {
      await server.stop();
    }
    const metrics2 = `127.0.0.1:${await freePort()}`;
    const server2 = await startServer({ args: ['--metrics', metrics2], env: { IOC_CACHE_SIZE: '96MiB', IOC_SOMETHING_ELSE_ENTIRELY: '1' } });
    try {
      // A variable far from every known name is logged, not refused.
      assert.match(server2.logs(), /ignoring unknown environment variable IOC_SOMETHING_ELSE_ENTIRELY/);
      assert.equal(JSON.parse((await httpGet(`http://${metrics2}/stats`)).body).cache.limitBytes, 96 * MiB);
    } finally {
      await server2.stop();
    }
    usageError(cli('iocatcher-server', ['--cache-size', '1.5XB', '127.0.0.1']), /invalid size for --cache-size: '1.5XB' \(expected .*1024-based/);
    usageError(cli('iocatcher-server', ['--cache-size', '0.0MB', '127.0.0.1']), /must not be 0/);
  });

  it('iocatcher flush / cow take --offset and --size in the same syntax', async () => {
    const server = await startServer();
    try {
      const c = await IocClient.connect(server.address);
      await c.write(0x51e, 1, 0, Buffer.alloc(3 * MiB, 7));
      c.close();
      const f = cli('iocatcher', ['flush', '0x51e:1', '--offset', '1MiB', '--size', '1.5MB', '--server', server.address]);
      assert.equal(f.status, 0, f.stderr);
      assert.match(f.stdout, /flushed 0x51e:1/);
      const w = cli('iocatcher', ['cow', '0x51e:1', '0x51e:2', '--offset', '512KiB', '--size', '1M', '--server', server.address]);
      assert.equal(w.status, 0, w.stderr);
      const c2 = await IocClient.connect(server.address);
      const back = await c2.read(0x51e, 2, 512 * 1024, MiB);
      c2.close();
      assert.ok(back.equals(Buffer.alloc(MiB, 7)));
    } finally {
      await server.stop();
    }
  });
});
