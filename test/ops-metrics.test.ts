// Operations: the Prometheus metrics endpoint (iocatcher-server --metrics) after known traffic,
// and the iocatcher admin command (stats through the endpoint; ls, flush, cow through the
// protocol) against a running server.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { run } from './helpers/run';
import { IocClient } from '../src/client';
import { delta, freePort, httpGet, parseProm, scrape } from './helpers/ops';
import { pattern, repoRoot, ServerHandle, startServer } from './helpers/server';
const KiB = 1024;
const MiB = 1024 * 1024;
const admin = path.join(repoRoot, 'bin', 'iocatcher.js');

describe('ops: metrics endpoint', function () {
  this.timeout(60000);
  let server: ServerHandle;
  let metrics: string;
  let client: IocClient;

  before(async () => {
    metrics = `127.0.0.1:${await freePort()}`;
    server = await startServer({ args: ['--metrics', metrics, '--cache-size', '256MB', '--stats-interval', '0', '--write-behind', 'off'] });
    client = await IocClient.connect(server.host, server.port);
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  it('serves Prometheus text with the daemon up', async () => {
    const r = await httpGet(`http://${metrics}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^# TYPE ioc_requests_total counter$/m);
    assert.match(r.body, /^# TYPE ioc_request_duration_seconds histogram$/m);
    assert.equal(parseProm(r.body).get('ioc_up'), 1);
    assert.equal((await httpGet(`http://${metrics}/nope`)).status, 404);
  });

  it('counters move by exactly the traffic sent', async () => {
    const N = 5, K = 2, M = 3;
    const before = await scrape(metrics);
    for (let i = 0; i < N; i++) await client.write(1, 2, i * 4 * KiB, pattern(4 * KiB, i));  // eager
    for (let i = 0; i < K; i++) await client.write(1, 3, i * MiB, pattern(MiB, 100 + i));     // RMA (fi_read)
    for (let i = 0; i < M; i++) {
      const back = await client.read(1, 3, (i % K) * MiB, MiB);                                // RMA (fi_write)
      assert.ok(back.equals(pattern(MiB, 100 + (i % K))));
    }
    await client.flush(1, 2);
    await assert.rejects(client.cow({ high: 9, low: 9 }, { high: 9, low: 10 }), { code: 'ENOENT' });
    const after = await scrape(metrics);
    const d = (k: string) => delta(before, after, k);

    assert.equal(d('ioc_requests_total{type="OBJ_WRITE"}'), N + K);
    assert.equal(d('ioc_requests_total{type="OBJ_READ"}'), M);
    assert.equal(d('ioc_requests_total{type="FLUSH"}'), 1);
    assert.equal(d('ioc_requests_total{type="COW"}'), 1);
    assert.equal(d('ioc_written_bytes_total'), N * 4 * KiB + K * MiB);
    assert.equal(d('ioc_read_bytes_total'), M * MiB);
    assert.equal(d('ioc_transfers_total{mode="eager",op="write"}'), N);
    assert.equal(d('ioc_transfers_total{mode="rma",op="write"}'), K);
    assert.equal(d('ioc_transfers_total{mode="rma",op="read"}'), M);
    assert.equal(d('ioc_transfers_total{mode="eager",op="read"}'), 0);
    assert.equal(d('ioc_errors_total{type="COW_ACK",code="ENOENT"}'), 1);
    assert.equal(d('ioc_dropped_messages_total'), 0);
    // Latency histograms: one observation per request, cumulative buckets ending at the count.
    for (const [type, n] of [['OBJ_WRITE', N + K], ['OBJ_READ', M], ['FLUSH', 1], ['COW', 1]] as Array<[string, number]>) {
      assert.equal(d(`ioc_request_duration_seconds_count{type="${type}"}`), n, type);
      assert.equal(d(`ioc_request_duration_seconds_bucket{le="+Inf",type="${type}"}`), n, type);
      assert.ok(d(`ioc_request_duration_seconds_sum{type="${type}"}`) > 0, type);
      const buckets = [...after].filter(([k]) => k.startsWith(`ioc_request_duration_seconds_bucket{`) && k.includes(`type="${type}"`)).map(([, v]) => v);
      assert.ok(buckets.length > 10);
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], `${type} buckets are cumulative`);
    }
    // Cache: one miss per new segment (one 8 MiB segment per object), hits for the rest.
    assert.equal(d('ioc_cache_misses_total'), 2);
    assert.equal(d('ioc_cache_hits_total'), (N - 1) + (K - 1) + M);
    assert.equal(d('ioc_cache_flushed_bytes_total'), N * 4 * KiB);
    assert.equal(after.get('ioc_cache_dirty_bytes'), K * MiB);       // (1,3) not flushed yet
    assert.equal(after.get('ioc_cache_bytes'), 2 * 8 * MiB);
    assert.equal(after.get('ioc_cache_limit_bytes'), 256 * MiB);
    assert.equal(d('ioc_cache_spilled_bytes_total'), 0);
    assert.ok(after.get('ioc_connected_clients{channel="tcp"}')! >= 1);
    assert.ok(after.get('ioc_connected_clients{channel="fabric"}')! >= 1);
  });

  it('/stats and /objects answer JSON; iocatcher stats prints the first, ls lists the objects through the protocol', async () => {
    const stats = JSON.parse((await httpGet(`http://${metrics}/stats`)).body);
    assert.equal(stats.cache.dirtyBytes, 2 * MiB);
    const objects = JSON.parse((await httpGet(`http://${metrics}/objects`)).body);
    const o13 = objects.objects.find((o: any) => o.high === '1' && o.low === '3');
    assert.deepEqual(o13, { high: '1', low: '3', size: 2 * MiB, segments: 1, cachedBytes: 8 * MiB, dirtyBytes: 2 * MiB });
    const o12 = objects.objects.find((o: any) => o.high === '1' && o.low === '2');
    assert.equal(o12.dirtyBytes, 0);

    const s = await run(process.execPath, [admin, 'stats', '--metrics', metrics]);
    assert.match(s.stdout, /^requests .*OBJ_WRITE=7/m);
    assert.match(s.stdout, /rma read 3/);
    const sj = await run(process.execPath, [admin, 'stats', '--json'], { env: { ...process.env, IOC_METRICS: metrics } });
    assert.equal(JSON.parse(sj.stdout).bytes.written, 5 * 4 * KiB + 2 * MiB);
    const ls = await run(process.execPath, [admin, 'ls', '--server', server.address]);
    assert.match(ls.stdout, /^\s+SIZE\s+STORED\s+CACHED\s+DIRTY\s+ID$/m);
    assert.match(ls.stdout, /^\s+2\.0 MiB\s+-\s+\d+\.\d MiB\s+2\.0 MiB\s+1:3$/m);
    const lsJson = await run(process.execPath, [admin, 'ls', '--json'], { env: { ...process.env, IOC_SERVER: server.address } });
    const listed = lsJson.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    const l13 = listed.find((o) => o.id === '1:3');
    assert.ok(l13.cachedBytes >= 2 * MiB && l13.cachedBytes <= 8 * MiB, `cached ${l13.cachedBytes}`);
    assert.deepEqual({ ...l13, cachedBytes: 0 },
      { id: '1:3', high: '1', low: '3', size: 2 * MiB, storedBytes: 0, cachedBytes: 0, dirtyBytes: 2 * MiB, stored: false, server: server.address });
    assert.deepEqual(listed.find((o) => o.id === '1:2').stored, true, 'flushed: stored');
  });

  it('iocatcher flush and cow act on the running server', async () => {
    const f = await run(process.execPath, [admin, 'flush', '1:3', '--server', server.address]);
    assert.match(f.stdout, /flushed 1:3/);
    assert.equal(JSON.parse((await httpGet(`http://${metrics}/stats`)).body).cache.dirtyBytes, 0);
    const c = await run(process.execPath, [admin, 'cow', '1:3', '1:4'], { env: { ...process.env, IOC_SERVER: server.address } });
    assert.match(c.stdout, /copied 1:3 to 1:4/);
    assert.ok((await client.read(1, 4, MiB, MiB)).equals(pattern(MiB, 101)));
    const exists = spawnSync(process.execPath, [admin, 'cow', '1:3', '1:4', '--server', server.address], { encoding: 'utf8' });
    assert.equal(exists.status, 1);
    assert.match(exists.stderr, /EEXIST/);
    const ok = spawnSync(process.execPath, [admin, 'cow', '1:3', '1:4', '--allow-exist', '--server', server.address], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
  });

  it('iocatcher reports usage errors (exit 2) and unreachable servers (exit 1) clearly', () => {
    const help = spawnSync(process.execPath, [admin, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    for (const word of ['stats', 'ls', 'stat', 'rm', 'get', 'put', 'flush', 'cow', '--metrics', '--server', '--allow-exist']) assert.ok(help.stdout.includes(word), word);
    const cowHelp = spawnSync(process.execPath, [admin, 'cow', '--help'], { encoding: 'utf8' });
    assert.match(cowHelp.stdout, /^Usage: iocatcher cow SRC_HIGH:SRC_LOW DST_HIGH:DST_LOW/);
    for (const [args, msg] of [
      [[], /missing COMMAND/],
      [['bogus'], /unknown command 'bogus'/],
      [['flush'], /flush takes 1 argument/],
      [['flush', 'x:y'], /bad object id 'x:y'/],
      [['stats'], /needs --metrics/],
    ] as Array<[string[], RegExp]>) {
      const r = spawnSync(process.execPath, [admin, ...args], { encoding: 'utf8', env: { ...process.env, IOC_METRICS: '' } });
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
    const down = spawnSync(process.execPath, [admin, 'stats', '--metrics', '127.0.0.1:1'], { encoding: 'utf8' });
    assert.equal(down.status, 1);
    assert.match(down.stderr, /cannot reach the metrics endpoint/);
  });

  it('a stopped daemon: /metrics answers within 5 s with the last figures, ioc_up 0 and their age; fresh again after SIGCONT', async () => {
    const m2 = `127.0.0.1:${await freePort()}`;
    const s2 = await startServer({ args: ['--metrics', m2] });
    const c2 = await IocClient.connect(s2.host, s2.port);
    try {
      for (let i = 0; i < 3; i++) await c2.write(5, 1, i * 4 * KiB, pattern(4 * KiB, i));
      const before = await scrape(m2);
      assert.equal(before.get('ioc_up'), 1);
      assert.equal(before.get('ioc_stats_age_seconds'), 0);
      assert.equal(before.get('ioc_requests_total{type="OBJ_WRITE"}'), 3);
      process.kill(s2.pid, 'SIGSTOP');  // freeze the daemon: the wrapper stays up
      let frozen: Map<string, number>;
      try {
        const t0 = Date.now();
        frozen = await scrape(m2);
        assert.ok(Date.now() - t0 < 5000, `answered in ${Date.now() - t0} ms`);
        frozen.set('again', (await scrape(m2)).get('ioc_up')!);  // a second scrape shares the pending question
      } finally {
        process.kill(s2.pid, 'SIGCONT');
      }
      assert.equal(frozen.get('ioc_up'), 0);
      assert.equal(frozen.get('again'), 0);
      assert.ok(frozen.get('ioc_stats_age_seconds')! > 0);
      assert.equal(frozen.get('ioc_daemon_stopped'), 1);
      // The last figures, not zeros (which rate() would read as a counter reset).
      for (const key of ['ioc_requests_total{type="OBJ_WRITE"}', 'ioc_written_bytes_total', 'ioc_cache_bytes', 'ioc_cache_misses_total']) {
        assert.equal(frozen.get(key), before.get(key), key);
      }
      // Once it runs again: fresh figures (the late answers to the abandoned questions are dropped).
      await c2.write(5, 1, 0, pattern(4 * KiB, 9));
      const after = await scrape(m2);
      assert.equal(after.get('ioc_up'), 1);
      assert.equal(after.get('ioc_stats_age_seconds'), 0);
      assert.equal(after.get('ioc_daemon_stopped'), 0);
      assert.equal(after.get('ioc_requests_total{type="OBJ_WRITE"}'), 4);
      assert.equal((await scrape(m2)).get('ioc_requests_total{type="OBJ_WRITE"}'), 4);
    } finally {
      c2.close();
      await s2.stop();
    }
  });

  it('ioc_build_info and the daemon process figures (from /proc), beside the wrapper\'s own', async () => {
    const r = await httpGet(`http://${metrics}/metrics`);
    const m = parseProm(r.body);
    const version = require(path.join(repoRoot, 'package.json')).version;
    assert.equal(m.get(`ioc_build_info{version="${version}",node="${process.version}",platform="${process.platform}-${process.arch}"}`), 1);
    assert.match(r.body, /^# TYPE ioc_daemon_cpu_seconds_total counter$/m);
    assert.ok(m.get('ioc_daemon_cpu_seconds_total')! >= 0);
    assert.ok(m.get('ioc_daemon_resident_memory_bytes')! > 1024 * 1024);
    assert.ok(m.get('ioc_daemon_open_fds')! > 3);
    assert.ok(m.get('ioc_daemon_max_fds')! >= m.get('ioc_daemon_open_fds')!);
    assert.ok(m.get('ioc_daemon_threads')! > 1);
    const start = m.get('ioc_daemon_start_time_seconds')!;
    assert.ok(start > 1.5e9 && start <= Date.now() / 1000 + 1, String(start));
    assert.equal(m.get('ioc_daemon_stopped'), 0);
    assert.ok(m.get('ioc_wrapper_process_resident_memory_bytes')! > 0);
  });
});
