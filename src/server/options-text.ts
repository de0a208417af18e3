// Words about the option table (options-table.ts): the allowed values and defaults as --help, the
// error messages and the docs give them, the --help texts of iocatcher-server and of the native
// daemon, and the option reference of docs/operations.md. The daemon's copies (its usage text and
// each option's allowed values in words) are generated from these by scripts/gen-options.js.
import { SIZE_SYNTAX } from '../size';
import { camelName, DEBUG_CATEGORIES, isConfigOption, isDaemonOption, LISTEN_IP, OptionSpec, SERVER_OPTIONS } from './options-table';

/** 'a', 'a or b', 'a, b or c'. */
export function orList(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}

/** The default in words, or undefined when there is none. */
export function defaultText(s: OptionSpec): string | undefined {
  return s.defaultText ?? (s.default === undefined ? undefined : String(s.default));
}

/** What the value looks like: PORT, SIZE|off, on|off; undefined for a flag. */
export function argText(s: OptionSpec): string | undefined {
  if (s.kind === 'enum') return s.values!.join('|');
  if (s.kind === 'size' && s.off) return `${s.arg}|off`;
  return s.arg;
}

/** The allowed values in words ('' when any value of the kind is): the messages, --help and docs use it. */
export function rangeText(s: OptionSpec, withUnit = true): string {
  switch (s.kind) {
    case 'int': {
      const r = s.max === undefined ? `${s.min} or more` : `${s.min}-${s.max}`;
      return s.unit && withUnit ? `${s.unit}, ${r}` : r;
    }
    case 'size': {
      const parts: string[] = [];
      if (s.multipleOf) parts.push(`a multiple of ${s.multipleOf}`);
      if (s.min !== undefined && !/^[01]B?$/i.test(String(s.min))) parts.push(`at least ${s.min}`);
      if (s.max !== undefined) parts.push(`at most ${s.max}`);
      return parts.join(', ');
    }
    case 'enum': return orList(s.values!);
    case 'categories': return DEBUG_CATEGORIES.join(', ');
    default: return '';
  }
}

// The error messages, word for word the same in the daemon (native/server/options.cc builds them
// from the generated range texts): test/options-table.test.ts compares the two.
export const messages = {
  needsValue: (s: OptionSpec) => `option --${s.name} needs a value`,
  int: (s: OptionSpec, v: string) => `invalid --${s.name} '${v}' (${rangeText(s)})`,
  sizeSyntax: (s: OptionSpec, v: string) => `invalid size for --${s.name}: '${v}' (expected ${s.off ? 'off or ' : ''}${SIZE_SYNTAX})`,
  sizeZero: (s: OptionSpec, v: string) => `invalid size for --${s.name}: '${v}' (must not be 0)`,
  sizeRange: (s: OptionSpec, v: string) => `invalid size for --${s.name}: '${v}' (${rangeText(s)})`,
  enum: (s: OptionSpec, v: string) => `invalid --${s.name} '${v}' (${rangeText(s)})`,
  store: (s: OptionSpec, v: string) => `invalid --${s.name} '${v}' (expected rados://POOL)`,
  category: (s: OptionSpec, c: string) => `unknown --${s.name} category '${c}' (${rangeText(s)})`,
  hostPort: (s: OptionSpec, v: string) => `invalid --${s.name} '${v}' (expected HOST:PORT)`,
  below: (s: OptionSpec) => `--${s.name} must be below --${s.below}`,
};

/** The option as typed: '-n, --nvdimm DIR[,DIR...]'. */
export function optionSyntax(s: OptionSpec): string {
  const arg = argText(s);
  return `${s.short ? `-${s.short}, ` : ''}--${s.name}${arg ? ` ${arg}` : ''}`;
}

const fill = (text: string) => text.replace(/\{categories\}/g, DEBUG_CATEGORIES.filter((c) => c !== 'all').join(', '));

/** An option's --help text: its help, then its allowed values and default in parentheses. */
export function helpText(s: OptionSpec): string {
  const extra = [s.kind === 'int' || s.kind === 'size' ? rangeText(s) : '', defaultText(s) ? `default ${defaultText(s)}` : ''].filter((t) => t);
  return `${fill(s.help)}${extra.length ? ` (${extra.join('; ')})` : ''}`;
}

const WIDTH = 98;
const COLUMN = 30;

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function usageEntry(syntax: string, help: string): string {
  const lines = wrap(help, WIDTH - COLUMN);
  const head = `  ${syntax}`;
  if (head.length > COLUMN - 2) lines.unshift('');
  return lines.map((l, i) => (i === 0 ? head.padEnd(COLUMN) + l : ' '.repeat(COLUMN) + l).trimEnd()).join('\n') + '\n';
}

function optionLines(specs: readonly OptionSpec[]): string {
  let out = '';
  for (const s of specs) {
    out += usageEntry(optionSyntax(s), helpText(s));
    for (const f of s.forms ?? []) out += usageEntry(f.syntax, fill(f.help));
  }
  return out;
}

/** iocatcher-server --help. */
export function cliUsage(): string {
  return `Usage: iocatcher-server [options] ${LISTEN_IP.arg}

Serves iocatcher objects (protocol v2) over libfabric on LISTEN_IP:PORT, with a TCP side
channel on PORT+1, caching segments in memory and persisting them to a backing store.

Options:
${optionLines(SERVER_OPTIONS)}
Every option can also come from an IOC_* environment variable named after it (IOC_PORT,
IOC_STORE, IOC_CACHE_SIZE, IOC_NO_AUTH=1, IOC_METRICS, IOC_LISTEN_IP, IOC_CONFIG, ...).
Precedence: command line, then environment, then --config file, then defaults; the effective
configuration is logged at start.

SIZE: ${SIZE_SYNTAX}.
An IOC_* variable that is not one of iocatcher's and is within two letters of one is an error.
Signals: SIGINT/SIGTERM flush dirty data to the store and stop cleanly; SIGUSR1 (to the
daemon, iocatcher-serverd) logs the cache figures now.
`;
}

/** iocatcher-serverd --help (the native daemon prints it from native/server/options_table.h). */
export function daemonUsage(): string {
  return `usage: iocatcher-serverd [options] ${LISTEN_IP.arg}   (normally started by iocatcher-server)
${optionLines(SERVER_OPTIONS.filter(isDaemonOption))}
SIZE: ${SIZE_SYNTAX}.
IOC_CONTROL_FD=N: answer stats/ls commands on fd N. SIGUSR1 logs the cache figures.
`;
}

export const envName = (key: string): string => `IOC_${key.replace(/-/g, '_').toUpperCase()}`;

// Markdown table cells: | splits cells even in code spans; < would start an HTML tag.
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const code = (text: string) => `\`${text.replace(/\|/g, '\\|')}\``;

/** The option reference of docs/operations.md, between <!-- options:begin --> and <!-- options:end -->. */
export function docsBlock(): string {
  const keys = (name: string) => [code(name), ...(camelName(name) === name ? [] : [code(camelName(name))]), code(envName(name))].join(', ');
  const rows = [`| ${code(LISTEN_IP.arg)} | IPv4 address | required | ${keys(LISTEN_IP.name)} | ${cell(LISTEN_IP.help)} |`];
  for (const s of SERVER_OPTIONS) {
    const name = [...(s.short ? [code(`-${s.short}`)] : []), code(`--${s.name}`)].join(', ');
    const arg = argText(s);
    const range = s.kind === 'enum' ? '' : rangeText(s, false);
    const value = s.kind === 'categories' ? `none, or ${code('=CATS')}: ${cell(range)}` : arg ? [code(arg), ...(range ? [cell(range)] : [])].join(': ') : 'none';
    const deflt = s.defaultText !== undefined ? cell(s.defaultText) : s.default !== undefined ? code(String(s.default)) : '-';
    const help = [cell(fill(s.help)), ...(s.forms ?? []).map((f) => `${code(f.syntax)}: ${cell(fill(f.help))}`)].join('<br>');
    const note = isDaemonOption(s) ? '' : '<br>(the wrapper\'s own option: not passed to iocatcher-serverd)';
    rows.push(`| ${name} | ${value} | ${deflt} | ${isConfigOption(s) ? keys(s.name) : '-'} | ${help}${note} |`);
  }
  return [
    '<!-- generated from src/server/options-table.ts by `node scripts/gen-options.js`: edit the table, not this block -->',
    '',
    '| Option | Value | Default | Config key, variable | Description |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `SIZE: ${SIZE_SYNTAX}.`,
  ].join('\n');
}

export const DOCS_BEGIN = '<!-- options:begin -->';
export const DOCS_END = '<!-- options:end -->';

/** `text` with its options block (between the markers) replaced by docsBlock(); undefined without markers. */
export function withDocsBlock(text: string): string | undefined {
  const begin = text.indexOf(DOCS_BEGIN);
  const end = text.indexOf(DOCS_END);
  if (begin < 0 || end < begin) return undefined;
  return `${text.slice(0, begin + DOCS_BEGIN.length)}\n${docsBlock()}\n${text.slice(end)}`;
}
