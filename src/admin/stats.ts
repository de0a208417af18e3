// `iocatcher stats`: the daemon's counters through its metrics endpoint (iocatcher-server
// --metrics HOST:PORT), the one command that needs it.
import * as http from 'http';
import type { DaemonStats } from '../server/metrics';

/** A malformed --metrics address (a usage error of the command). */
export class MetricsAddressError extends Error {}

export function getJson<T>(metrics: string, route: string): Promise<T> {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(metrics);
  if (!m || !m[1]) throw new MetricsAddressError(`bad --metrics '${metrics}' (expected HOST:PORT)`);
  return new Promise<T>((resolve, reject) => {
    const req = http.get({ host: m[1], port: Number(m[2]), path: route, timeout: 20000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        let doc: any;
        try {
          doc = JSON.parse(body);
        } catch {
          return reject(new Error(`unexpected answer from http://${metrics}${route} (HTTP ${res.statusCode})`));
        }
        if (res.statusCode !== 200) return reject(new Error(`server: ${doc?.error ?? `HTTP ${res.statusCode}`}`));
        resolve(doc as T);
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', (e) => reject(new Error(`cannot reach the metrics endpoint http://${metrics}${route}: ${e.message}`)));
  });
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export function formatStats(s: DaemonStats): string {
  const lines: string[] = [];
  const req = Object.entries(s.requests).map(([t, n]) => `${t}=${n}`).join(' ');
  lines.push(`requests   ${req || '(none)'}`);
  lines.push(`bytes      read ${s.bytes.read} (${mib(s.bytes.read)}), written ${s.bytes.written} (${mib(s.bytes.written)})`);
  lines.push(`transfers  eager read ${s.transfers.eager.read}, eager write ${s.transfers.eager.write}, rma read ${s.transfers.rma.read}, rma write ${s.transfers.rma.write}`);
  for (const [t, l] of Object.entries(s.latency.types)) {
    lines.push(`latency    ${t}: ${l.count} requests, mean ${l.count ? ((l.sum / l.count) * 1e6).toFixed(1) : '0'} us`);
  }
  const errs = s.errors.map((e) => `${e.type}/${e.code}=${e.count}`).join(' ');
  lines.push(`errors     ${errs || '0'}; dropped messages ${s.drops}`);
  lines.push(`clients    tcp ${s.clients.tcp}, fabric ${s.clients.fabric}; requests in flight ${s.inflight}`);
  const c = s.cache;
  lines.push(`cache      ${c.segments} segments, ${mib(c.bytes)} of ${mib(c.limitBytes)}, ${mib(c.dirtyBytes)} dirty, ${c.pinned} pinned`);
  lines.push(`           hits ${c.hits}, misses ${c.misses}, evictions ${c.evictions}, spilled ${mib(c.spilledBytes)}, flushed ${mib(c.flushedBytes)}`);
  return `${lines.join('\n')}\n`;
}
