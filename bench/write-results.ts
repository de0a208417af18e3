// The files of a benchmark run: bench/results/latest.json (the rows), latest.svg (the chart) and
// bench/README.md (how to run, what the rows measure, the tables), the last two made from the
// same object as the first.
import * as fs from 'fs';
import * as path from 'path';
import { BenchResults, writeBenchReadme } from './readme';
import { BenchRow, machineDescription, svgChart } from './report';

/** Writes the results into dir (bench/results) and the README beside it (bench/README.md). */
export function writeResults(rows: BenchRow[], dir: string, extra: Record<string, unknown>): { json: string; svg: string; readme: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'latest.json');
  const svg = path.join(dir, 'latest.svg');
  const results = { date: new Date().toISOString(), machine: machineDescription(), ...extra, rows } as BenchResults;
  fs.writeFileSync(json, JSON.stringify(results, null, 2) + '\n');
  fs.writeFileSync(svg, svgChart(rows, `iocatcher npm run bench (${results.date.slice(0, 10)})`) + '\n');
  const readme = writeBenchReadme(results, path.join(path.dirname(dir), 'README.md'));
  return { json, svg, readme };
}
