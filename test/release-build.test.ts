// Failpoints and the addon's test exports are compiled only into test builds: the release build
// (scripts/release-build.js, as a consumer's npm install and the package's prebuilt binaries are
// built) holds none of their names, ignores IOC_FAILPOINTS and has no test exports.
// The release build goes to build-release/ (incremental: minutes the first time, seconds after).
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { rejectsWithCode } from './helpers/assertions';
import { failpoints } from './helpers/failpoints';
import { failpointNames, testOnlyStringsIn } from './helpers/release';
import { run } from './helpers/run';
import { buildDir, pattern, repoRoot, ServerHandle, startServer } from './helpers/server';

const releaseRoot = path.join(repoRoot, 'build-release');
const release = path.join(releaseRoot, 'Release');
const binaries = ['iocatcher-serverd', 'libiocatcher-client.so.0', 'iocatcher.node'];

// The sanitizer pass (IOC_SANITIZED) would only build the same release build again.
(process.env.IOC_SANITIZED ? describe.skip : describe)('release build', function () {
  this.timeout(1200000);
  const servers: ServerHandle[] = [];
  before(async () => {
    await run(process.execPath, [path.join(repoRoot, 'scripts', 'release-build.js'), releaseRoot], { timeout: 1100000 });
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });

  it('the daemon, the client library and the addon hold no failpoint name, no IOC_FAILPOINTS, no IOC_TEST, no test export', () => {
    assert.ok(failpointNames().length >= 19, failpointNames().join(' '));
    for (const name of binaries) {
      assert.deepEqual(testOnlyStringsIn(path.join(release, name)), [], `release ${name}`);
    }
    // The same check finds them in the test build: it can fail.
    for (const name of binaries) {
      const found = testOnlyStringsIn(path.join(buildDir, name));
      assert.ok(found.includes('IOC_FAILPOINTS') && found.includes('server.no_echo'), `test build ${name}: ${found.join(' ')}`);
    }
    assert.ok(testOnlyStringsIn(path.join(buildDir, 'iocatcher.node')).includes('umapTest'));
  });

  it('the release daemon ignores IOC_FAILPOINTS: no persona, no kill, no typo check', async () => {
    const server = await startServer({
      args: ['--max-object-size', '1MB'],
      env: {
        IOC_BUILD_DIR: releaseRoot,
        ...failpoints({ 'server.original_errors': 'on', 'server.write_committed': 'kill', 'no.such.failpoint': 'on' }),
      },
    });
    servers.push(server);
    const client = await IocClient.connect(server.host, server.port);
    try {
      assert.equal(await client.write(9, 1, 0, pattern(4096, 9)), 4096);  // not killed
      assert.ok((await client.read(9, 1, 0, 4096)).equals(pattern(4096, 9)));
      await rejectsWithCode(client.read(9, 1, 2 << 20, 4096), 'EFBIG');  // our errno, not the original's -1
    } finally {
      client.close();
    }
    assert.doesNotMatch(server.logs(), /failpoint/i);
  });

  it('the release addon has no test or bench exports; testHooks() says it is a release build', () => {
    const script = `
      const native = require(${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'native'))});
      const a = native.addon();
      console.log('exports', Object.keys(a).filter((k) => /^umap(Test|Bench)/.test(k)).length, typeof a.umapSupport);
      try { native.testHooks(); console.log('hooks present'); } catch (e) { console.log(e.code + ': ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, IOC_BUILD_DIR: releaseRoot } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^exports 0 function$/m);
    assert.match(r.stdout, /^ENOTSUP: the native addon in .*build-release\/Release is a release build: test hooks are only in test builds/m);
    assert.ok(fs.existsSync(path.join(release, 'iocatcher.node')));
  });
});
