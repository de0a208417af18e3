// ummap URIs -> native driver scheme + parameters.
//   ioc://HIGH:LOW     object of the server in opts.server ("host:port", default 127.0.0.1:8556)
//   file://PATH        a file (file:///abs/path or file://relative/path)
//   mem://SIZE         process memory; mem://SIZE?name=N is shared by every mapping of the process
//   dummy://VALUE      reads fill with the byte VALUE (number, or one character), writes dropped
// {name} anywhere in the URI is replaced by vars[name].
import { idPart } from '../client';
import { IocError } from '../errors';
import { parseSize } from './size';

/** The server of ioc:// mappings when neither the URI, opts.server nor IOC_SERVER names one. */
export const defaultServer = '127.0.0.1:8556';

/**
 * The server(s) of ioc:// mappings without one: IOC_SERVER ("host:port[,host:port...]"; an
 * entry without a port takes 8556; objects are placed by rendezvous hashing), else defaultServer.
 */
export function envDefaultServer(env: NodeJS.ProcessEnv = process.env): string {
  const list = (env.IOC_SERVER ?? '').split(',').map((e) => e.trim()).filter((e) => e);
  if (list.length === 0) return defaultServer;
  return list.map((e) => (/:\d+$/.test(e) ? e : `${e}:8556`)).join(',');
}

/** A URI resolved for the native drivers. */
export interface DriverSpec {
  /** 'ioc', 'file', 'mem' or 'dummy'. */
  scheme: string;
  /** The driver's parameters ({host, port, high, low} for ioc, {path} for file, ...). */
  params: Record<string, string>;
}

/** Values of the {name} variables of URIs ('ioc://{rank}:0' with { rank: 3 }). */
export type UriVars = Record<string, string | number | bigint>;

export function substituteVars(uri: string, vars: UriVars = {}): string {
  return uri.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    if (!(name in vars)) throw new IocError('EINVAL', `unknown variable {${name}} in '${uri}'`);
    return String(vars[name]);
  });
}

/**
 * "host", "host:port", or a list "host:port,host:port" of cache servers (passed whole to the C
 * client, which places each object by rendezvous hashing); a host without a port takes 8556, as
 * IocClient.connect and IOC_SERVER do.
 */
export function parseServer(server: string): { host: string; port: string } {
  if (server.includes(',')) {
    const entries = server.split(',').map((e) => e.trim());
    for (const e of entries) {
      if (!/^[^\s,:]+(:\d+)?$/.test(e)) throw new IocError('EINVAL', `bad server address '${e}' in '${server}' (expected host or host:port)`);
    }
    return { host: entries.join(','), port: '8556' };
  }
  const withPort = /^\[?([^\]]*?)\]?:(\d+)$/.exec(server);
  if (withPort && withPort[1]) return { host: withPort[1], port: withPort[2] };
  if (/^[^\s,:/?#@[\]]+$/.test(server)) return { host: server, port: '8556' };
  throw new IocError('EINVAL', `bad server address '${server}' (expected host or host:port)`);
}

/**
 * One half of an object id written in a URI (decimal or 0x hex, optionally negative), checked by
 * IocClient's own id rule: outside int64 is EINVAL naming the URI (never wrapped to another id).
 */
export function objectIdPart(text: string, uri: string): string {
  if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(text)) throw new IocError('EINVAL', `bad object id '${text}' in '${uri}'`);
  const value = text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text);
  try {
    return idPart(value, 'object id').toString();
  } catch (e) {
    throw new IocError('EINVAL', `object id '${text}' in '${uri}' is outside the signed 64-bit range`);
  }
}

function splitQuery(rest: string): [string, URLSearchParams] {
  const q = rest.indexOf('?');
  return q < 0 ? [rest, new URLSearchParams()] : [rest.slice(0, q), new URLSearchParams(rest.slice(q + 1))];
}

/**
 * A URI (after {name} substitution) as driver scheme and parameters.
 * @example
 * ```ts
 * parseUri('ioc://1:0x10?server=10.0.0.5:8556'); // { scheme: 'ioc', params: { host: '10.0.0.5', port: '8556', high: '1', low: '16' } }
 * ```
 * @throws {@link IocError} `EINVAL` for a malformed URI, an unknown scheme or an id outside int64.
 */
export function parseUri(rawUri: string, opts: { vars?: UriVars; server?: string } = {}): DriverSpec {
  if (typeof rawUri !== 'string') throw new IocError('EINVAL', 'uri must be a string');
  const uri = substituteVars(rawUri, opts.vars);
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(uri);
  if (!m) throw new IocError('EINVAL', `bad uri '${uri}' (expected scheme://...)`);
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  switch (scheme) {
    case 'ioc': {
      const [id, query] = splitQuery(rest);
      const at = id.indexOf('@');
      const ids = at < 0 ? id : id.slice(0, at);
      const server = parseServer(at < 0 ? query.get('server') ?? opts.server ?? envDefaultServer() : id.slice(at + 1));
      const parts = ids.split(':');
      if (parts.length !== 2) throw new IocError('EINVAL', `bad uri '${uri}' (expected ioc://HIGH:LOW)`);
      return { scheme, params: { ...server, high: objectIdPart(parts[0], uri), low: objectIdPart(parts[1], uri) } };
    }
    case 'file':
      if (!rest) throw new IocError('EINVAL', `bad uri '${uri}' (expected file://PATH)`);
      return { scheme, params: { path: rest } };
    case 'mem': {
      const [size, query] = splitQuery(rest);
      const params: Record<string, string> = { size: String(parseSize(size, 'mem:// size')) };
      const name = query.get('name');
      if (name) params.name = name;
      return { scheme, params };
    }
    case 'dummy': {
      let value: number;
      if (/^(0x[0-9a-f]+|\d+)$/i.test(rest)) value = Number(rest);
      else if (rest.length === 1) value = rest.charCodeAt(0);
      else throw new IocError('EINVAL', `bad uri '${uri}' (expected dummy://BYTE)`);
      if (value > 255) throw new IocError('EINVAL', `bad uri '${uri}': value must be a byte`);
      return { scheme, params: { value: String(value) } };
    }
    default:
      throw new IocError('EINVAL', `unknown uri scheme '${scheme}' in '${uri}' (known: ioc, file, mem, dummy)`);
  }
}
