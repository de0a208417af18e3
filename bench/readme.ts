// bench/README.md: how to run the benchmarks, what the rows measure, and the tables of the
// latest results. Written after each run by bench/write-results.ts, from the same
// object it writes as bench/results/latest.json, so the README is a function of that file:
//   node dist/bench/readme.js    writes bench/README.md again from bench/results/latest.json
import * as fs from 'fs';
import * as path from 'path';
import { QUICK, SKIPS } from './options';
import { BenchRow, fmt, meetsTarget, ratioText, rowLabel, targetText } from './report';

/** What bench/results/latest.json holds. */
export interface BenchResults {
  date: string;
  machine: string;
  provider?: string;
  quick?: boolean;
  rows: BenchRow[];
}

const ABOUT = `## Running

\`npm run bench\` (about 4.5 minutes on 2 cores; \`npm run bench -- --quick\` about 2) runs the
setup, then measures, in one run, our figures beside baselines measured the same way on the same
machine, prints the table, and writes \`bench/results/latest.json\`, \`bench/results/latest.svg\`
(bars coloured by their target: green met, red missed, grey none) and this file. Run it on a
machine with nothing else running: the figures are only comparable within one run.

| option | effect |
| --- | --- |
| \`--quick\` | ${QUICK} |
${SKIPS.map(([k, v]) => `| \`${k}\` | leave out ${v} |`).join('\n')}
| \`FI_PROVIDER\` | libfabric provider (default \`tcp;ofi_rxm\`) |

## What the rows measure

Baselines: Debian's \`fi_pingpong\` (busy-polling both sides) and \`iocatcher-fabric-bench\` (raw
libfabric through our wrappers: message round trips with blocking waits, and RMA read/write of
the peer's buffer, of the same size as the transfer compared) on the same provider; the C client
beside the TS client; the kernel's mmap of a tmpfs file and a bulk \`UFFDIO_COPY\` beside ummap;
\`dd\` into the store directory; one client beside four; heat2d without checkpoints beside with.
Ratios are ours / baseline, higher is better, except the rows marked "lower is better" (a share
of time or a slowdown, whose target is a ceiling).

- **Warm rows** (one long-running server): round trips, 4 KiB operations, 1 and 8 MiB bandwidth
  of the C and TS clients. Groups marked **(warm)** rewrite or reread one offset of one object:
  the segment is in the server's cache after the first operation, so these show the protocol and
  copy costs, not what a checkpoint of new data costs (a rewrite of a dirty segment above 32 KiB
  is staged by the server: one more copy). The "ummap" group maps \`mem://\` (no server);
  "checkpoint (long-running server)" writes a new object with the C client and with ummap.
- **Cold rows**: each measurement starts a fresh server (new process, empty store directory) and
  writes objects it never saw. A server that prefaults its cache memory is waited for before the
  measurement (the "server start" row).
  - *cold 1 GiB checkpoint*: the C client writes 1 GiB in 8 MiB writes at increasing offsets of a
    new object: **absorbed** until the last write was acknowledged, beside raw RMA read of 8 MiB
    (a client write is the server reading the client's buffer); **drain** until the flush
    returned (the data is in the store directory), beside \`dd bs=8M conv=fdatasync\` of the same
    size into that directory. Then ummap (8 MiB segments, \`noFirstRead\`): the new mapping is
    filled and \`await m.flush()\` alone is timed (written back to the server, without the store's
    durability step), beside raw RMA read, with the CPUs the client and the server kept busy; also
    with the snapshot copied (\`UMMAP_SNAPSHOT=copy\`) for comparison, and \`dd oflag=direct\`.
  - *cold single 64 MiB / 256 MiB*: single writes, each to a new object, beside raw RMA read of
    that size; then reads of those objects (in the server's cache, never seen by this client),
    beside raw RMA write.
  - *stall*: an all-dirty 1 GiB mapping over ioc, \`await m.sync()\`: the time the JS thread was
    blocked (the call, plus the thread's own CPU time until the promise settled beyond an idle
    thread's) beside the sync's time; beside it the call alone, the run-queue wait and the
    event-loop delay. The first checkpoint of a new object, then a second one of the same mapping.
  - *first touch over ioc*: a 1 GiB object written by the C client, read through a new mapping
    with 1 MiB segments, one word per page, beside the lower of the C client's 1 MiB reads of the
    same object and a bulk \`UFFDIO_COPY\` in 1 MiB chunks.
  - *heat2d*: \`examples/heat2d.ts\`, 300 steps of a 1024x1024 grid with a checkpoint every 50
    steps beside \`--checkpoint-every 0\`, total time.
  - *4 clients*: four \`iocatcher-client-bench\` processes, each writing its own object (8 MiB, then
    4 KiB writes), all starting at one wall-clock time: the aggregate beside one client alone,
    and the server's CPU time per GB written.
  - *rewrite (the original's benchmark shape)*: C client writes and reads at offsets cycling over
    a 64 MiB region of one object (every pass rewrites segments that are dirty or being drained),
    beside the same sizes written to fresh objects and raw RMA of that size, with 1, 2 and 4
    client processes; and single 64 MiB rewrites of one object beside writes to fresh objects.
  - *--nvdimm*: the cold C-client checkpoint with the server's segments in a pool on \`/dev/shm\`
    with \`PMEM_IS_PMEM_FORCE=1\` (each write made durable by CPU cache flushes before it is
    acknowledged) beside the same without \`--nvdimm\`; and with the pool file on disk in the store
    directory (made durable by msync, the server's group commit).

**Paired baselines.** The cold rows that compare with raw RMA measure their baseline again just
before each repetition, and the \`--nvdimm\` row runs a server without \`--nvdimm\` just before each
one with it; the four clients are paired with one client alone the same way. The ratio is the
median of the pair ratios; the figures shown are each side's median. On a shared VM both sides
move by tens of percent within a minute, so a baseline taken once would compare different
moments. The bench log gives every pair. Without \`--quick\`, the cold checkpoints, the first
touch and the \`--nvdimm\` row are repeated on 7 fresh servers, the four clients 5 times, the
single writes and reads, the stall and heat2d 3 times; with \`--quick\` once each, with 256 MiB
instead of 1 GiB and fewer operations.
`;

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The rows of one group as a markdown table (labels without the group, which is the heading). */
function groupTable(group: string, rows: BenchRow[]): string {
  const lines = ['| measurement | ours | baseline | ratio | target |', '| --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const label = rowLabel(r).slice(group.length + 2);
    const baseline = r.baseline !== undefined ? `${fmt(r.baseline)} ${r.unit} (${r.baselineName})` : '-';
    const ratio = r.ratio !== undefined ? ratioText(r) : '-';
    lines.push(`| ${[label, `${fmt(r.value)} ${r.unit}`, baseline, ratio, targetText(r)].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The whole of bench/README.md for these results. */
export function benchReadme(results: BenchResults): string {
  const rows = results.rows;
  const groups: string[] = [];
  for (const r of rows) if (!groups.includes(r.group)) groups.push(r.group);
  const targeted = rows.filter((r) => meetsTarget(r) !== undefined);
  const missed = targeted.filter((r) => meetsTarget(r) === false);
  const run = [
    `Run of ${results.date.replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC')}`,
    `on ${results.machine}`,
    results.provider ? `provider \`${results.provider}\`` : undefined,
    results.quick ? '`--quick`' : 'full run',
  ].filter(Boolean).join(', ');
  const summary = missed.length === 0
    ? `${targeted.length} rows have a target: all met.`
    : `${targeted.length} rows have a target: ${targeted.length - missed.length} met, ${missed.length} missed:\n\n${missed.map((r) => `- ${rowLabel(r)}: ${ratioText(r)} (${targetText(r).replace(/ MISSED$/, '')})`).join('\n')}`;
  return [
    '<!-- Written by bench/readme.ts from bench/results/latest.json (npm run bench); do not edit. -->',
    '# Benchmarks',
    '',
    'iocatcher measured beside baselines taken in the same run on the same machine.',
    '',
    ABOUT,
    '## Latest results',
    '',
    `${run}. ${summary}`,
    '',
    '![benchmark ratios](results/latest.svg)',
    '',
    ...groups.flatMap((g) => [`### ${g}`, '', groupTable(g, rows.filter((r) => r.group === g)), '']),
  ].join('\n');
}

/** Writes README.md from RESULTS_DIR/latest.json; returns the path written. */
export function writeBenchReadme(results: BenchResults, file: string): string {
  fs.writeFileSync(file, benchReadme(results));
  return file;
}

if (require.main === module) {
  const benchDir = path.resolve(__dirname, '..', '..', 'bench');
  const results = JSON.parse(fs.readFileSync(path.join(benchDir, 'results', 'latest.json'), 'utf8')) as BenchResults;
  console.log(`wrote ${path.relative(process.cwd(), writeBenchReadme(results, path.join(benchDir, 'README.md')))}`);
}
