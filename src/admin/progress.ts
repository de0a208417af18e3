// The progress line of get/put on stderr: bytes done, rate and time left. Drawn only when stderr
// is a terminal (never into a pipe or a log), at most ten times a second, and always once at the
// end.
import { humanBytes } from './format';

export interface ProgressOptions {
  /** Where to draw (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Draw whatever the stream is (default: only when it is a TTY). */
  force?: boolean;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly enabled: boolean;
  private readonly start = Date.now();
  private lastDraw = 0;
  private done = 0;

  /** total: the bytes expected (undefined when unknown, e.g. from a pipe). */
  constructor(private readonly label: string, private readonly total?: number, opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.enabled = opts.force ?? this.stream.isTTY === true;
  }

  update(done: number): void {
    this.done = done;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.draw(now);
  }

  /** The final line (and a newline), once the transfer is over. */
  finish(): void {
    if (!this.enabled) return;
    this.draw(Date.now());
    this.stream.write('\n');
  }

  private draw(now: number): void {
    const seconds = Math.max((now - this.start) / 1000, 0.001);
    const rate = this.done / seconds;
    const parts = [this.label];
    if (this.total !== undefined) {
      const ratio = this.total > 0 ? Math.min(this.done / this.total, 1) : 1;
      const width = 20;
      const filled = Math.round(ratio * width);
      parts.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`, `${Math.floor(ratio * 100)}%`,
        `${humanBytes(this.done)} / ${humanBytes(this.total)}`);
    } else {
      parts.push(humanBytes(this.done));
    }
    parts.push(`${humanBytes(Math.round(rate))}/s`);
    if (this.total !== undefined) {
      const left = rate > 0 ? (this.total - this.done) / rate : NaN;
      parts.push(`ETA ${clock(left)}`);
    }
    this.stream.write(`\r${parts.join('  ')}\x1b[K`);
  }
}

/** Seconds as m:ss (h:mm:ss past an hour), '--:--' when unknown. */
function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}
