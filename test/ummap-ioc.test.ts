// ioc driver against a real iocatcher server process.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { nativeBuildDir } from '../src/native';
import { ummap } from '../src/ummap';
import { firstDifference, MiB, randomWrites } from './ummap-util';

interface Server {
  address: string;
  stop(): Promise<unknown>;
}

const serverBinary = path.join(nativeBuildDir, 'iocatcher-serverd');
const SIZE = 64 * MiB;

describe('ummap ioc driver', function () {
  this.timeout(90000);
  let server: Server | undefined;

  before(async function () {
    if (!fs.existsSync(serverBinary)) {
      console.log(`      skipped: no server binary at ${serverBinary} (build it first)`);
      this.skip();
    }
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const helper = require('./helpers/server') as { startServer(): Promise<Server> };
    server = await helper.startServer();
  });

  after(async () => {
    if (server) await server.stop();
  });

  it('random writes, sync, unmap, map again, read back byte for byte', () => {
    const opts = { server: server!.address, segmentSize: MiB };
    const reference = new Uint8Array(SIZE);
    let m = ummap(10, 20, SIZE, opts);
    randomWrites(new Uint8Array(m.buffer), reference, 20000, 21);
    m.syncSync();
    assert.ok(m.stats().driverSyncs >= 1);
    m.unmapSync();
    m = ummap('ioc://10:20', SIZE, opts);
    assert.equal(firstDifference(new Uint8Array(m.buffer), reference), -1);
    m.unmapSync();
  });

  it('storageOffset, partial last segment, eviction, cow and switch keep the old object', () => {
    const opts = { server: server!.address, segmentSize: MiB, storageOffset: 4096 * 3 + 7, policy: 'fifo://2MB' };
    const size = 6 * MiB + 123;
    const m = ummap('ioc://11:1', size, opts);
    const view = new Uint8Array(m.buffer);
    const reference = new Uint8Array(size);
    randomWrites(view, reference, 3000, 22);
    m.syncSync();
    assert.ok(m.stats().evictions > 0);
    view[0] = 0x5a;  // dirty, goes to the cow target only
    m.cow({ high: 11, low: 2 });
    m.syncSync();
    view[1] = 0x6b;
    m.switch('ioc://11:3');
    m.syncSync();
    m.unmapSync();

    const read = (low: number) => {
      const r = ummap(`ioc://11:${low}`, size, { ...opts, policy: 'none' });
      const copy = new Uint8Array(r.buffer).slice();
      r.unmapSync({ sync: false });
      return copy;
    };
    assert.equal(firstDifference(read(1), reference), -1, 'old object unchanged');
    const cowed = read(2);
    assert.equal(cowed[0], 0x5a);
    assert.equal(cowed[1], reference[1]);
    assert.equal(firstDifference(cowed.subarray(2), reference.subarray(2)), -1);
    const switched = read(3);
    assert.equal(switched[1], 0x6b);
  });
});
