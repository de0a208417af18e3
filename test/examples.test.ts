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

  it('heat2d killed with SIGKILL and restarted ends with the same checksum as an uninterrupted run', async () => {
    const common = ['--server', server.address, '--grid', '768', '--steps', '240', '--checkpoint-every', '20'];
    const full = await run(process.execPath, [example('heat2d'), ...common, '--object', '0x4ea7:10', '--quiet']);
    const expected = /^checksum: ([0-9a-f]{64})$/m.exec(full.stdout)![1];

    // First run: killed once it has passed its third checkpoint.
    const first = spawn(process.execPath, [example('heat2d'), ...common, '--object', '0x4ea7:11'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => first.on('exit', (_c, sig) => resolve(sig)));
    await new Promise<void>((resolve, reject) => {
      first.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/checkpoint at step 60\b/.test(out)) {
          first.kill('SIGKILL');
          resolve();
        }
      });
      first.on('exit', () => reject(new Error(`heat2d ended before it could be killed:\n${out}`)));
    }).catch((e) => { throw e; });
    assert.equal(await exited, 'SIGKILL');
    assert.doesNotMatch(out, /^checksum:/m, 'the first run did not finish');

    const restarted = await run(process.execPath, [example('heat2d'), ...common, '--object', '0x4ea7:11', '--restart']);
    const from = Number(/restarting from the checkpoint at step (\d+)/.exec(restarted.stdout)![1]);
    assert.ok(from >= 60 && from < 240 && from % 20 === 0, `restarted from step ${from}`);
    assert.equal(/^checksum: ([0-9a-f]{64})$/m.exec(restarted.stdout)![1], expected);
  });

  it('heat2d --checkpoint-every 0 computes the same grid and writes nothing back', async () => {
    const common = ['--server', server.address, '--grid', '128', '--steps', '30', '--quiet'];
    const withCk = await run(process.execPath, [example('heat2d'), ...common, '--checkpoint-every', '10', '--object', '0x4ea7:20']);
    const without = await run(process.execPath, [example('heat2d'), ...common, '--checkpoint-every', '0', '--object', '0x4ea7:21']);
    const sum = (out: string) => /^checksum: ([0-9a-f]{64})$/m.exec(out)![1];
    assert.equal(sum(without.stdout), sum(withCk.stdout));
    assert.match(without.stdout, /no checkpoints/);
    assert.match(without.stdout, /0 checkpoints, 0\.0 MiB written back/);
    // Nothing reached the server: a restart finds no checkpoint there.
    await assert.rejects(
      run(process.execPath, [example('heat2d'), ...common, '--object', '0x4ea7:21', '--restart']),
      (e: { code: number; stderr: string }) => e.code === 1 && /holds no checkpoint/.test(e.stderr),
    );
  });

  it('heat2d --restart on an object without a checkpoint fails clearly', async () => {
    await assert.rejects(
      run(process.execPath, [example('heat2d'), '--server', server.address, '--grid', '64', '--object', '0x4ea7:99', '--restart']),
      (e: { code: number; stderr: string }) => e.code === 1 && /holds no checkpoint/.test(e.stderr),
    );
  });

  it('versioned-checkpoints keeps the last K versions and restores any of them', async () => {
    const common = ['--server', server.address, '--object', '0x7e75:200', '--keep', '3', '--cells', '65536'];
    const made = await run(process.execPath, [example('versioned-checkpoints'), 'run', ...common, '--steps', '100', '--every', '20']);
    const versions = [...made.stdout.matchAll(/^version (\d+) at step (\d+): checksum ([0-9a-f]+)/gm)].map((m) => ({ v: Number(m[1]), sum: m[3] }));
    assert.deepEqual(versions.map((x) => x.v), [1, 2, 3, 4, 5]);
    for (const v of [3, 5, 4]) {
      const r = await run(process.execPath, [example('versioned-checkpoints'), 'restore', ...common, '--version', String(v)]);
      assert.match(r.stdout, new RegExp(`restored version ${v} .* checksum ${versions[v - 1].sum} ok`));
    }
    await assert.rejects(
      run(process.execPath, [example('versioned-checkpoints'), 'restore', ...common, '--version', '2']),
      (e: { code: number; stderr: string }) => e.code === 1 && /version 2 is not kept \(kept: 3, 4, 5\)/.test(e.stderr),
    );
  });

  it('multi-worker: workers checkpoint disjoint registered slices of one object; an overlap is refused', async () => {
    const r = await run(process.execPath, [example('multi-worker'), '--server', server.address, '--object', '0x3017:5',
      '--workers', '3', '--slice-bytes', String(2 << 20), '--steps', '30', '--every', '10']);
    assert.equal((r.stdout.match(/slice checksum [0-9a-f]+ ok/g) ?? []).length, 3);
    assert.match(r.stdout, /overlapping mapping refused \(EBUSY\)/);
  });
});
