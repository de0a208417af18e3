// Placement over several cache servers (rendezvous hashing in the C client): the native unit
// test of the router, then real servers with directory stores, where each stored object file
// shows which server held the object.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { run } from './helpers/run';
import { IocClient } from '../src';
import { buildDir, pattern, ServerHandle, startServer } from './helpers/server';
import { hex16, rejectsWithCode } from './helpers/assertions';


describe('several cache servers (rendezvous placement)', function () {
  this.timeout(120000);

  it('router unit test: parsing, determinism, order independence, spread, minimal movement', async () => {
    const { stdout } = await run(path.join(buildDir, 'iocatcher-router-test'));
    assert.match(stdout, /^(\d+) passed, 0 failed$/m);
    assert.doesNotMatch(stdout, /^FAIL/m);
  });

  describe('two servers with their own directory stores', () => {
    const servers: ServerHandle[] = [];
    const clients: IocClient[] = [];
    before(async () => {
      servers.push(await startServer(), await startServer());
    });
    after(async () => {
      for (const c of clients) c.close();
      for (const s of servers) await s.stop();
    });

    it('places each object on the one server that rendezvous hashing names, and every client agrees', async () => {
      const a = await IocClient.connect(servers.map((s) => s.address).join(','));
      const b = await IocClient.connect([servers[1].address, servers[0].address]);
      clients.push(a, b);
      const H = 7000;
      const lows = Array.from({ length: 16 }, (_, i) => i + 1);
      await Promise.all(lows.map((low) => a.write(H, low, 0, pattern(50000 + low, low))));
      for (const low of lows) await a.flush(H, low);
      const held = servers.map(() => 0);
      for (const low of lows) {
        const owner = a.serverOf(H, low);
        assert.equal(b.serverOf(H, low), owner, 'both clients agree');
        const name = `${hex16(H)}-${hex16(low)}`;
        servers.forEach((s, i) => {
          const there = fs.existsSync(path.join(s.store, name));
          assert.equal(there, s.address === owner, `object ${low} stored on ${s.address}: ${there}`);
          if (there) held[i]++;
        });
        assert.ok((await b.read(H, low, 0, 50000 + low)).equals(pattern(50000 + low, low)), `object ${low} via b`);
      }
      assert.ok(held.every((n) => n > 0), `both servers hold objects (${held})`);
    });

    it('connects when one listed server is down; its objects refuse writes, the others work', async () => {
      const dead = '127.0.0.1:9';  // nothing listens there
      const c = await IocClient.connect(`${servers[0].address},${dead}`);
      clients.push(c);
      assert.deepEqual(c.servers(), [servers[0].address, dead]);
      const lows = Array.from({ length: 20 }, (_, i) => i + 1);
      const onDead = lows.filter((low) => c.serverOf(8000, low) === dead);
      const onLive = lows.filter((low) => c.serverOf(8000, low) !== dead);
      assert.ok(onDead.length > 0 && onLive.length > 0);
      await c.write(8000, onLive[0], 0, Buffer.from('live'));
      assert.equal((await c.read(8000, onLive[0], 0, 4)).toString(), 'live');
      await rejectsWithCode(c.write(8000, onDead[0], 0, Buffer.from('x')), /ECONNREFUSED/);
      await rejectsWithCode(c.flush(8000, onDead[0]), /ECONNREFUSED/);
    });

    it('rejects bad server lists, and fails when no listed server answers', async () => {
      await rejectsWithCode(IocClient.connect('127.0.0.1:99999'), /EINVAL/);
      await rejectsWithCode(IocClient.connect('127.0.0.1,,127.0.0.2'), /EINVAL/);
      await rejectsWithCode(IocClient.connect([]), /EINVAL/);
      await rejectsWithCode(IocClient.connect('127.0.0.1:9,127.0.0.1:11'), /ECONNREFUSED/);
    });
  });
});
