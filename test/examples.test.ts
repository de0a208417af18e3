// The checkpoint/restart examples, run as real processes against a real server.
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as path from 'path';
import { run } from './helpers/run';
import { repoRoot, ServerHandle, startServer } from './helpers/server';
const distDir = process.env.IOC_DIST_DIR ?? path.join(repoRoot, 'dist');
const example = (name: string) => path.join(distDir, 'examples', `${name}.js`);

describe('examples', function () {
  this.timeout(180000);
  let server: ServerHandle;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  it('heat2d SIGKILLed during a checkpoint and restarted from latest() ends with the same checksum as an uninterrupted run', async () => {
    const common = ['--server', server.address, '--grid', '768', '--steps', '240', '--checkpoint-every', '20'];
    const full = await run(process.execPath, [example('heat2d'), ...common, '--set', 'ex-heat-full', '--quiet']);
    const expected = /^checksum: ([0-9a-f]{64})$/m.exec(full.stdout)![1];

    // First run: killed as soon as its checkpoint of step 60 is under way.
    const first = spawn(process.execPath, [example('heat2d'), ...common, '--set', 'ex-heat-kill'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => first.on('exit', (_c, sig) => resolve(sig)));
    await new Promise<void>((resolve, reject) => {
      first.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/checkpointing step 60\b/.test(out)) {
          first.kill('SIGKILL');
          resolve();
        }
      });
      first.on('exit', () => reject(new Error(`heat2d ended before it could be killed:\n${out}`)));
    });
    assert.equal(await exited, 'SIGKILL');
    assert.doesNotMatch(out, /^checksum:/m, 'the first run did not finish');

    const restarted = await run(process.execPath, [example('heat2d'), ...common, '--set', 'ex-heat-kill', '--restart']);
    const from = Number(/restarting from the checkpoint at step (\d+)/.exec(restarted.stdout)![1]);
    assert.ok(from === 40 || from === 60, `restarted from step ${from} (the kill came during the checkpoint of step 60)`);
    assert.equal(/^checksum: ([0-9a-f]{64})$/m.exec(restarted.stdout)![1], expected);
  });

  it('heat2d --checkpoint-every 0 computes the same grid and commits nothing', async () => {
    const common = ['--server', server.address, '--grid', '128', '--steps', '30', '--quiet'];
    const withCk = await run(process.execPath, [example('heat2d'), ...common, '--checkpoint-every', '10', '--set', 'ex-heat-10']);
    const without = await run(process.execPath, [example('heat2d'), ...common, '--checkpoint-every', '0', '--set', 'ex-heat-0']);
    const sum = (out: string) => /^checksum: ([0-9a-f]{64})$/m.exec(out)![1];
    assert.equal(sum(without.stdout), sum(withCk.stdout));
    assert.match(without.stdout, /no checkpoints/);
    assert.match(without.stdout, /0 checkpoints, 0\.0 MiB sent/);
    // Nothing reached the server: a restart finds no checkpoint there.
    await assert.rejects(
      run(process.execPath, [example('heat2d'), ...common, '--set', 'ex-heat-0', '--restart']),
      (e: { code: number; stderr: string }) => e.code === 1 && /holds no checkpoint/.test(e.stderr),
    );
  });

  it('heat2d --restart on a set without a checkpoint fails clearly', async () => {
    await assert.rejects(
      run(process.execPath, [example('heat2d'), '--server', server.address, '--grid', '64', '--set', 'ex-heat-none', '--restart']),
      (e: { code: number; stderr: string }) => e.code === 1 && /holds no checkpoint/.test(e.stderr),
    );
  });

  it('versioned-checkpoints keeps the last K versions and restores any of them', async () => {
    const common = ['--server', server.address, '--set', 'ex-versions', '--cells', '65536'];
    const made = await run(process.execPath, [example('versioned-checkpoints'), 'run', ...common, '--keep', '3', '--steps', '100', '--every', '20']);
    const versions = [...made.stdout.matchAll(/^version (\d+) at step (\d+): checksum ([0-9a-f]+)/gm)].map((m) => ({ v: Number(m[1]), sum: m[3] }));
    assert.deepEqual(versions.map((x) => x.v), [1, 2, 3, 4, 5]);
    assert.match(made.stdout, /kept 3, 4, 5/);
    for (const v of [3, 5, 4]) {
      const r = await run(process.execPath, [example('versioned-checkpoints'), 'restore', ...common, '--version', String(v)]);
      assert.match(r.stdout, new RegExp(`restored version ${v}: checksum ${versions[v - 1].sum}`));
    }
    await assert.rejects(
      run(process.execPath, [example('versioned-checkpoints'), 'restore', ...common, '--version', '2']),
      (e: { code: number; stderr: string }) => e.code === 1 && /version 2 is not kept \(kept: 3, 4, 5\)/.test(e.stderr),
    );
  });

  it('quick-start resumes after the last committed step', async () => {
    const env = { ...process.env, IOC_SERVER: server.address };
    const first = await run(process.execPath, [example('quick-start'), '3'], { env });
    assert.match(first.stdout, /resuming after step 0/);
    assert.match(first.stdout, /step 3 committed, cells\[0\] = 6$/m);
    const second = await run(process.execPath, [example('quick-start'), '2'], { env });
    assert.match(second.stdout, /resuming after step 3/);
    assert.match(second.stdout, /step 5 committed, cells\[0\] = 15$/m);
  });

  it('multi-worker: workers checkpoint disjoint registered slices of one object; an overlap is refused', async () => {
    const r = await run(process.execPath, [example('multi-worker'), '--server', server.address, '--object', '0x3017:5',
      '--workers', '3', '--slice-bytes', String(2 << 20), '--steps', '30', '--every', '10']);
    assert.equal((r.stdout.match(/slice checksum [0-9a-f]+ ok/g) ?? []).length, 3);
    assert.match(r.stdout, /overlapping mapping refused \(EBUSY\)/);
  });
});
