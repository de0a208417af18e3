// Network partitions for the fencing tests: a server listening on 127.0.0.2 is cut off from its
// clients with iptables DROP rules on its ports (the libfabric port and the TCP side channel),
// in one direction or both, for a while. Every rule goes into one chain owned by this process
// (IOC_TEST_PART_<pid>), jumped to from INPUT and OUTPUT; removeAllPartitions() deletes the
// jumps and the chain, whatever state a failed test left (call it in `after`). Needs root and
// the iptables tool: partitionSupport() says why not when either is missing.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';

export const PARTITION_HOST = '127.0.0.2';
const CHAIN = `IOC_TEST_PART_${process.pid}`;
let chainMade = false;

function ipt(args: string[]): void {
  execFileSync('iptables', ['-w', '5', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function iptOk(args: string[]): boolean {
  return spawnSync('iptables', ['-w', '5', ...args], { stdio: 'ignore' }).status === 0;
}

/** null when partitions can be made here, else why not (for this.skip()). */
export function partitionSupport(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (iptables)';
  if (spawnSync('iptables', ['-w', '5', '-L', 'OUTPUT', '-n'], { stdio: 'ignore' }).status !== 0) return 'iptables does not work here';
  return null;
}

function ensureChain(): void {
  if (chainMade) return;
  if (!iptOk(['-N', CHAIN])) ipt(['-F', CHAIN]);  // left over by a crashed run of this pid: reuse
  for (const hook of ['INPUT', 'OUTPUT']) if (!iptOk(['-C', hook, '-j', CHAIN])) ipt(['-I', hook, '1', '-j', CHAIN]);
  chainMade = true;
  process.once('exit', removeAllPartitions);
}

export type Direction = 'both' | 'to-server' | 'from-server';

// Loopback packets pass OUTPUT then INPUT: the rules sit in both (either drops them). The server
// side is matched by address and port, so that its libfabric connections in both directions
// (a client's to it, and any it opens from its endpoint) and its side channel are all cut.
function rulesFor(port: number, direction: Direction): string[][] {
  const ports = `${port},${port + 1}`;
  const toServer = ['-p', 'tcp', '-d', PARTITION_HOST, '-m', 'multiport', '--dports', ports, '-j', 'DROP'];
  const fromServer = ['-p', 'tcp', '-s', PARTITION_HOST, '-m', 'multiport', '--sports', ports, '-j', 'DROP'];
  if (direction === 'to-server') return [toServer];
  if (direction === 'from-server') return [fromServer];
  return [toServer, fromServer];
}

/** A partition in force: heal() removes its rules (once; later calls do nothing). */
export interface Partition {
  heal(): void;
  readonly healed: boolean;
}

// Add rules to this process's chain now; heal() deletes them.
function partitionOf(rules: string[][]): Partition {
  ensureChain();
  for (const r of rules) ipt(['-A', CHAIN, ...r]);
  let healed = false;
  return {
    get healed() { return healed; },
    heal() {
      if (healed) return;
      healed = true;
      for (const r of rules) iptOk(['-D', CHAIN, ...r]);
    },
  };
}

/** Cut the server on port (of PARTITION_HOST) off now, until heal(). */
export function cut(port: number, direction: Direction = 'both'): Partition {
  return partitionOf(rulesFor(port, direction));
}

/** Cut the server off for ms milliseconds (healed by a timer; also by removeAllPartitions()). */
export function cutFor(port: number, ms: number, direction: Direction = 'both'): Partition & { over: Promise<void> } {
  const p = cut(port, direction);
  let timer: NodeJS.Timeout | undefined;
  const over = new Promise<void>((resolve) => {
    timer = setTimeout(() => { p.heal(); resolve(); }, ms);
  });
  return {
    get healed() { return p.healed; },
    heal() { clearTimeout(timer); p.heal(); },
    over,
  };
}

/**
 * Keep cutting only the connections between clients and the server on port that hold bytes
 * not yet delivered now (a send or receive queue of either end not empty; both directions,
 * matched by the client end's address and port), until heal(): other and new connections pass.
 * Lets a test heal a partition for a new call first, so that what the old connections still
 * carry (a timed-out call's request or RMA data) arrives only afterwards.
 */
export function holdConnections(port: number): Partition {
  const hexToIp = (h: string) => [6, 4, 2, 0].map((i) => parseInt(h.slice(i, i + 2), 16)).join('.');
  const clientEnd = (s: { local: string; remote: string }): string => {
    const [lh, lp] = s.local.split(':');
    const serverEnd = lh === '0200007F' && (Number(lp) === port || Number(lp) === port + 1);
    return serverEnd ? s.remote : s.local;
  };
  const sockets = serverSockets(port).filter((s) => !s.remote.endsWith(':0'));  // not the listening ones
  const busy = new Set(sockets.filter((s) => s.tx > 0 || s.rx > 0).map(clientEnd));
  const rules: string[][] = [];
  for (const end of busy) {
    const [ch, cp] = end.split(':');
    const ip = hexToIp(ch);
    const out = ['-p', 'tcp', '-s', ip, '--sport', cp, '-d', PARTITION_HOST, '-j', 'DROP'];
    const back = ['-p', 'tcp', '-s', PARTITION_HOST, '-d', ip, '--dport', cp, '-j', 'DROP'];
    for (const r of [out, back]) if (!rules.some((x) => x.join(' ') === r.join(' '))) rules.push(r);
  }
  return partitionOf(rules);
}

/** Remove every rule, jump and the chain of this process (safe to call any time, repeatedly). */
export function removeAllPartitions(): void {
  for (const hook of ['INPUT', 'OUTPUT']) while (iptOk(['-D', hook, '-j', CHAIN])) { /* every jump */ }
  iptOk(['-F', CHAIN]);
  iptOk(['-X', CHAIN]);
  chainMade = false;
}

/** The rules of this process's chain now (for a test asserting its cleanup). */
export function chainExists(): boolean {
  return iptOk(['-L', CHAIN, '-n']);
}

/**
 * The TCP connections of this host to or from the server's ports on PARTITION_HOST, from
 * /proc/net/tcp (both ends are on this host): their send and receive queues. When every queue
 * is empty, every byte a client's kernel accepted has been read by the server.
 */
export function serverSockets(port: number): Array<{ local: string; remote: string; state: number; tx: number; rx: number }> {
  const hostHex = '0200007F';  // 127.0.0.2, little endian as /proc prints it
  const ports = new Set([port, port + 1]);
  const out: Array<{ local: string; remote: string; state: number; tx: number; rx: number }> = [];
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const m = /^\s*\d+: ([0-9A-F]{8}):([0-9A-F]{4}) ([0-9A-F]{8}):([0-9A-F]{4}) ([0-9A-F]{2}) ([0-9A-F]{8}):([0-9A-F]{8})/.exec(line);
    if (!m) continue;
    const [lh, lp, rh, rp] = [m[1], parseInt(m[2], 16), m[3], parseInt(m[4], 16)];
    const involves = (lh === hostHex && ports.has(lp)) || (rh === hostHex && ports.has(rp));
    if (!involves) continue;
    out.push({ local: `${lh}:${lp}`, remote: `${rh}:${rp}`, state: parseInt(m[5], 16), tx: parseInt(m[6], 16), rx: parseInt(m[7], 16) });
  }
  return out;
}
