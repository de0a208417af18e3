// The bench report (bench/report.ts): row labels tell rows apart, bar colours and ratio texts
// agree with the targets (meets -> green, misses -> red, no target -> neutral), in both
// orientations (a lower-is-better row's target is a ceiling).
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { benchReadme } from '../bench/readme';
import { writeResults } from '../bench/write-results';
import { BAR_COLOURS, barColour, BenchRow, meetsTarget, ratioText, rowLabel, svgChart, table } from '../bench/report';
import { repoRoot, tmpDir } from './helpers/server';

const row = (ratio: number, target?: number): BenchRow => ({ group: 'g', name: 'n', value: 1, unit: 'ops/s', baselineName: 'b', baseline: 1, ratio, target });

describe('bench report', () => {
  it('labels name the baseline, so that no two rows of the results read alike', () => {
    const rows: BenchRow[] = JSON.parse(fs.readFileSync(path.join(repoRoot, 'bench', 'results', 'latest.json'), 'utf8')).rows;
    const labels = rows.map(rowLabel);
    assert.equal(new Set(labels).size, labels.length, labels.join('\n'));
    // (the group is "4 KiB (warm)" since the cold rows came: these rows reuse one object)
    assert.ok(labels.some((l) => /^4 KiB( \(warm\))?: C client read ops\/s vs fi_pingpong 4 KiB RTT$/.test(l)), labels.join('\n'));
    assert.ok(labels.some((l) => /^4 KiB( \(warm\))?: C client read ops\/s vs raw blocking-wait 4 KiB RTT$/.test(l)), labels.join('\n'));
    // Names that already say what they compare with are left alone.
    assert.equal(rowLabel({ ...row(1), name: 'x (vs y)', baselineName: 'y' }), 'g: x (vs y)');
  });

  it('colours: meets its target -> green, below -> red, no target -> neutral; a miss never prints as the target', () => {
    assert.equal(barColour(row(0.42)), BAR_COLOURS.none);
    assert.equal(barColour(row(0.8, 0.8)), BAR_COLOURS.met);
    assert.equal(barColour(row(1.3, 0.8)), BAR_COLOURS.met);
    assert.equal(barColour(row(0.7955, 0.8)), BAR_COLOURS.missed);
    assert.equal(ratioText(row(0.7955, 0.8)), '0.79x');
    assert.equal(ratioText(row(0.8049, 0.8)), '0.80x');
    const svg = svgChart([row(0.42), { ...row(0.7955, 0.8), name: 'm' }, { ...row(0.81, 0.8), name: 'k' }], 't');
    assert.match(svg, new RegExp(`fill="${BAR_COLOURS.none}"/>\\n<text[^>]*>0\\.42x</text>`));
    assert.match(svg, new RegExp(`fill="${BAR_COLOURS.missed}"/>\\n<text[^>]*>0\\.79x \\(target 0\\.8x, missed\\)</text>`));
    assert.match(svg, new RegExp(`fill="${BAR_COLOURS.met}"/>\\n<text[^>]*>0\\.81x \\(target 0\\.8x\\)</text>`));
    assert.match(table([row(0.7955, 0.8)]), /0\.79x \| >= 0\.8x MISSED/);
  });

  it('lower-is-better rows: the target is a ceiling, in the colours, the texts, the table and the chart', () => {
    const low = (ratio: number, target?: number): BenchRow => ({ ...row(ratio, target), name: 'stall', unit: 'ms', lowerIsBetter: true });
    assert.equal(meetsTarget(low(0.15, 0.2)), true);
    assert.equal(meetsTarget(low(0.2, 0.2)), true);
    assert.equal(meetsTarget(low(0.6, 0.2)), false);
    assert.equal(meetsTarget(low(0.6)), undefined);
    assert.equal(barColour(low(0.15, 0.2)), BAR_COLOURS.met);
    assert.equal(barColour(low(0.6, 0.2)), BAR_COLOURS.missed);
    assert.equal(barColour(low(0.6)), BAR_COLOURS.none);
    // A miss is rounded away from the ceiling: 0.2049 never prints as 0.20x.
    assert.equal(ratioText(low(0.2049, 0.2)), '0.21x');
    assert.equal(ratioText(low(0.1951, 0.2)), '0.20x');
    assert.equal(rowLabel(low(0.6, 0.2)), 'g: stall vs b (lower is better)');
    assert.match(table([low(0.6, 0.2)]), /0\.60x \| <= 0\.2x MISSED/);
    assert.match(table([low(0.1, 0.2)]), /0\.10x \| <= 0\.2x ok/);
    const svg = svgChart([low(0.6, 0.2), { ...low(1.1, 1.25), name: 'heat2d' }], 't');
    assert.match(svg, new RegExp(`fill="${BAR_COLOURS.missed}"/>\\n<text[^>]*>0\\.60x \\(target &lt;= 0\\.2x, missed\\)</text>`));
    assert.match(svg, new RegExp(`fill="${BAR_COLOURS.met}"/>\\n<text[^>]*>1\\.10x \\(target &lt;= 1\\.25x\\)</text>`));
  });

  it('the committed chart is the one the committed results give', () => {
    const dir = path.join(repoRoot, 'bench', 'results');
    const results = JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8'));
    const svg = fs.readFileSync(path.join(dir, 'latest.svg'), 'utf8');
    const title = /<text x="10" y="20"[^>]*>([^<]*)<\/text>/.exec(svg)![1];
    assert.equal(svg.trimEnd(), svgChart(results.rows, title, results.machine));
  });

  it('the committed bench/README.md is the one the committed results give', () => {
    const results = JSON.parse(fs.readFileSync(path.join(repoRoot, 'bench', 'results', 'latest.json'), 'utf8'));
    const readme = fs.readFileSync(path.join(repoRoot, 'bench', 'README.md'), 'utf8');
    assert.equal(readme, benchReadme(results), 'run node dist/bench/readme.js to write it again');
  });

  it('bench/README.md: the run, the misses, one table per group, the options', () => {
    const rows: BenchRow[] = [
      { ...row(0.7955, 0.8), group: 'cold', name: 'absorb' },
      { ...row(1.2, 0.8), group: 'cold', name: 'drain' },
      { ...row(0.15, 0.2), group: 'stall', name: 'blocked', lowerIsBetter: true },
      { group: 'info', name: 'a | b', value: 12.5, unit: 's' },
    ];
    const md = benchReadme({ date: '2026-01-02T03:04:05.678Z', machine: 'm1', provider: 'tcp;ofi_rxm', quick: true, rows });
    assert.match(md, /^Run of 2026-01-02 03:04 UTC, on m1, provider `tcp;ofi_rxm`, `--quick`\. 3 rows have a target: 2 met, 1 missed:$/m);
    assert.match(md, /^- cold: absorb vs b: 0\.79x \(>= 0\.8x\)$/m);
    assert.deepEqual([...md.matchAll(/^### (.*)$/gm)].map((m) => m[1]), ['cold', 'stall', 'info']);
    assert.match(md, /^\| drain vs b \| 1\.000 ops\/s \| 1\.000 ops\/s \(b\) \| 1\.20x \| >= 0\.8x ok \|$/m);
    assert.match(md, /^\| blocked vs b \(lower is better\) \| .* \| 0\.15x \| <= 0\.2x ok \|$/m);
    assert.match(md, /^\| a \\\| b \| 12\.5 s \| - \| - \|  \|$/m, 'a | in a label is escaped');
    assert.match(md, /^\| `--skip-nvdimm` \| leave out /m);
    const allMet = benchReadme({ date: '2026-01-02T03:04:05.678Z', machine: 'm1', rows: rows.slice(1, 3) });
    assert.match(allMet, /full run\. 2 rows have a target: all met\./);
  });

  it('a run writes latest.json, latest.svg and, beside the results directory, README.md from the same results', () => {
    const dir = path.join(tmpDir('ioc-bench-'), 'results');
    const out = writeResults([{ ...row(0.9, 0.8), group: 'cold', name: 'absorb' }], dir, { provider: 'shm', quick: false });
    assert.equal(out.readme, path.join(path.dirname(dir), 'README.md'));
    const results = JSON.parse(fs.readFileSync(out.json, 'utf8'));
    assert.equal(results.provider, 'shm');
    assert.equal(fs.readFileSync(out.readme, 'utf8'), benchReadme(results));
    assert.match(fs.readFileSync(out.svg, 'utf8'), /0\.90x \(target 0\.8x\)/);
  });
});
