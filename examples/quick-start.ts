// Quick start: checkpoint, kill, restart. Each run resumes after the last committed step:
// kill it (Ctrl-C, kill -9) whenever you like and run it again.
//   IOC_SERVER=127.0.0.1:8556 node dist/examples/quick-start.js [STEPS]
import { openCheckpoints } from 'iocatcher';

async function main(): Promise<void> {
  const steps = Number(process.argv[2] ?? 5);
  const ck = await openCheckpoints('quick-start', { server: process.env.IOC_SERVER, keep: 2 });
  const cells = new Float64Array((await ck.protect('cells', '8MB')).buffer);
  const from = (await ck.latest()) ?? 0;  // the newest complete version, or none
  if (from > 0) await ck.restore(from);
  console.log(`resuming after step ${from}`);
  for (let step = from + 1; step <= from + steps; step++) {
    for (let i = 0; i < cells.length; i += 512) cells[i] += step;  // the computation
    await ck.checkpoint(step);  // committed: a kill from here on resumes after `step`
    console.log(`step ${step} committed, cells[0] = ${cells[0]}`);
  }
  await ck.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
