// The server's option table (src/server/options-table.ts) against everything that comes from it:
// iocatcher-server --help, the native daemon's --help, the docs' option reference, the generated
// header, the daemon's getopt table and checks (the same values taken and refused, in the same
// words, as the CLI's parser), the daemon's arguments and the config keys / IOC_* variables.
// No server starts: the daemon is run without LISTEN_IP, so that it stops right after parsing.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseSize } from '../src/size';
import { resolveServerOptions, SERVER_OPTION_KEYS } from '../src/server/config';
import { daemonArgs, INT_MAX, parseServerArgs } from '../src/server/options';
import { camelName, DEBUG_CATEGORIES, isConfigOption, isDaemonOption, LISTEN_IP, OptionSpec, SERVER_OPTIONS } from '../src/server/options-table';
import { cliUsage, daemonUsage, defaultText, docsBlock, DOCS_BEGIN, DOCS_END, envName, optionSyntax } from '../src/server/options-text';
import { buildDir, repoRoot } from './helpers/server';

const daemon = path.join(buildDir, 'iocatcher-serverd');
const daemonSpecs = SERVER_OPTIONS.filter(isDaemonOption);
const wrapperOnly = SERVER_OPTIONS.filter((s) => !isDaemonOption(s));

/** Usage entries: the syntax at the start of a line -> its help, continuation lines joined. */
function usageEntries(usage: string): Map<string, string> {
  const entries = new Map<string, string>();
  let current: string | undefined;
  for (const line of usage.split('\n')) {
    const m = /^ {2}(-\S.*?)(?: {2,}(.*))?$/.exec(line);
    if (m) {
      current = m[1];
      entries.set(current, m[2] ?? '');
    } else if (current && /^ {30}\S/.test(line)) {
      entries.set(current, `${entries.get(current)} ${line.trim()}`.trim());
    } else {
      current = undefined;
    }
  }
  return entries;
}

/** Each option of `specs` has its entry, with its default and range; no other option has one. */
function assertDocumentsEvery(usage: string, specs: readonly OptionSpec[], absent: readonly OptionSpec[]): void {
  const entries = usageEntries(usage);
  for (const s of specs) {
    const syntax = `${s.short ? `-${s.short}, ` : ''}--${s.name}`;
    const key = [...entries.keys()].find((k) => k === syntax || k.startsWith(`${syntax} `));
    assert.ok(key, `an entry for ${syntax}`);
    const help = entries.get(key!)!;
    const dflt = defaultText(s);
    if (dflt !== undefined) assert.ok(help.includes(`default ${dflt}`), `${syntax}: default ${dflt} in '${help}'`);
    if (s.kind === 'int') assert.ok(help.includes(s.max === undefined ? `${s.min} or more` : `${s.min}-${s.max}`), `${syntax}: range in '${help}'`);
    if (s.kind === 'enum') assert.equal(key, `${syntax} ${s.values!.join('|')}`);
  }
  for (const s of absent) assert.ok(![...entries.keys()].some((k) => k.includes(`--${s.name}`)), `no entry for --${s.name}`);
}

/** What the CLI's parser says of these arguments: 'ok' or its error message. */
function cliVerdict(args: string[]): string {
  try {
    parseServerArgs([...args, '127.0.0.1']);
    return 'ok';
  } catch (e) {
    return (e as Error).message;
  }
}

/** What the daemon says of these arguments (without LISTEN_IP): 'ok' when it parsed them all. */
function daemonVerdict(args: string[]): string {
  const r = spawnSync(daemon, args, { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  const line = r.stderr.trim().split('\n')[0];
  // Past the option checks: the missing LISTEN_IP, or what is checked once every option is known.
  if (/^usage: iocatcher-serverd|must hold at least two segments|no RADOS support/.test(line)) return 'ok';
  return line.replace(/^iocatcher-serverd: /, '');
}

/** Values each option takes, and values it refuses (--NAME=VALUE, so that no value looks like an option). */
function cases(s: OptionSpec): { good: string[]; bad: string[] } {
  const bytes = (v: string | number | undefined, dflt: number) => (v === undefined ? dflt : parseSize(String(v)));
  switch (s.kind) {
    case 'int': {
      const min = Number(s.min ?? 0);
      const max = Number(s.max ?? INT_MAX);
      return { good: [String(min), String(max)], bad: [...(min > 0 ? [String(min - 1)] : []), String(max + 1), 'x', '+5', '1.5', '-1', ''] };
    }
    case 'size': {
      const min = bytes(s.min, 1);
      const max = s.max === undefined ? undefined : bytes(s.max, 0);
      const step = bytes(s.multipleOf, 1);
      const good = [String(Math.max(min, step)), ...(max !== undefined ? [String(max), `${max / 1024}K`] : []), ...(s.off ? ['off'] : [])];
      const bad = ['1XB', 'x', 'MB', '', ...(min > 0 ? ['0'] : []), ...(min > 1 ? [`${min - 1}B`] : []), ...(max !== undefined ? [String(max + 1)] : []),
        ...(step > 1 ? [String(step + 1)] : []), ...(s.off ? ['Off'] : [])];
      return { good, bad };
    }
    case 'enum': return { good: [...s.values!], bad: ['bogus', s.values![0].toUpperCase(), ''] };
    case 'store': return { good: ['/tmp/ioc-options-store', 'rados://pool'], bad: ['rados://', 'rados://a/b', 'rados://a b', ''] };
    case 'categories': return { good: [...DEBUG_CATEGORIES, DEBUG_CATEGORIES.join(',')], bad: ['bogus', 'cache,bogus', 'store'] };
    case 'list': return { good: ['/a', '/a,/b'], bad: [''] };
    case 'string': return { good: ['x'], bad: [''] };
    default: return { good: [], bad: [] };
  }
}

/** A value the option takes, other than a flag's (ints: their default, so that low-water stays below high-water). */
function sample(s: OptionSpec): string {
  if (s.kind === 'int') return String(s.default ?? s.min);
  if (s.kind === 'host-port') return '127.0.0.1:9';
  const { good } = cases(s);
  return s.kind === 'enum' ? good[good.length - 1] : good[0];
}

describe('the server option table', function () {
  this.timeout(300000);  // ~150 runs of the daemon, each stopping after its options

  it('iocatcher-server --help is the table\'s usage: every option, its default and range', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'iocatcher-server.js'), '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, cliUsage());
    assertDocumentsEvery(r.stdout, SERVER_OPTIONS, []);
    const oneLine = r.stdout.replace(/\s+/g, ' ');
    assert.ok(oneLine.includes(`(${DEBUG_CATEGORIES.filter((c) => c !== 'all').join(', ')}; "all": every one)`), 'the --verbose categories');
  });

  it('the native daemon\'s --help is the table\'s usage of its options', () => {
    const r = spawnSync(daemon, ['--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, daemonUsage());
    assertDocumentsEvery(r.stdout, daemonSpecs, wrapperOnly);
  });

  it('docs/operations.md\'s option reference and the daemon\'s header are generated from the table', () => {
    const text = fs.readFileSync(path.join(repoRoot, 'docs', 'operations.md'), 'utf8');
    const begin = text.indexOf(DOCS_BEGIN);
    const end = text.indexOf(DOCS_END);
    assert.ok(begin >= 0 && end > begin, 'the markers are in docs/operations.md');
    const block = text.slice(begin + DOCS_BEGIN.length, end).trim();
    assert.equal(block, docsBlock());
    const rows = block.split('\n').filter((l) => l.startsWith('| `'));
    assert.equal(rows.length, SERVER_OPTIONS.length + 1, 'a row per option and LISTEN_IP');
    for (const s of SERVER_OPTIONS) {
      const row = rows.find((l) => l.includes(`\`--${s.name}\` |`));
      assert.ok(row, `a row for --${s.name}`);
      if (s.default !== undefined) assert.ok(row!.includes(`| \`${s.default}\` |`), `--${s.name}: default ${s.default}`);
      if (isConfigOption(s)) assert.ok(row!.includes(`\`${envName(s.name)}\``), `--${s.name}: ${envName(s.name)}`);
    }
    const check = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'gen-options.js'), '--check'], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  it('the daemon takes every option of the table it is passed (long and short forms) and none of the wrapper\'s own', () => {
    const args: string[] = [];
    for (const s of daemonSpecs) {
      if (s.name === 'help' || s.name === 'version') continue;
      args.push(s.kind === 'flag' ? `--${s.name}` : `--${s.name}=${sample(s)}`);
    }
    assert.equal(daemonVerdict(args), 'ok', args.join(' '));
    const shorts = daemonSpecs.filter((s) => s.short && s.name !== 'help').map((s) => (s.kind === 'list' ? [`-${s.short}`, '/a'] : [`-${s.short}`])).flat();
    assert.equal(daemonVerdict(shorts), 'ok', shorts.join(' '));
    assert.equal(daemonVerdict(['-v=cache']), 'ok');
    for (const s of wrapperOnly) {
      const r = spawnSync(daemon, [`--${s.name}=${s.values?.[0] ?? '127.0.0.1:1'}`, '127.0.0.1'], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, new RegExp(`unrecognized option '--${s.name}=`), `--${s.name}`);
    }
  });

  it('the CLI and the daemon take the same values of each option and refuse the same ones, in the same words', () => {
    let compared = 0;
    for (const s of daemonSpecs) {
      const { good, bad } = cases(s);
      for (const v of [...good, ...bad]) {
        const args = [`--${s.name}=${v}`];
        const cli = cliVerdict(args);
        // A good value may still break a relation with another option's default (--high-water=1).
        assert.equal(cli === 'ok' || / must be below /.test(cli), good.includes(v), `CLI, --${s.name}=${v}: ${cli}`);
        assert.equal(daemonVerdict(args), cli, `--${s.name}=${v}`);
        compared++;
      }
    }
    // The relation between two options, with a default on one side.
    for (const args of [['--low-water=90'], ['--high-water=50'], ['--low-water=40', '--high-water=50'], ['--low-water=50', '--high-water=50']]) {
      assert.equal(daemonVerdict(args), cliVerdict(args), args.join(' '));
      compared++;
    }
    assert.equal(cliVerdict(['--low-water=90']), '--low-water must be below --high-water');
    assert.ok(compared > 100, `${compared} cases`);
  });

  it('parseServerArgs sets one property per option; daemonArgs passes each daemon option set, and the daemon takes it', () => {
    const args: string[] = [];
    for (const s of SERVER_OPTIONS) {
      if (s.name === 'help' || s.name === 'version' || s.name === 'config') continue;
      args.push(s.kind === 'flag' ? `--${s.name}` : `--${s.name}=${sample(s)}`);
    }
    const o = parseServerArgs([...args, '127.0.0.1']) as unknown as Record<string, unknown>;
    const keys = new Set(['listenIp', ...SERVER_OPTIONS.map((s) => camelName(s.name))]);
    for (const k of Object.keys(o)) assert.ok(keys.has(k), `${k} is an option of the table`);
    for (const s of SERVER_OPTIONS) {
      if (['help', 'version', 'config'].includes(s.name)) continue;
      assert.notEqual(o[camelName(s.name)], undefined, `--${s.name} set`);
    }
    const passed = daemonArgs(o as never);
    assert.equal(passed[passed.length - 1], '127.0.0.1');
    for (const s of SERVER_OPTIONS) {
      if (['help', 'version', 'config'].includes(s.name)) continue;
      assert.equal(passed.some((a) => a === `--${s.name}` || a.startsWith(`--${s.name}=`)), isDaemonOption(s), `--${s.name} passed: ${isDaemonOption(s)}`);
    }
    assert.equal(daemonVerdict(passed.slice(0, -1)), 'ok', passed.join(' '));
    // Defaults: those of the table, and the daemon's when it computes them.
    const d = parseServerArgs(['127.0.0.1']) as unknown as Record<string, unknown>;
    for (const s of SERVER_OPTIONS) {
      if (s.default !== undefined) assert.equal(d[camelName(s.name)], s.default, `--${s.name} default`);
      else if (s.kind !== 'flag' && s.kind !== 'list' && s.kind !== 'categories') assert.equal(d[camelName(s.name)], undefined, `--${s.name} unset`);
    }
  });

  it('the config-file keys and IOC_* variables are the table\'s options', () => {
    assert.deepEqual(Object.keys(SERVER_OPTION_KEYS).sort(), [LISTEN_IP.name, ...SERVER_OPTIONS.filter(isConfigOption).map((s) => s.name)].sort());
    const env: Record<string, string> = { IOC_LISTEN_IP: '127.0.0.2' };
    for (const s of SERVER_OPTIONS.filter(isConfigOption)) {
      env[envName(s.name)] = s.kind === 'flag' ? '1' : sample(s);
    }
    const r = resolveServerOptions([], env);
    assert.equal(r.options.listenIp, '127.0.0.2');
    for (const s of SERVER_OPTIONS.filter(isConfigOption)) {
      assert.equal(r.sources[s.name], 'environment', `${envName(s.name)} read`);
      assert.notEqual((r.options as unknown as Record<string, unknown>)[camelName(s.name)], undefined);
    }
    // A config file takes the camelCase spelling of every key.
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ioc-opt-')), 'c.json');
    fs.writeFileSync(file, JSON.stringify(Object.fromEntries(SERVER_OPTIONS.filter(isConfigOption).map((s) => [camelName(s.name), s.kind === 'flag' ? true : env[envName(s.name)]]))));
    const f = resolveServerOptions(['--config', file, '127.0.0.1'], {});
    for (const s of SERVER_OPTIONS.filter(isConfigOption)) assert.equal(f.sources[s.name], 'config file', `${camelName(s.name)} read`);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    assert.equal(optionSyntax(SERVER_OPTIONS.find((s) => s.name === 'nvdimm')!), '-n, --nvdimm DIR[,DIR...]');
  });
});
