// Issue #7, fuzzing: the codec fuzz target's regression corpus (the libFuzzer run itself is
// scripts/fuzz.sh, in CI), and a live server that must survive thousands of random and mutated
// messages over libfabric and random bytes on its TCP side channel, then still answer correctly.
import { strict as assert } from 'assert';
import * as path from 'path';
import { run } from './helpers/run';
import { IocClient } from '../src';
import { buildDir, pattern, repoRoot, ServerHandle, startServer } from './helpers/server';

describe('fuzzing', function () {
  this.timeout(180000);

  it('the codec fuzz target replays its regression corpus and 200000 seeded mutations', async () => {
    const corpus = path.join(repoRoot, 'test', 'fuzz-corpus', 'protocol');
    const { stdout } = await run(path.join(buildDir, 'iocatcher-fuzz-protocol'), ['--random', '200000', corpus]);
    assert.match(stdout, /regression inputs, \d+ seeds, 200000 random mutations: ok/);
  });

  describe('a live server', () => {
    let server: ServerHandle;
    before(async () => { server = await startServer(); });
    after(async () => { await server?.stop(); });

    it('survives 2000 random and mutated messages + 300 junk TCP connections, then answers correctly', async () => {
      const tool = path.join(buildDir, 'iocatcher-live-fuzz');
      const { stdout } = await run(tool, ['127.0.0.1', String(server.port), 'fuzz', '--count', '2000', '--seed', '11',
        '--tcp-junk', '300'], { maxBuffer: 1 << 24 });
      assert.match(stdout, /^check ok$/m, stdout);
      const m = /fuzz sent=(\d+) replies=(\d+) pings=(\d+)/.exec(stdout)!;
      assert.ok(Number(m[1]) >= 1900, `messages sent: ${m[1]}`);
      assert.ok(Number(m[3]) >= 31, `sync points answered: ${m[3]}`);
      // Still alive, and a regular client gets its bytes back.
      assert.equal(await Promise.race([server.exited, new Promise((r) => setTimeout(() => r('running'), 100))]), 'running');
      const c = await IocClient.connect(server.host, server.port);
      try {
        const data = pattern(3 * 1024 * 1024 + 5, 7);
        assert.equal(await c.write(77, 1, 99, data), data.length);
        assert.ok((await c.read(77, 1, 99, data.length)).equals(data));
        await c.flush(77, 1);
      } finally {
        c.close();
      }
      assert.match(server.logs(), /refused message of unknown type/);
    });

    it('regression: a CONNECT_INIT with an address of another family does not break later connections', async () => {
      // Found by the live fuzzer: one such address made fi_av_insert refuse every later client.
      const tool = path.join(buildDir, 'iocatcher-live-fuzz');
      const { stdout } = await run(tool, ['127.0.0.1', String(server.port), 'case', 'bad-address']);
      assert.match(stdout, /alive=1/);
      assert.match(server.logs(), /refused a CONNECT_INIT with an invalid address/);
      const c = await IocClient.connect(server.host, server.port);
      try {
        await c.ping();
      } finally {
        c.close();
      }
    });
  });
});
