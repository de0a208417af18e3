#!/usr/bin/env node
// Writes what comes from the server's option table (src/server/options-table.ts, compiled into
// dist/ by tsc) outside the TypeScript: native/server/options_table.h (the daemon's getopt table,
// checks, defaults and usage text) and the option reference between <!-- options:begin --> and
// <!-- options:end --> in docs/*.md and README.md. Files are only written when they change.
//   node scripts/gen-options.js           update them (bash scripts/setup.sh runs this)
//   node scripts/gen-options.js --check   exit 1 naming those that differ from the table
// IOC_DIST_DIR selects another TypeScript build output (default: ../dist).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = process.env.IOC_DIST_DIR || path.join(root, 'dist');
const load = (m) => require(path.join(dist, 'src', ...m.split('/')));
const { SERVER_OPTIONS, DEBUG_CATEGORIES, camelName, isDaemonOption } = load('server/options-table');
const { daemonUsage, rangeText, withDocsBlock, DOCS_BEGIN } = load('server/options-text');
const { INT_MAX } = load('server/options');
const { parseSize } = load('size');

const HEADER = path.join('native', 'server', 'options_table.h');
const KINDS = { flag: 'Flag', int: 'Int', size: 'Size', enum: 'Enum', string: 'String', list: 'List', store: 'Store', categories: 'Categories' };

const pascal = (name) => camelName(name).replace(/^./, (c) => c.toUpperCase());
const id = (name) => `k${pascal(name)}`;
function cString(text) {
  if (!/^[\x20-\x7e\n]*$/.test(text)) throw new Error(`not printable ASCII: ${JSON.stringify(text)}`);
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function header() {
  const specs = SERVER_OPTIONS.filter(isDaemonOption);
  for (const s of specs) if (!KINDS[s.kind]) throw new Error(`--${s.name}: the daemon has no ${s.kind} options`);
  const index = (name) => specs.findIndex((s) => s.name === name);
  const bytes = (v, dflt) => (v === undefined ? dflt : parseSize(String(v)));
  const lines = [];
  const out = (l = '') => lines.push(l);
  out('// Generated from src/server/options-table.ts by scripts/gen-options.js: edit the table, not this file.');
  out('// The daemon\'s options: their getopt table, checks, defaults and usage text (native/server/options.cc).');
  out('#pragma once');
  out();
  out('#include <getopt.h>');
  out();
  out('namespace ioc {');
  out('namespace server {');
  out('namespace optiontable {');
  out();
  out(`enum class Kind { ${Object.values(KINDS).join(', ')} };`);
  out();
  out('// The daemon\'s options, in the table\'s order.');
  out(`enum Id : int { ${specs.map((s) => id(s.name)).join(', ')}, kOptionCount };`);
  out();
  out('struct Spec {');
  out('  const char *name;');
  out('  Kind kind;');
  out('  long long min, max;              // Int: the allowed range; Size: in bytes (max 0: none)');
  out('  unsigned long long multipleOf;   // Size: the value is a multiple of it (0: any)');
  out('  bool off;                        // Size: "off" is accepted too, as 0');
  out('  const char *const *values;       // Enum: the allowed values, nullptr-terminated');
  out('  int below;                       // Int: must be below this option\'s value (an Id; -1: none)');
  out('  long long intDefault;            // Int: the default');
  out('  const char *range;               // the allowed values in words, as the messages give them');
  out('};');
  out();
  for (const s of specs) {
    if (s.kind === 'enum') out(`inline constexpr const char *k${pascal(s.name)}Values[] = {${s.values.map(cString).join(', ')}, nullptr};`);
  }
  out();
  out('inline constexpr Spec kSpecs[kOptionCount] = {');
  for (const s of specs) {
    let min = 0;
    let max = 0;
    if (s.kind === 'int') {
      min = Number(s.min ?? 0);
      max = Number(s.max ?? INT_MAX);
    } else if (s.kind === 'size') {
      min = bytes(s.min, 1);
      max = bytes(s.max, 0);
    }
    const fields = [
      cString(s.name), `Kind::${KINDS[s.kind]}`, `${min}ll`, `${max}ll`, `${bytes(s.multipleOf, 0)}ull`, String(!!s.off),
      s.kind === 'enum' ? `k${pascal(s.name)}Values` : 'nullptr', s.below ? id(s.below) : '-1',
      `${s.kind === 'int' && s.default !== undefined ? Number(s.default) : 0}ll`, cString(rangeText(s)),
    ];
    if (s.below && index(s.below) < 0) throw new Error(`--${s.name}: below --${s.below}, not a daemon option`);
    out(`    {${fields.join(', ')}},`);
  }
  out('};');
  out();
  out('// getopt_long: a short flag\'s val is its letter, a long-only option\'s is 256 + its Id.');
  const shorts = specs.filter((s) => s.short).map((s) => s.short + ({ flag: '', categories: '::' }[s.kind] ?? ':')).join('');
  out(`inline constexpr char kShortOptions[] = ${cString(shorts)};`);
  out('inline constexpr option kLongOptions[] = {');
  for (const s of specs) {
    const arg = s.kind === 'flag' ? 'no_argument' : s.kind === 'categories' ? 'optional_argument' : 'required_argument';
    out(`    {${cString(s.name)}, ${arg}, nullptr, ${s.short ? `'${s.short}'` : `256 + ${id(s.name)}`}},`);
  }
  out('    {nullptr, 0, nullptr, 0},');
  out('};');
  out();
  out('// Categories of -v=CATS.');
  out(`inline constexpr const char *kDebugCategories[] = {${DEBUG_CATEGORIES.map(cString).join(', ')}, nullptr};`);
  out();
  out('// Defaults (ServerOptions starts from them, options.h); the others are computed at start.');
  for (const s of specs) {
    if (s.default === undefined) continue;
    if (s.kind === 'int') out(`inline constexpr long long kDefault${pascal(s.name)} = ${Number(s.default)};`);
    else if (s.kind === 'size') out(`inline constexpr unsigned long long kDefault${pascal(s.name)} = ${parseSize(String(s.default))}ull;  // ${s.default}`);
    else out(`inline constexpr const char *kDefault${pascal(s.name)} = ${cString(String(s.default))};`);
  }
  out();
  out('// iocatcher-serverd --help.');
  out('inline constexpr char kUsage[] =');
  const usage = daemonUsage().split(/(?<=\n)/);
  usage.forEach((l, i) => out(`    ${cString(l)}${i === usage.length - 1 ? ';' : ''}`));
  out();
  out('}  // namespace optiontable');
  out('}  // namespace server');
  out('}  // namespace ioc');
  return `${lines.join('\n')}\n`;
}

/** Every generated file: path -> content it should have. */
function generated() {
  const files = new Map([[HEADER, header()]]);
  const docs = fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f));
  for (const f of [...docs, 'README.md']) {
    const text = fs.readFileSync(path.join(root, f), 'utf8');
    if (!text.includes(DOCS_BEGIN)) continue;
    const updated = withDocsBlock(text);
    if (updated === undefined) throw new Error(`${f}: ${DOCS_BEGIN} without its end marker`);
    files.set(f, updated);
  }
  if (files.size === 1) throw new Error(`no ${DOCS_BEGIN} block in docs/*.md or README.md`);
  return files;
}

function main() {
  const check = process.argv.includes('--check');
  const stale = [];
  for (const [file, content] of generated()) {
    const full = path.join(root, file);
    const current = fs.existsSync(full) ? fs.readFileSync(full, 'utf8') : undefined;
    if (current === content) continue;
    stale.push(file);
    if (!check) fs.writeFileSync(full, content);
  }
  if (check && stale.length) {
    process.stderr.write(`gen-options: not generated from the option table: ${stale.join(', ')} (run: node scripts/gen-options.js)\n`);
    process.exit(1);
  }
  if (!check && stale.length) process.stdout.write(`gen-options: updated ${stale.join(', ')}\n`);
}

module.exports = { header, generated };
if (require.main === module) main();
