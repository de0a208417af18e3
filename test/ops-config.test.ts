// Operations: server configuration from a --config file (YAML, JSON) and IOC_* environment
// variables (precedence: command line > environment > file), the printed effective
// configuration, IOC_SERVER on the client side, and the log options (-v=CATS, --log-format json).
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src/client';
import { resolveServerOptions } from '../src/server/config';
import { parseDaemonLine } from '../src/server/log';
import { envDefaultServer } from '../src/ummap/uri';
import { freePort, httpGet } from './helpers/ops';
import { repoRoot, startServer, tmpDir } from './helpers/server';

const MiB = 1024 * 1024;
const cli = path.join(repoRoot, 'bin', 'iocatcher-server.js');

async function cacheLimit(metrics: string): Promise<number> {
  return JSON.parse((await httpGet(`http://${metrics}/stats`)).body).cache.limitBytes;
}

describe('ops: configuration', function () {
  this.timeout(60000);

  it('starts from a YAML config file (kebab-case and camelCase keys)', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    const file = path.join(tmpDir('ioc-cfg-'), 'server.yaml');
    fs.writeFileSync(file, `# iocatcher-server options\nnoAuth: true\ncache-size: 96MB\nmetrics: "${metrics}"\nstatsInterval: 0\n`);
    const server = await startServer({ args: ['--config', file] });
    try {
      assert.match(server.logs(), /ready on .* auth=off/);
      assert.equal(await cacheLimit(metrics), 96 * MiB);
      const line = /effective configuration (\{.*\})$/m.exec(server.logs());
      assert.ok(line, server.logs());
      const rec = JSON.parse(line![1]);
      assert.equal(rec.config.cacheSize, '96MB');
      assert.equal(rec.config.noAuth, true);
      assert.equal(rec.config.config, file);
      assert.equal(rec.sources['cache-size'], 'config file');
      assert.equal(rec.sources.port, 'command line');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('starts from a JSON config file given by IOC_CONFIG, with IOC_* variables over it and the command line over both', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    const file = path.join(tmpDir('ioc-cfg-'), 'server.json');
    fs.writeFileSync(file, JSON.stringify({ 'cache-size': '96MB', metrics, 'no-auth': true }));
    const env = { IOC_CONFIG: file, IOC_CACHE_SIZE: '80MB', IOC_NO_AUTH: '0' };
    let server = await startServer({ env });
    try {
      assert.equal(await cacheLimit(metrics), 80 * MiB);               // environment over file
      assert.match(server.logs(), /ready on .* auth=on/);               // IOC_NO_AUTH=0 over noAuth: true
      assert.match(server.logs(), /"cache-size":"environment"/);
    } finally {
      await server.stop();
    }
    server = await startServer({ env, args: ['--cache-size', '72MB'] });
    try {
      assert.equal(await cacheLimit(metrics), 72 * MiB);               // command line over both
      assert.match(server.logs(), /"cache-size":"command line"/);
    } finally {
      await server.stop();
    }
  });

  it('starts from IOC_* environment variables alone', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    const server = await startServer({ env: { IOC_METRICS: metrics, IOC_CACHE_SIZE: '64MB', IOC_NO_AUTH: '1', IOC_SEGMENT_SIZE: '1MB' } });
    try {
      assert.match(server.logs(), /ready on .* auth=off/);
      assert.equal(await cacheLimit(metrics), 64 * MiB);
      assert.match(server.logs(), /1024 KiB segments/);
      // IOC_SERVER: the client's default server list.
      process.env.IOC_SERVER = server.address;
      try {
        const c = await IocClient.connect();
        await c.write(3, 4, 0, Buffer.from('from IOC_SERVER'));
        assert.equal((await c.read(3, 4, 0, 15)).toString(), 'from IOC_SERVER');
        c.close();
        assert.equal(envDefaultServer(), server.address);
      } finally {
        delete process.env.IOC_SERVER;
      }
    } finally {
      await server.stop();
    }
  });

  it('resolves LISTEN_IP and list options from file and environment; names the source of a bad value', () => {
    const dir = tmpDir('ioc-cfg-');
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, JSON.stringify({ listenIp: '127.0.0.2', nvdimm: ['/a', '/b'], verbose: 'fabric,cache', port: 9000 }));
    let r = resolveServerOptions(['--config', file], {});
    assert.equal(r.options.listenIp, '127.0.0.2');
    assert.deepEqual(r.options.nvdimm, ['/a', '/b']);
    assert.equal(r.options.verbose, 'fabric,cache');
    assert.equal(r.options.port, 9000);
    r = resolveServerOptions(['--config', file, '-n', '/c', '10.0.0.1'], { IOC_LISTEN_IP: '127.0.0.3', IOC_PORT: '9100' });
    assert.equal(r.options.listenIp, '10.0.0.1');
    assert.deepEqual(r.options.nvdimm, ['/c']);                       // replaced, not appended
    assert.equal(r.options.port, 9100);
    assert.equal(r.sources.nvdimm, 'command line');
    assert.equal(r.sources.port, 'environment');
    assert.equal(resolveServerOptions([], { IOC_LISTEN_IP: '127.0.0.4' }).options.listenIp, '127.0.0.4');
    assert.equal(envDefaultServer({ IOC_SERVER: 'h1,h2:9' }), 'h1:8556,h2:9');
    assert.equal(envDefaultServer({}), '127.0.0.1:8556');

    for (const [content, env, msg] of [
      ['{"cache-sise": "1GB"}', {}, /unknown option 'cache-sise'/],
      ['{"port": "abc"}', {}, /--config .*c2\.json: invalid --port 'abc'/],
      ['port: [1', {}, /not valid JSON/],
      ['{}', { IOC_CACHE_SIZE: '12Q' }, /environment: invalid size for --cache-size/],
      ['{}', { IOC_NO_AUTH: 'maybe' }, /IOC_NO_AUTH: 'no-auth' takes true or false/],
    ] as Array<[string, Record<string, string>, RegExp]>) {
      const f = path.join(dir, 'c2.json');
      fs.writeFileSync(f, content);
      const p = spawnSync(process.execPath, [cli, '--config', f, '127.0.0.1'], { encoding: 'utf8', env: { ...process.env, ...env } });
      assert.equal(p.status, 2, p.stderr);
      assert.match(p.stderr, msg);
    }
    const y = path.join(dir, 'bad.yaml');
    fs.writeFileSync(y, 'port: [1\n');
    const p = spawnSync(process.execPath, [cli, '--config', y, '127.0.0.1'], { encoding: 'utf8' });
    assert.equal(p.status, 2);
    assert.match(p.stderr, /not valid YAML/);
  });

  it('--help documents the configuration, metrics and log options', () => {
    const r = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    for (const s of ['--config FILE', '--metrics HOST:PORT', '-v=CATS', '--log-format', 'IOC_CACHE_SIZE', 'IOC_DEBUG', 'Precedence']) {
      assert.ok(r.stdout.includes(s), s);
    }
  });
});

describe('ops: logs', function () {
  this.timeout(60000);

  it('-v=CATS shows the debug messages of those categories only', async () => {
    const server = await startServer({ args: ['-v=server'] });
    try {
      const c = await IocClient.connect(server.host, server.port);
      await c.ping();
      c.close();
      for (let i = 0; i < 50 && !/debug server\] client \d+ connected/.test(server.logs()); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(server.logs(), /\[iocatcher \S+ debug server\] client \d+ connected/);
      assert.doesNotMatch(server.logs(), /debug (fabric|cache|protocol)\]/);
      assert.doesNotMatch(server.logs(), /read [\d.]+ GB\/s/);          // no per-second line without "stats"
    } finally {
      await server.stop();
    }
  });

  it('-v keeps the per-second throughput line', async () => {
    const server = await startServer({ args: ['-v'] });
    try {
      for (let i = 0; i < 30 && !/read [\d.]+ GB\/s, write/.test(server.logs()); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(server.logs(), /\[iocatcher \S+ info stats\] read [\d.]+ GB\/s, write [\d.]+ GB\/s/);
    } finally {
      await server.stop();
    }
  });

  it('text lines of the daemon and of the wrapper carry ISO-8601 UTC timestamps to the millisecond', async () => {
    const before = Date.now();
    const server = await startServer();
    await server.stop();
    const after = Date.now();
    const iso = /^\[iocatcher (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?:error|warn|info|debug) [^\]]+\] /;
    const daemon = server.logs().split('\n').find((l) => / info cache\] \d+ MiB \(spill above/.test(l));
    const wrapper = server.logs().split('\n').find((l) => / info config\] effective configuration/.test(l));
    for (const line of [daemon, wrapper]) {
      assert.ok(line, server.logs());
      const m = iso.exec(line!);
      assert.ok(m, line);
      const t = Date.parse(m![1]);
      assert.equal(new Date(t).toISOString(), m![1], 'a real instant, in UTC');
      // The same clock as this process (1 s of slack for a clock step).
      assert.ok(t >= before - 1000 && t <= after + 1000, `${m![1]} between ${new Date(before).toISOString()} and ${new Date(after).toISOString()}`);
    }
    assert.equal(parseDaemonLine(daemon!).time, Date.parse(iso.exec(daemon!)![1]));
    assert.equal(parseDaemonLine(daemon!).category, 'cache');
  });

  it('--log-format json writes pino records, the daemon lines with their level and category', async () => {
    const server = await startServer({ args: ['--log-format', 'json'] });
    await server.stop();
    const records = server.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const config = records.find((r) => r.msg === 'effective configuration');
    assert.ok(config, server.logs());
    assert.equal(config.level, 30);
    assert.equal(config.category, 'config');
    assert.equal(config.config.logFormat, 'json');
    const cache = records.find((r) => r.category === 'cache' && r.source === 'daemon');
    assert.ok(cache, 'a daemon record of category cache');
    assert.equal(cache.level, 30);
    assert.match(cache.msg, /MiB \(spill above 90%/);
    assert.ok(records.some((r) => r.category === 'server' && r.msg === 'stopped'));
    assert.equal(cache.daemonPid, server.pid, 'daemon records carry the daemon pid');
    assert.equal(typeof cache.daemonTime, 'number', 'the daemon line\'s own time, parsed');
    assert.equal(typeof cache.pid, 'number');
    assert.deepEqual(parseDaemonLine('[iocatcher 1970-01-01T00:00:12.345Z warn protocol] dropped'), { level: 'warn', category: 'protocol', msg: 'dropped', time: 12345 });
  });

  it('--log-format json: a daemon that cannot start logs its reason at level 50 and the wrapper a fatal (60) record, with the daemon pid', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'iocatcher-server.js'), '--log-format', 'json', '--port', '23990',
      '--store', '/proc/no-such-dir/store', '127.0.0.1'], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 2, r.stderr);  // a store that cannot be written: exit 2
    const records = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const reason = records.find((x) => /store \/proc\/no-such-dir\/store cannot be written: cannot create the directory/.test(x.msg));
    assert.ok(reason, r.stderr);
    assert.equal(reason.level, 50);
    assert.equal(typeof reason.daemonPid, 'number');
    const fatal = records.find((x) => x.level === 60);
    assert.ok(fatal, r.stderr);
    assert.match(fatal.msg, /daemon exited with status 2/);
    assert.equal(fatal.daemonPid, reason.daemonPid);
    assert.deepEqual(parseDaemonLine('iocatcher-serverd: invalid --port \'x\''), { level: 'error', category: 'daemon', msg: "iocatcher-serverd: invalid --port 'x'" });
    assert.equal(parseDaemonLine('libfabric:1:core: something').level, 'warn');
  });
});
