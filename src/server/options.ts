// Command line of iocatcher-server: parsing, validation and --help. The daemon itself is native
// (build/Release/iocatcher-serverd); this module turns options into its arguments.
import { isIPv4 } from 'net';
import { IocError } from '../errors';

export interface ServerOptions {
  listenIp: string;
  port: number;
  store: string;
  nvdimm: string[];
  noConsistencyCheck: boolean;
  noAuth: boolean;
  activePolling: boolean;
  verbose: string | boolean;
  provider?: string;
  segmentSize?: string;
  maxTransfer?: string;
  help: boolean;
}

export const USAGE = `Usage: iocatcher-server [options] LISTEN_IP

Serves iocatcher objects (protocol v2) over libfabric on LISTEN_IP:PORT, with a TCP side
channel on PORT+1, caching segments in memory and persisting them to a backing store.

Options:
  --port PORT                 libfabric port (default 8556; the TCP side channel uses PORT+1)
  --store DIR                 backing store: one sparse file per object under DIR
                              (default ./iocatcher-store)
  -n, --nvdimm DIR[,DIR...]   persistent-memory pool directories for the segment cache
  -c, --no-consistency-check  accept overlapping write range registrations
  -a, --no-auth               do not keep the TCP side channel nor check client keys
  -p, --active-polling        busy-poll the completion queue (lower latency, uses a core)
  -v, --verbose[=CATS]        print read/write throughput every second (IOC_DEBUG=1: debug logs)
  --provider NAME             libfabric provider (default: $FI_PROVIDER or tcp;ofi_rxm; also shm, net)
  --segment-size SIZE         cache segment size, multiple of 4096 (default 8MB)
  --max-transfer SIZE         largest single read or write accepted (default 4GB)
  -h, --help                  show this help

SIZE takes a B, KB, MB, GB or TB suffix (powers of 1024).
Signals: SIGINT/SIGTERM flush dirty data to the store and stop cleanly.
`;

const SIZE_RE = /^\d+\s*(B|K|KB|KIB|M|MB|MIB|G|GB|GIB|T|TB|TIB)?$/i;

function need(args: string[], i: number, name: string): string {
  const v = args[i];
  if (v === undefined || v === '') throw new IocError('EINVAL', `option ${name} needs a value`);
  return v;
}

export function parseServerArgs(args: string[]): ServerOptions {
  const o: ServerOptions = {
    listenIp: '', port: 8556, store: './iocatcher-store', nvdimm: [], noConsistencyCheck: false,
    noAuth: false, activePolling: false, verbose: false, help: false,
  };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    let inline: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      inline = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const value = (name: string): string => (inline !== undefined ? inline : need(args, ++i, name));
    switch (a) {
      case '-h': case '--help': o.help = true; break;
      case '--port': {
        const v = value(a);
        const p = Number(v);
        if (!/^\d+$/.test(v) || p < 1 || p > 65534) throw new IocError('EINVAL', `invalid --port '${v}' (1-65534)`);
        o.port = p;
        break;
      }
      case '--store': o.store = value(a); break;
      case '-n': case '--nvdimm': o.nvdimm.push(...value(a).split(',').filter((s) => s)); break;
      case '-c': case '--no-consistency-check': o.noConsistencyCheck = true; break;
      case '-a': case '--no-auth': o.noAuth = true; break;
      case '-p': case '--active-polling': o.activePolling = true; break;
      case '-v': case '--verbose': o.verbose = inline ?? true; break;
      case '--provider': o.provider = value(a); break;
      case '--segment-size': case '--max-transfer': {
        const v = value(a);
        if (!SIZE_RE.test(v)) throw new IocError('EINVAL', `invalid size for ${a}: '${v}'`);
        if (a === '--segment-size') o.segmentSize = v; else o.maxTransfer = v;
        break;
      }
      default:
        if (a.startsWith('-') && a !== '-') throw new IocError('EINVAL', `unknown option '${args[i]}' (see --help)`);
        positional.push(a);
    }
  }
  if (o.help) return o;
  if (positional.length !== 1) throw new IocError('EINVAL', 'expected exactly one LISTEN_IP (see --help)');
  if (!isIPv4(positional[0])) throw new IocError('EINVAL', `LISTEN_IP must be an IPv4 address, got '${positional[0]}'`);
  o.listenIp = positional[0];
  return o;
}

/** Arguments of the native daemon for these options. */
export function daemonArgs(o: ServerOptions): string[] {
  const a = ['--port', String(o.port), '--store', o.store];
  if (o.nvdimm.length) a.push('--nvdimm', o.nvdimm.join(','));
  if (o.noConsistencyCheck) a.push('--no-consistency-check');
  if (o.noAuth) a.push('--no-auth');
  if (o.activePolling) a.push('--active-polling');
  if (o.verbose) a.push('--verbose');
  if (o.provider) a.push('--provider', o.provider);
  if (o.segmentSize) a.push('--segment-size', o.segmentSize.replace(/\s+/g, ''));
  if (o.maxTransfer) a.push('--max-transfer', o.maxTransfer.replace(/\s+/g, ''));
  a.push(o.listenIp);
  return a;
}
