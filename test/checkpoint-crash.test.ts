// Crash rounds of checkpoint sets: the application (test/checkpoint-fixture.ts) or the server is
// SIGKILLed at a moment drawn at random across checkpoint N (uniform over a span a little longer
// than the checkpoints measured so far: any moment must be correct, none is aimed at). After the
// restart, latest() is N-1 or N (without --nvdimm: a version all of whose bytes read back, and
// no older than the last version committed to the store), and restore() gives exactly that
// version's bytes in every region. 3 rounds per case here, 30 with IOC_LONG_CHECKPOINT_CRASH=1
// (scripts/ci-extra.sh). The seed is printed; IOC_CHECKPOINT_SEED replays one.
import * as assert from 'assert';
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { openCheckpoints } from '../src';
import { ServerHandle, startServer, tmpDir } from './helpers/server';
import { contentAt } from './checkpoint-content';

const ROUNDS = process.env.IOC_LONG_CHECKPOINT_CRASH === '1' ? 30 : 3;
const REGIONS = 2;
const SIZE = 8 << 20;
const STORE_EVERY = 2;

function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fixture running against `server`, its output lines as they come. */
class App {
  readonly child: ChildProcess;
  private out = '';
  private waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  readonly exited: Promise<number | null>;
  constructor(server: string, name: string, until: number) {
    this.child = spawn(process.execPath, [path.join(__dirname, 'checkpoint-fixture.js'), server, name, String(REGIONS), String(SIZE), String(until), String(STORE_EVERY)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d: Buffer) => {
      this.out += d.toString();
      this.waiters = this.waiters.filter((w) => {
        const m = w.re.exec(this.out);
        if (m) w.resolve(m);
        return !m;
      });
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }
  wait(re: RegExp): Promise<RegExpExecArray> {
    const m = re.exec(this.out);
    if (m) return Promise.resolve(m);
    return new Promise((resolve) => this.waiters.push({ re, resolve }));
  }
  output(): string {
    return this.out;
  }
  /** Versions the fixture printed as committed, with their durability. */
  committed(): number[] {
    return [...this.out.matchAll(/^committed (\d+)/gm)].map((m) => Number(m[1]));
  }
}

/** latest() of the set and every region's bytes after restore(), checked against the model. */
async function verify(server: string, name: string, allowed: (latest: number | undefined) => boolean, what: string): Promise<number | undefined> {
  const ck = await openCheckpoints(name, { server });
  try {
    const mems: Uint8Array[] = [];
    for (let r = 0; r < REGIONS; r++) mems.push(new Uint8Array((await ck.protect(`r${r}`, SIZE)).buffer));
    const latest = await ck.latest();
    assert.ok(allowed(latest), `${what}: latest() is ${latest}`);
    if (latest !== undefined) {
      await ck.restore(latest);
      mems.forEach((m, r) => {
        const expected = contentAt(latest, r, SIZE);
        assert.ok(Buffer.from(m).equals(Buffer.from(expected)), `${what}: region r${r} differs from version ${latest}`);
      });
    }
    return latest;
  } finally {
    await ck.close();
  }
}

describe('checkpoint crash rounds', function () {
  this.timeout(ROUNDS * 60000 + 60000);
  const seed = Number(process.env.IOC_CHECKPOINT_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = seededRandom(seed);
  before(() => console.log(`      checkpoint crash rounds: ${ROUNDS} per case, seed ${seed} (IOC_CHECKPOINT_SEED=${seed} replays)`));
  // How the rounds of a case ended, printed after it: the kills land all across the checkpoint.
  let outcomes = new Map<string, number>();
  const tally = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  const outcome = (app: App, n: number) => (new RegExp(`^committed ${n}`, 'm').test(app.output()) ? 'committed'
    : (new RegExp(`^failed ${n} (\\w+)`, 'm').exec(app.output())?.[1] ?? 'unfinished').replace(/^(E\w+)$/, 'failed $1'));
  afterEach(function () {
    console.log(`      ${this.currentTest?.title.split(':')[0]}: latest() ${[...outcomes].map(([k, v]) => `${k}: ${v}`).join('; ')} (kills drawn over ${spanMs().toFixed(0)} ms)`);
    outcomes = new Map();
    measured = [];
  });
  // The span kill moments are drawn over: 1.5 x the median duration (call to commit, as the fixture
  // measured it) of the checkpoints of this case's rounds so far (the one before the struck one,
  // and the struck one when it committed before the kill).
  let measured: number[] = [];
  const spanMs = () => {
    const sorted = [...measured].sort((a, b) => a - b);
    return 1.5 * (sorted.length ? sorted[Math.floor(sorted.length / 2)] : 50);
  };
  const running: App[] = [];
  afterEach(async () => {
    for (const a of running.splice(0)) {
      a.child.kill('SIGKILL');
      await a.exited;
    }
  });

  /** One round: the fixture commits three or four versions over the latest (alternately, so
   *  that N is at either durability); `kill` strikes at a random moment after "start N" of the
   *  last. Returns N and the app. */
  let rounds = 0;
  async function round(server: () => string, name: string, kill: (app: App) => Promise<void>): Promise<{ n: number; app: App }> {
    const start = await verify(server(), name, () => true, 'before the round');
    const n = (start ?? 0) + 3 + (rounds++ % 2);
    const app = new App(server(), name, n);
    running.push(app);
    const first = await Promise.race([app.wait(new RegExp(`^start ${n - 1}$`, 'm')).then(() => 'ok'), app.exited.then(() => 'exit')]);
    assert.strictEqual(first, 'ok', `the fixture ended early:\n${app.output()}`);
    const prev = await app.wait(new RegExp(`^(committed ${n - 1} ([\\d.]+) ms|failed ${n - 1})`, 'm'));
    if (prev[2]) measured.push(Number(prev[2]));
    await app.wait(new RegExp(`^start ${n}$`, 'm'));
    const delay = random() * spanMs();
    await new Promise((r) => setTimeout(r, delay));
    await kill(app);
    const struck = new RegExp(`^committed ${n} ([\\d.]+) ms`, 'm').exec(app.output());
    if (struck) measured.push(Number(struck[1]));
    return { n, app };
  }

  it(`application SIGKILLed during checkpoint N: latest() is N-1 or N, restore() exact (${ROUNDS} rounds)`, async () => {
    const server = await startServer({ args: ['--segment-size', '1MB'] });
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const { n, app } = await round(() => server.address, 'crash-app', async (a) => {
          a.child.kill('SIGKILL');
          await a.exited;
        });
        assert.ok(!/failed/.test(app.output()), app.output());
        const latest = await verify(server.address, 'crash-app', (l) => l === n - 1 || l === n, `round ${i} (N=${n})`);
        tally(latest === n ? 'N' : 'N-1');
      }
    } finally {
      await server.stop();
    }
  });

  /** The fixture ends on its own once its checkpoint completed or failed; one stuck on the
   *  restarted server is ended after a minute (the round still checks what it committed). */
  async function settle(app: App): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([app.exited, new Promise((r) => { timer = setTimeout(r, 60000); })]);
    clearTimeout(timer);
    app.child.kill('SIGKILL');
    await app.exited;
  }

  /** A server that can be SIGKILLed and started again on the same port, store and pool. */
  async function restartable(args: string[]): Promise<{ address: () => string; kill: () => Promise<void>; stop: () => Promise<void> }> {
    const store = tmpDir('ioc-store-');
    let s: ServerHandle = await startServer({ store, args });
    const port = s.port;
    return {
      address: () => s.address,
      kill: async () => {
        await s.kill();
        s = await startServer({ store, args, port });
      },
      stop: async () => {
        await s.stop();
      },
    };
  }

  it(`server with --nvdimm SIGKILLed during checkpoint N: latest() is N-1 or N, restore() exact (${ROUNDS} rounds)`, async () => {
    const pool = tmpDir('ioc-pool-');
    const server = await restartable(['--segment-size', '1MB', '--cache-size', '64MB', '--nvdimm', pool]);
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const { n, app } = await round(server.address, 'crash-nvdimm', async () => server.kill());
        await settle(app);
        const latest = await verify(server.address(), 'crash-nvdimm', (l) => l === n - 1 || l === n, `round ${i} (N=${n})\n${app.output()}`);
        tally(`${latest === n ? 'N' : 'N-1'}, the checkpoint ${outcome(app, n)}`);
      }
    } finally {
      await server.stop();
    }
  });

  it(`server without --nvdimm SIGKILLed during checkpoint N: latest() is a version whose every byte reads back, no older than the last one in the store (${ROUNDS} rounds)`, async () => {
    const server = await restartable(['--segment-size', '1MB', '--cache-size', '64MB']);
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const { n, app } = await round(server.address, 'crash-volatile', async () => server.kill());
        await settle(app);
        const lastStored = Math.max(0, ...app.committed().filter((v) => v % STORE_EVERY === 0));
        const latest = await verify(server.address(), 'crash-volatile', (l) => (l ?? 0) <= n && (l ?? 0) >= lastStored,
          `round ${i} (N=${n}, last stored ${lastStored})\n${app.output()}`);
        tally(`${latest === undefined ? 'none' : latest === n ? 'N' : `N-${n - latest}`}, the checkpoint ${outcome(app, n)}`);
      }
    } finally {
      await server.stop();
    }
  });
});
