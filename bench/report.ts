// Benchmark results as text: the rows, their labels, ratios and targets, the table printed to
// the terminal and the SVG chart (bench/write-results.ts writes the files).
import * as os from 'os';

export interface BenchRow {
  group: string;
  name: string;
  value: number;
  unit: string;
  baselineName?: string;
  baseline?: number;
  /**
   * ours / baseline, oriented so that higher is better (rows of times that compare a latency:
   * baseline / ours); with lowerIsBetter, ours / baseline as it is (a share of time, a slowdown
   * factor) and the target is a ceiling.
   */
  ratio?: number;
  target?: number;
  /** The ratio is a cost: the target is met when ratio <= target. */
  lowerIsBetter?: boolean;
}

export function machineDescription(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} x ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

/** A figure as the tables print it: 3 significant decimals below 10, none from 1000. */
export function fmt(v: number): string {
  if (v >= 1000) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

/**
 * The row's label: "group: name vs baseline", so that two rows of one measurement against two
 * baselines (C client read vs fi_pingpong, vs a raw RTT) read apart.
 */
export function rowLabel(r: BenchRow): string {
  const vs = r.baselineName && !/\bvs\b/.test(r.name) ? ` vs ${r.baselineName}` : '';
  return `${r.group}: ${r.name}${vs}${r.lowerIsBetter ? ' (lower is better)' : ''}`;
}

/** Whether a row meets its target (at least it, at most it for lowerIsBetter); undefined without a target. */
export function meetsTarget(r: BenchRow): boolean | undefined {
  if (r.target === undefined || r.ratio === undefined) return undefined;
  return r.lowerIsBetter ? r.ratio <= r.target : r.ratio >= r.target;
}

/**
 * The ratio as printed, two decimals. A miss is rounded away from the target, so that it never
 * reads as the target (0.7955 against 0.8 is "0.79x", never "0.80x" beside a red bar; 0.2049
 * against a ceiling of 0.2 is "0.21x").
 */
export function ratioText(r: BenchRow): string {
  const missed = meetsTarget(r) === false;
  const v = missed ? (r.lowerIsBetter ? Math.ceil(r.ratio! * 100) : Math.floor(r.ratio! * 100)) / 100 : r.ratio!;
  return `${v.toFixed(2)}x`;
}

/** The target as the table prints it: ">= 0.8x ok", "<= 0.2x MISSED"; '' without a target. */
export function targetText(r: BenchRow): string {
  if (r.target === undefined) return '';
  const met = meetsTarget(r);
  return `${r.lowerIsBetter ? '<=' : '>='} ${r.target}x${met === undefined ? '' : met ? ' ok' : ' MISSED'}`;
}

/** Bar colours: green meets its target, red misses it, grey-blue has no target. */
export const BAR_COLOURS = { met: '#3a7', missed: '#d64', none: '#89a' } as const;

export function barColour(r: BenchRow): string {
  const ok = meetsTarget(r);
  return ok === undefined ? BAR_COLOURS.none : ok ? BAR_COLOURS.met : BAR_COLOURS.missed;
}

export function table(rows: BenchRow[]): string {
  const head = ['benchmark', 'ours', 'baseline', 'ratio', 'target'];
  const body = rows.map((r) => [
    rowLabel(r),
    `${fmt(r.value)} ${r.unit}`,
    r.baseline !== undefined ? `${fmt(r.baseline)} ${r.unit} (${r.baselineName})` : '-',
    r.ratio !== undefined ? ratioText(r) : '-',
    targetText(r),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/** The chart of the rows with a ratio; `machine` is the results' machine line (default: this one). */
export function svgChart(rows: BenchRow[], title: string, machine = machineDescription()): string {
  const withRatio = rows.filter((r) => r.ratio !== undefined);
  // The label column fits the longest label (about 6.6 px per character at 12 px sans-serif).
  const barH = 22, top = 50;
  const left = Math.max(480, Math.ceil(16 + 6.6 * Math.max(0, ...withRatio.map((r) => rowLabel(r).length))));
  const width = left + 660;
  const max = Math.max(1.5, ...withRatio.map((r) => r.ratio!));
  const scale = (v: number) => (v / max) * (width - left - 170);
  const h = top + withRatio.length * (barH + 8) + 40;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">ratio to the baseline measured in the same run (higher is better; dashed line = 1.0x; black tick = target: green meets it, red misses it, grey: no target)</text>`,
  ];
  withRatio.forEach((r, i) => {
    const y = top + i * (barH + 8);
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(rowLabel(r))}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${scale(r.ratio!).toFixed(1)}" height="${barH}" fill="${barColour(r)}"/>`);
    const ceiling = r.lowerIsBetter ? '&lt;= ' : '';  // a lower-is-better target is a ceiling
    const verdict = meetsTarget(r) === undefined ? '' : ` (target ${ceiling}${r.target}x${meetsTarget(r) ? '' : ', missed'})`;
    parts.push(`<text x="${left + scale(r.ratio!) + 6}" y="${y + 15}">${ratioText(r)}${verdict}</text>`);
    if (r.target !== undefined) {
      const tx = left + scale(r.target);
      parts.push(`<line x1="${tx}" x2="${tx}" y1="${y - 2}" y2="${y + barH + 2}" stroke="#222" stroke-width="2"/>`);
    }
  });
  const one = left + scale(1);
  parts.push(`<line x1="${one}" x2="${one}" y1="${top - 6}" y2="${h - 30}" stroke="#888" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="10" y="${h - 10}" fill="#555">${esc(machine)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
