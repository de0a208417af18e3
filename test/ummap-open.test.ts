// ummap.open (the mapping made off the JS thread) and the runtime's events as process warnings.
import * as assert from 'assert';
import * as net from 'net';
import { IocClient, IocError, ummap } from '../src';
import { startServer, tmpDir } from './helpers/server';

describe('ummap.open and runtime warnings', function () {
  this.timeout(120000);

  it('ummap.open against a server that never answers keeps the event loop turning, then rejects', async () => {
    // Accepts both ports' connections and says nothing: the handshake waits for its timeout.
    const sockets: net.Socket[] = [];
    const listen = () => new Promise<net.Server>((resolve) => {
      const srv = net.createServer((s) => { sockets.push(s); }).listen(0, '127.0.0.1', () => resolve(srv));
    });
    // The side channel is the libfabric port + 1: find two free ports in a row.
    let fabric: net.Server | undefined, side: net.Server | undefined;
    for (let i = 0; i < 20 && !side; i++) {
      fabric = await listen();
      const port = (fabric.address() as net.AddressInfo).port;
      side = await new Promise<net.Server | undefined>((resolve) => {
        const srv = net.createServer((s) => { sockets.push(s); });
        srv.once('error', () => resolve(undefined));
        srv.listen(port + 1, '127.0.0.1', () => resolve(srv));
      });
      if (!side) fabric.close();
    }
    assert.ok(fabric && side, 'two free ports');
    const port = (fabric.address() as net.AddressInfo).port;
    const saved = process.env.IOC_CLIENT_TIMEOUT_MS;
    process.env.IOC_CLIENT_TIMEOUT_MS = '1500';
    let ticks = 0;
    const ticker = setInterval(() => { ticks++; }, 1);
    try {
      const opening = ummap.open(1n, 2n, '1MB', { server: `127.0.0.1:${port}` });
      // The ticks counted when it settles: a call that blocked the thread would settle before
      // any timer could run; this one waits the connect timeout with the event loop turning.
      let ticksAtSettle = -1;
      opening.then(() => { ticksAtSettle = ticks; }, () => { ticksAtSettle = ticks; });
      await assert.rejects(opening, (e: IocError) => e instanceof IocError && /ummap of object 1:2/.test(e.message));
      assert.ok(ticksAtSettle > 0, 'timers ran while ummap.open waited');
    } finally {
      clearInterval(ticker);
      if (saved === undefined) delete process.env.IOC_CLIENT_TIMEOUT_MS;
      else process.env.IOC_CLIENT_TIMEOUT_MS = saved;
      for (const s of sockets) s.destroy();
      fabric.close();
      side.close();
    }
  });

  it('ummap.open maps like ummap(): same arguments (string ids, size strings), same errors', async () => {
    const server = await startServer();
    try {
      const m = await ummap.open('0x51', 7, '2MB', { server: `${server.host}:${server.port}` });
      assert.strictEqual(m.size, 2 << 20);
      new Uint8Array(m.buffer).fill(0x5a, 0, 8192);
      await m.sync();
      await m.unmap();
      const client = await IocClient.connect(server.address);
      const back = await client.read(0x51, 7, 0, 8192);
      client.close();
      assert.ok(back.every((b) => b === 0x5a));
      await assert.rejects(ummap.open(1, 2, 'lots', { server: server.address }), (e: IocError) => e.code === 'EINVAL' && /size/.test(e.message));
      await assert.rejects(ummap.open(2 ** 60, 2, '1MB', { server: server.address }), (e: IocError) => e.code === 'EINVAL' && /MAX_SAFE_INTEGER/.test(e.message));
    } finally {
      await server.stop();
    }
  });

  it('a server restart seen by a mapping is a process warning (IOC_SERVER_RESTARTED), not a line on stderr', async () => {
    const store = tmpDir('ioc-store-');
    let server = await startServer({ store });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const m = await ummap.open(0x52, 1, '1MB', { server: server.address });
      new Uint8Array(m.buffer).fill(3, 0, 4096);
      await m.flush();  // acknowledged in the server's memory only
      const port = server.port;
      await server.kill();
      server = await startServer({ store, port });
      await m.sync();  // the restart is noticed: the page is written again
      await new Promise((r) => setImmediate(r));
      const w = warnings.find((x) => (x as Error & { code?: string }).code === 'IOC_SERVER_RESTARTED');
      assert.ok(w, `warnings: ${warnings.map((x) => x.message).join(' | ')}`);
      assert.strictEqual(w.name, 'IocatcherWarning');
      assert.match(w.message, /restarted \(epoch [0-9a-f]+ -> [0-9a-f]+\): 4096 acknowledged bytes to write again, 0 lost/);
      await m.unmap();
      const client = await IocClient.connect(server.address);
      assert.ok((await client.read(0x52, 1, 0, 4096)).every((b) => b === 3));
      client.close();
    } finally {
      process.off('warning', onWarning);
      await server.stop();
    }
  });
});
