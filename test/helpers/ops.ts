// Helpers of the operations tests: free TCP ports, HTTP GETs and Prometheus text parsing.
import * as http from 'http';
import * as net from 'net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function httpGet(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    }).on('error', reject);
  });
}

/** Prometheus text format -> { 'name{a="x",b="y"}': value } (labels in the order printed). */
export function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

export async function scrape(metrics: string): Promise<Map<string, number>> {
  const r = await httpGet(`http://${metrics}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics: HTTP ${r.status}`);
  return parseProm(r.body);
}

/** after - before for one series (a missing series counts as 0). */
export const delta = (before: Map<string, number>, after: Map<string, number>, key: string): number =>
  (after.get(key) ?? 0) - (before.get(key) ?? 0);
