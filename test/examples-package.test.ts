// The examples as a user's project has them: examples/ copied into a scratch project that
// depends on the packed package (npm pack of this checkout, installed with an empty npm cache),
// compiled there against the installed package's types, and run against a server.
// IOC_SKIP_PACK_TEST=1 skips it (as the other packaging test).
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { run } from './helpers/run';
import { repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';

const enabled = !process.env.IOC_SANITIZED && !process.env.IOC_SKIP_PACK_TEST;

describe('examples in a project of their own', function () {
  this.timeout(600000);
  let server: ServerHandle;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  (enabled ? it : it.skip)('examples/ copied into a scratch project that depends on the packed package compile against it and run', async () => {
    const dir = tmpDir('ioc-examples-');
    const packed = await run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: repoRoot, timeout: 300000 });
    const tarball = path.join(dir, packed.stdout.trim().split('\n').pop()!);
    const app = path.join(dir, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'ioc-examples', version: '1.0.0', private: true, dependencies: { iocatcher: `file:${tarball}` } }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: app, timeout: 300000, env: { ...process.env, npm_config_cache: tmpDir('ioc-npm-cache-') } });

    fs.cpSync(path.join(repoRoot, 'examples'), path.join(app, 'examples'), { recursive: true });
    const sources = fs.readdirSync(path.join(app, 'examples')).filter((f) => f.endsWith('.ts'));
    for (const f of sources) {
      assert.doesNotMatch(fs.readFileSync(path.join(app, 'examples', f), 'utf8'), /from '\.\.\//, `${f} imports only the package`);
    }
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, module: 'commonjs', target: 'ES2022', outDir: 'out', rootDir: '.',
        typeRoots: [path.join(repoRoot, 'node_modules', '@types')], types: ['node'] },
      include: ['examples/*.ts'],
    }));
    await run(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app });
    const example = (name: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
      run(process.execPath, [path.join('out', 'examples', `${name}.js`), ...args], { cwd: app, env: { ...process.env, ...env } });

    // quick-start: the second run resumes after the first one's last step.
    const env = { IOC_SERVER: server.address };
    assert.match((await example('quick-start', ['3'], env)).stdout, /step 3 committed, cells\[0\] = 6$/m);
    const again = await example('quick-start', ['2'], env);
    assert.match(again.stdout, /resuming after step 3/);
    assert.match(again.stdout, /step 5 committed, cells\[0\] = 15$/m);

    // heat2d: 20 steps, then a restart to 40 ends where an uninterrupted run of 40 does.
    const heat = ['--server', server.address, '--grid', '128', '--checkpoint-every', '10', '--quiet'];
    const full = await example('heat2d', [...heat, '--set', 'pkg-full', '--steps', '40']);
    await example('heat2d', [...heat, '--set', 'pkg-resumed', '--steps', '20']);
    const resumed = await example('heat2d', [...heat, '--set', 'pkg-resumed', '--steps', '40', '--restart']);
    assert.match(resumed.stdout, /restarting from the checkpoint at step 20/);
    const sum = (out: string) => /^checksum: ([0-9a-f]{64})$/m.exec(out)![1];
    assert.equal(sum(resumed.stdout), sum(full.stdout));

    // versioned-checkpoints: the kept versions restore with the checksums the run printed.
    const vc = ['--server', server.address, '--set', 'pkg-versions', '--cells', '16384'];
    const made = await example('versioned-checkpoints', ['run', ...vc, '--keep', '2', '--steps', '60', '--every', '20']);
    const sums = new Map([...made.stdout.matchAll(/^version (\d+) at step \d+: checksum ([0-9a-f]+)/gm)].map((m) => [Number(m[1]), m[2]]));
    assert.equal(sums.size, 3);
    const restored = await example('versioned-checkpoints', ['restore', ...vc, '--version', '2']);
    assert.match(restored.stdout, new RegExp(`restored version 2: checksum ${sums.get(2)}`));

    // multi-worker: workers of the installed package.
    const mw = await example('multi-worker', ['--server', server.address, '--object', '0x3018:5', '--workers', '2', '--slice-bytes', String(1 << 20), '--steps', '10', '--every', '5']);
    assert.equal((mw.stdout.match(/slice checksum [0-9a-f]+ ok/g) ?? []).length, 2);
  });
});
