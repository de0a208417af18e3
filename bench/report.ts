// Benchmark results: the table printed to the terminal, the JSON file and an SVG chart.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface BenchRow {
  group: string;
  name: string;
  value: number;
  unit: string;
  baselineName?: string;
  baseline?: number;
  /** ours / baseline, oriented so that higher is better */
  ratio?: number;
  target?: number;
}

export function machineDescription(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} x ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

function fmt(v: number): string {
  if (v >= 1000) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

export function table(rows: BenchRow[]): string {
  const head = ['benchmark', 'ours', 'baseline', 'ratio', 'target'];
  const body = rows.map((r) => [
    `${r.group}: ${r.name}`,
    `${fmt(r.value)} ${r.unit}`,
    r.baseline !== undefined ? `${fmt(r.baseline)} ${r.unit} (${r.baselineName})` : '-',
    r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '-',
    r.target !== undefined ? `>= ${r.target}x${r.ratio !== undefined ? (r.ratio >= r.target ? ' ok' : ' MISSED') : ''}` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

export function svgChart(rows: BenchRow[], title: string): string {
  const withRatio = rows.filter((r) => r.ratio !== undefined);
  const barH = 22, left = 480, width = 1140, top = 50;
  const max = Math.max(1.5, ...withRatio.map((r) => r.ratio!));
  const scale = (v: number) => (v / max) * (width - left - 170);
  const h = top + withRatio.length * (barH + 8) + 40;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">ratio to the baseline measured in the same run (higher is better; dashed line = 1.0x)</text>`,
  ];
  withRatio.forEach((r, i) => {
    const y = top + i * (barH + 8);
    const ok = r.target === undefined || r.ratio! >= r.target;
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(`${r.group}: ${r.name}`)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${scale(r.ratio!).toFixed(1)}" height="${barH}" fill="${ok ? '#3a7' : '#d64'}"/>`);
    parts.push(`<text x="${left + scale(r.ratio!) + 6}" y="${y + 15}">${r.ratio!.toFixed(2)}x${r.target !== undefined ? ` (target ${r.target}x)` : ''}</text>`);
    if (r.target !== undefined) {
      const tx = left + scale(r.target);
      parts.push(`<line x1="${tx}" x2="${tx}" y1="${y - 2}" y2="${y + barH + 2}" stroke="#222" stroke-width="2"/>`);
    }
  });
  const one = left + scale(1);
  parts.push(`<line x1="${one}" x2="${one}" y1="${top - 6}" y2="${h - 30}" stroke="#888" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="10" y="${h - 10}" fill="#555">${esc(machineDescription())}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

export function writeResults(rows: BenchRow[], dir: string, extra: Record<string, unknown>): { json: string; svg: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'latest.json');
  const svg = path.join(dir, 'latest.svg');
  fs.writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), machine: machineDescription(), ...extra, rows }, null, 2) + '\n');
  fs.writeFileSync(svg, svgChart(rows, `iocatcher npm run bench (${new Date().toISOString().slice(0, 10)})`) + '\n');
  return { json, svg };
}
