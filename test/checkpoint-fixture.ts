// A checkpointing application for the crash tests: opens set NAME on SERVER, protects REGIONS
// regions of SIZE bytes, restores the latest version (if any), then commits versions latest+1 ..
// UNTIL, each over the previous one (test/checkpoint-content.ts), every STORE_EVERY-th at 'store'
// durability. Prints "restored V", "start V" just before each checkpoint call and "committed V"
// once it resolved, with its duration ("failed V CODE" if it rejected), then "done".
// Usage: node checkpoint-fixture.js SERVER NAME REGIONS SIZE UNTIL STORE_EVERY
import { openCheckpoints } from '../src';
import { writeVersion } from './checkpoint-content';

async function main(): Promise<void> {
  const [server, name, regionsText, sizeText, untilText, storeEveryText] = process.argv.slice(2);
  const [regions, size, until, storeEvery] = [Number(regionsText), Number(sizeText), Number(untilText), Number(storeEveryText)];
  const ck = await openCheckpoints(name, { server, keep: 2 });
  const mems: Uint8Array[] = [];
  for (let r = 0; r < regions; r++) mems.push(new Uint8Array((await ck.protect(`r${r}`, size)).buffer));
  const latest = (await ck.latest()) ?? 0;
  if (latest > 0) await ck.restore(latest);
  console.log(`restored ${latest}`);
  for (let v = latest + 1; v <= until; v++) {
    mems.forEach((m, r) => writeVersion(m, v, r));
    console.log(`start ${v}`);
    try {
      const r = await ck.checkpoint(v, { durability: storeEvery > 0 && v % storeEvery === 0 ? 'store' : 'server' });
      console.log(`committed ${v} ${r.durationMs.toFixed(1)} ms`);
    } catch (e) {
      console.log(`failed ${v} ${(e as { code?: string }).code}: ${(e as Error).message}`);
      process.exit(3);
    }
  }
  await ck.close();
  console.log('done');
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
