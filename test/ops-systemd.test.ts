// Operations under systemd: the unit of docs/operations.md passes `systemd-analyze verify`
// (runs as an unprivileged user, Type=notify), and the daemon sends READY=1 (then STOPPING=1)
// to the NOTIFY_SOCKET that the test binds, as systemd would. Node has no unix datagram sockets:
// a python3 child binds and reads the socket.
import { strict as assert } from 'assert';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { IocClient } from '../src';
import { hex16 } from './helpers/assertions';
import { repoRoot, startServer, tmpDir } from './helpers/server';

const docs = path.join(repoRoot, 'docs', 'operations.md');

/** The ```ini block of the docs that holds the unit (the one with [Service]). */
function documentedUnit(): string {
  const blocks = [...fs.readFileSync(docs, 'utf8').matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]);
  const unit = blocks.find((b) => b.includes('[Service]'));
  assert.ok(unit, 'docs/operations.md has a unit file');
  return unit;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const LISTENER = `
import socket, sys, json
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path.replace('@', '\\0', 1) if path.startswith('@') else path)
s.settimeout(60)
print('bound', flush=True)
while True:
    msg = s.recv(4096).decode()
    print(json.dumps(msg), flush=True)
    if 'STOPPING=1' in msg.split('\\n'):
        break
`;

/** A python3 process reading datagrams on `address`; messages() are those received so far. */
async function notifyListener(address: string): Promise<{ proc: ChildProcess; messages: string[]; next: (pred: (m: string) => boolean) => Promise<string> }> {
  const proc = spawn('python3', ['-c', LISTENER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  const waiters: Array<() => void> = [];
  let out = '';
  let bound = false;
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line === 'bound') bound = true;
      else messages.push(JSON.parse(line));
      for (const w of waiters.splice(0)) w();
    }
  });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => { for (const w of waiters.splice(0)) w(); resolve(); }));
  const until = async (cond: () => boolean, what: string) => {
    while (!cond()) {
      if (proc.exitCode !== null) throw new Error(`the listener ended before ${what}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), exited]);
    }
  };
  await until(() => bound, 'binding');
  return {
    proc,
    messages,
    next: async (pred) => {
      await until(() => messages.some(pred), 'the expected message');
      return messages.find(pred)!;
    },
  };
}

describe('ops: systemd', function () {
  this.timeout(60000);

  it('the documented unit runs as an unprivileged user with Type=notify and passes systemd-analyze verify', function () {
    const unit = documentedUnit();
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^NotifyAccess=all$/m, 'the daemon is a child of the main process');
    const user = /^User=(\S+)$/m.exec(unit);
    assert.ok(user && user[1] !== 'root' && user[1] !== '0', 'User= names an unprivileged user');
    assert.match(unit, /^EnvironmentFile=\S+$/m);
    if (!has('systemd-analyze')) {
      console.log('      skipped the verify step: systemd-analyze is not installed');
      return this.skip();
    }
    // The same unit with this checkout's node and package in place of /usr/bin/node and /opt/iocatcher.
    const local = unit.replace('/usr/bin/node', process.execPath).replace('/opt/iocatcher', repoRoot);
    const file = path.join(tmpDir('ioc-unit-'), 'iocatcher.service');
    fs.writeFileSync(file, local);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 50000 });
    assert.equal(r.status, 0, r.stderr);
    // verify exits 0 on settings it ignores: any word about our unit is a failure.
    const about = r.stderr.split('\n').filter((l) => l.includes('iocatcher.service'));
    assert.deepEqual(about, [], r.stderr);
  });

  for (const kind of ['path', 'abstract'] as const) {
    it(`the daemon sends READY=1 once it accepts clients, STOPPING=1 on SIGTERM (NOTIFY_SOCKET ${kind})`, async function () {
      if (!has('python3')) {
        console.log('      skipped: python3 (to bind a unix datagram socket) is not installed');
        return this.skip();
      }
      const address = kind === 'path' ? path.join(tmpDir('ioc-notify-'), 'notify.sock') : `@iocatcher-test-${process.pid}-${Date.now()}`;
      const listener = await notifyListener(address);
      try {
        const server = await startServer({ env: { NOTIFY_SOCKET: address } });
        try {
          const ready = await listener.next((m) => m.split('\n').includes('READY=1'));
          assert.match(ready, new RegExp(`^STATUS=serving on 127\\.0\\.0\\.1:${server.port}$`, 'm'));
          // READY=1 comes after the "ready on" line: the server accepts clients.
          assert.match(server.logs(), /ready on 127\.0\.0\.1/);
        } finally {
          await server.stop();
        }
        await listener.next((m) => m.split('\n').includes('STOPPING=1'));
        assert.equal(listener.messages.filter((m) => m.includes('READY=1')).length, 1);
      } finally {
        listener.proc.kill();
      }
    });
  }

  it('runs as an unprivileged user (nobody): notifies READY=1, serves, writes its store', async function () {
    if (process.getuid?.() !== 0 || !has('setpriv') || !has('python3')) {
      console.log('      skipped: needs root (to drop to nobody), setpriv and python3');
      return this.skip();
    }
    const NOBODY = 65534;
    const store = tmpDir('ioc-unpriv-');
    fs.chmodSync(store, 0o777);
    const sockDir = tmpDir('ioc-notify-');
    fs.chmodSync(sockDir, 0o777);
    const address = path.join(sockDir, 'notify.sock');
    const listener = await notifyListener(address);
    fs.chmodSync(address, 0o666);  // systemd's socket accepts any user's datagrams too
    try {
      const server = await startServer({
        store: path.join(store, 'objects'),
        env: { NOTIFY_SOCKET: address },
        runUnder: ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'],
      });
      try {
        assert.equal(fs.statSync(`/proc/${server.pid}`).uid, NOBODY, 'the daemon runs as nobody');
        await listener.next((m) => m.split('\n').includes('READY=1'));
        const c = await IocClient.connect(server.address);
        try {
          await c.write(51, 1, 0, Buffer.alloc(8192, 7));
          await c.flush(51, 1);
        } finally {
          c.close();
        }
        const file = path.join(store, 'objects', `${hex16(51)}-${hex16(1)}`);
        assert.equal(fs.statSync(file).uid, NOBODY);
        assert.ok(fs.readFileSync(file).equals(Buffer.alloc(8192, 7)));
      } finally {
        assert.equal(await server.stop(), 0);
      }
    } finally {
      listener.proc.kill();
    }
  });

  it('a NOTIFY_SOCKET nobody listens on is a warning, not a failure', async () => {
    const server = await startServer({ env: { NOTIFY_SOCKET: path.join(tmpDir('ioc-notify-'), 'nobody.sock') } });
    assert.equal(await server.stop(), 0);
    assert.match(server.logs(), /cannot notify systemd on .*nobody\.sock/);
  });
});
