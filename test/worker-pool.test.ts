// The native worker pool (native/common/worker_pool.h) that ummap's readers and write-back
// helpers, the addon's asynchronous calls and the server's store threads run on: its unit test
// (native/tools/worker_pool_test.cc).
import { strict as assert } from 'assert';
import * as path from 'path';
import { run } from './helpers/run';
import { buildDir } from './helpers/server';

describe('worker pool', function () {
  this.timeout(120000);

  it('order, limits, jobs waiting for later ones, completions, names, stop, abandon, idle threads', async () => {
    const { stdout } = await run(path.join(buildDir, 'iocatcher-worker-pool-test'));
    assert.doesNotMatch(stdout, /^FAIL/m);
    assert.match(stdout, /^(\d+) passed, 0 failed$/m);
    const passed = Number(/^(\d+) passed/m.exec(stdout)![1]);
    assert.ok(passed >= 30, `only ${passed} checks ran`);
  });
});
