// The object namespace messages spoken raw to a real server, through iocatcher-proto-probe's ns
// mode (one libfabric connection per probe, one call at a time), and a whole listing the way a
// client makes it (pages; entries of the store's phase already seen in the cache's dropped).
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { buildDir } from './server';

export interface ObjStat {
  high: string;
  low: string;
  size: number;
  storedBytes: number;
  cachedBytes: number;
  dirtyBytes: number;
  stored: boolean;
}

export interface ListPage {
  end: boolean;
  fromStore: boolean;
  next: string;
  entries: ObjStat[];
}

export interface Reply {
  status: number;
  reason?: string;
  stat?: ObjStat;
  page?: ListPage;
}

const probes = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of probes) p.kill('SIGKILL');
});

export class NsProbe {
  private out = '';
  private waiting: Array<(line: string) => void> = [];
  private exited: Promise<void>;

  private constructor(private child: ChildProcess) {
    probes.add(child);
    child.stdout!.on('data', (d: Buffer) => {
      this.out += d.toString();
      let nl: number;
      while ((nl = this.out.indexOf('\n')) >= 0) {
        const line = this.out.slice(0, nl);
        this.out = this.out.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
    this.exited = new Promise((resolve) => child.on('exit', () => {
      probes.delete(child);
      for (const w of this.waiting.splice(0)) w('{"status":-104,"reason":"the probe exited"}');
      resolve();
    }));
  }

  /** A probe connected to host:port (its first line says it is ready). */
  static async open(host: string, port: number): Promise<NsProbe> {
    const child = spawn(path.join(buildDir, 'iocatcher-proto-probe'), [host, String(port), 'ns'],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    const probe = new NsProbe(child);
    const first = await probe.next();
    if (!JSON.parse(first).ready) throw new Error(`the probe did not connect: ${first}`);
    return probe;
  }

  private next(): Promise<string> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private async send(line: string): Promise<Reply> {
    const reply = this.next();
    this.child.stdin!.write(`${line}\n`);
    return JSON.parse(await reply) as Reply;
  }

  stat(high: number | bigint, low: number | bigint): Promise<Reply> {
    return this.send(`stat ${high} ${low}`);
  }

  delete(high: number | bigint, low: number | bigint): Promise<Reply> {
    return this.send(`delete ${high} ${low}`);
  }

  /** One page after `cursor` ('' from the start), at most max entries (0: the server's page). */
  list(cursor: string, max: number, high?: number | bigint): Promise<Reply> {
    return this.send(`list ${cursor === '' ? '-' : cursor} ${max}${high === undefined ? '' : ` ${high}`}`);
  }

  /** Ends the probe: at once when idle; one still waiting for a reply (its server killed) is killed. */
  async close(): Promise<void> {
    this.child.stdin!.end();
    if (this.waiting.length) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export const key = (s: { high: string; low: string }): string => `${s.high}:${s.low}`;

export interface Listing {
  /** The entries as a client keeps them: each object once. */
  entries: Map<string, ObjStat>;
  /** Objects that one phase returned twice (must stay empty). */
  repeated: string[];
  pages: number;
}

/**
 * A whole listing, `max` entries a page, calling between(page) after each page (to create and
 * delete objects meanwhile). Entries of the store's phase that the cache's phase returned are
 * dropped, as clients do.
 */
export async function listAll(probe: NsProbe, max: number, opts: { high?: number; between?: (n: number) => Promise<void> } = {}): Promise<Listing> {
  const entries = new Map<string, ObjStat>();
  const seen = [new Set<string>(), new Set<string>()];
  const repeated: string[] = [];
  let cursor = '';
  for (let pages = 1; ; pages++) {
    const r = await probe.list(cursor, max, opts.high);
    if (r.status !== 0 || !r.page) throw new Error(`list failed: ${JSON.stringify(r)}`);
    if (r.page.entries.length > (max || Infinity)) throw new Error(`a page of ${r.page.entries.length} entries, ${max} asked`);
    const phase = r.page.fromStore ? 1 : 0;
    for (const e of r.page.entries) {
      const k = key(e);
      if (seen[phase].has(k)) repeated.push(k);
      seen[phase].add(k);
      if (phase === 1 && seen[0].has(k)) continue;
      entries.set(k, e);
    }
    if (r.page.end) return { entries, repeated, pages };
    cursor = r.page.next;
    if (opts.between) await opts.between(pages);
  }
}
