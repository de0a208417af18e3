// The failpoint mechanism of test builds (native/common/failpoint.h): IOC_FAILPOINTS is checked
// at start (a typo must not silently test nothing), each active failpoint is logged, and a
// generic action works where a point takes it. The faults themselves are exercised by the tests
// that use them (integrity-*, partition, burst, stalled-writer, reliability, c-api-compat).
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { IocClient } from '../src';
import { rejectsWithCode } from './helpers/assertions';
import { failpoints } from './helpers/failpoints';
import { failpointNames } from './helpers/release';
import { pattern, repoRoot, ServerHandle, startServer } from './helpers/server';

async function startFails(points: Record<string, string>): Promise<string> {
  try {
    const s = await startServer({ env: failpoints(points) });
    await s.stop();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`the server started with ${JSON.stringify(points)}`);
}

describe('failpoints (test builds)', function () {
  this.timeout(60000);
  const servers: ServerHandle[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });

  it('an unknown failpoint name stops the daemon at start, naming it and the known ones', async () => {
    const out = await startFails({ 'server.no_ecko': 'on' });
    assert.match(out, /IOC_FAILPOINTS: unknown failpoint 'server\.no_ecko'; known: .*\bserver\.no_echo\b/);
    for (const name of failpointNames()) assert.ok(out.includes(name), `${name} listed`);
  });

  it('a bad action, or one the point does not take, stops the daemon at start', async () => {
    assert.match(await startFails({ 'server.stall_inplace_write': 'on' }), /failpoint server\.stall_inplace_write takes value\(N\), not on/);
    assert.match(await startFails({ 'server.no_echo': 'sleep(soon)' }), /failpoint server\.no_echo=sleep\(soon\): sleep\(MS\) takes milliseconds/);
    assert.match(await startFails({ 'server.no_echo': 'error(EIO)' }), /failpoint server\.no_echo takes on, off, sleep, pause, kill or sigterm, not error\(EIO\)/);
    assert.match(await startFails({ 'store.data_io': 'after(0):error(EIO)' }), /after\(N\) and first\(N\) take N >= 1/);
    assert.match(await startFails({ 'store.data_io': 'pause(relative/gate)' }), /pause\(PATH\) takes an absolute path/);
  });

  it('each active failpoint is logged once at start; store.data_io=error(EIO) fails the store\'s writes with EIO', async () => {
    const server = await startServer({ args: ['--write-behind', 'off'], env: failpoints({ 'store.data_io': 'error(EIO)', 'server.no_echo': 'off' }) });
    servers.push(server);
    const active = server.logs().match(/failpoint \S+ active/g) ?? [];
    assert.deepEqual(active, ['failpoint server.no_echo=off active', 'failpoint store.data_io=error(EIO) active']);
    const client = await IocClient.connect(server.host, server.port);
    try {
      assert.equal(await client.write(5, 1, 0, pattern(4096, 5)), 4096);  // into the cache
      await rejectsWithCode(client.flush(5, 1), 'EIO');  // the store's write fails
    } finally {
      client.close();
    }
  });

  it('the client library checks IOC_FAILPOINTS too: a typo fails the connection with EINVAL, saying why on stderr', () => {
    const script = `
      const { IocClient } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'src'))});
      IocClient.connect('127.0.0.1', 1).then(() => console.log('connected'), (e) => console.log('rejected ' + e.code));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...failpoints({ 'client.no_fencin': 'on' }) } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^rejected EINVAL$/m);
    assert.match(r.stderr, /iocatcher-client: IOC_FAILPOINTS: unknown failpoint 'client\.no_fencin'; known: .*\bclient\.no_fencing\b/);
  });
});
