// Finds the repository paths that documents and code comments name, and says which of them do
// not exist: a renamed or deleted file leaves no dangling reference behind (test/doc-paths.test.ts).
import * as fs from 'fs';
import * as path from 'path';

/** Directories that the build makes (not in the repository): paths into them are not checked. */
export const GENERATED = ['build', 'build-asan', 'dist-asan', 'docs/api', 'prebuilds', 'node_modules', 'iocatcher-data', 'iocatcher-store'];
const SKIPPED_DIRS = new Set(['.git', ...GENERATED, 'dist']);

/** Extensions that make a bare word a file name ("fault_reader.cc", "DESIGN.md"). */
const FILE_EXT = 'md|ts|cc|h|c|cpp|js|mjs|sh|json|ya?ml|svg|txt';

export interface PathMention {
  /** The file that names the path, relative to the repository root. */
  file: string;
  line: number;
  /** The path as written. */
  text: string;
  /** A markdown link's target: relative to the naming file's directory. */
  link?: boolean;
  /** A markdown link's "#heading", checked against the target's headings. */
  anchor?: string;
}

/** Every file of the repository (relative paths, '/'-separated), generated directories left out. */
export function repoFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!SKIPPED_DIRS.has(r)) walk(r);
      } else {
        out.push(r);
      }
    }
  };
  walk('');
  return out;
}

/**
 * The comments of a C, C++ or TypeScript source, with everything else blanked (newlines kept, so
 * that line numbers hold): string and template literals are skipped, so 'ioc://1:2' is no comment.
 */
export function commentsOf(source: string): string {
  let out = '';
  let i = 0;
  const n = source.length;
  const blank = (s: string) => s.replace(/[^\n]/g, ' ');
  while (i < n) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      out += source.slice(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      out += source.slice(i, stop);
      i = stop;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < n && source[j] !== c && !(c !== '`' && source[j] === '\n')) j += source[j] === '\\' ? 2 : 1;
      out += blank(source.slice(i, j + 1));
      i = j + 1;
    } else {
      out += c === '\n' ? '\n' : ' ';
      i++;
    }
  }
  return out;
}

// A path with a directory ("native/server/x.cc", "../x.md", "test/*.test.ts"), never the tail of
// an absolute path ("/etc/ceph/ceph.conf") or of a URI ("file:///x"); a bare file name with a
// known extension; a markdown link's target.
const DIR_PATH = /(?<![\w./~:@$-])((?:(?:\.\.\/)+(?:\.?[\w-]+\/)*|(?:\.?[\w-]+\/)+)[\w.*-]*[\w*]\/?)/g;
const BARE_FILE = new RegExp(`(?<![\\w./~:@$*-])(\\.?[\\w-]+(?:\\.[\\w-]+)*\\.(?:${FILE_EXT}))(?![\\w/-])`, 'g');
const MD_LINK = /\]\(([^)\s]+)\)/g;

/** The paths a text names, with their line numbers. */
export function mentionsIn(file: string, text: string, isMarkdown: boolean): PathMention[] {
  const found: PathMention[] = [];
  text.split('\n').forEach((lineText, idx) => {
    const add = (t: string, link?: { anchor?: string }) => found.push({ file, line: idx + 1, text: t, ...(link ? { link: true, ...link } : {}) });
    const seen = new Set<string>();
    if (isMarkdown) {
      for (const m of lineText.matchAll(MD_LINK)) {
        const [target, anchor] = m[1].split('#');
        if (target && !/^[a-z]+:/i.test(target)) {
          add(target, anchor ? { anchor } : {});
          seen.add(target);
        }
      }
    }
    for (const m of lineText.matchAll(DIR_PATH)) if (!seen.has(m[1])) { add(m[1]); seen.add(m[1]); }
    for (const m of lineText.matchAll(BARE_FILE)) {
      // "Node.js" is the runtime, not a file.
      if (!seen.has(m[1]) && !/^node\.js$/i.test(m[1])) add(m[1]);
    }
  });
  return found;
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\/|\*\*|\*/g, (s) => (s === '*' ? '[^/]*' : s === '**' ? '.*' : '(?:.*/)?'));
  return new RegExp(`^${re}/?$`);
}

/** GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const h = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (h) anchors.add(headingAnchor(h[1]));
  }
  return anchors;
}

/**
 * Why a mention names no file of the repository, or undefined when it does (or when it is no
 * repository path: another top-level name such as "linux/userfaultfd.h", a generated directory).
 * Markdown links and "../" paths are taken from the naming file's directory, other paths with a
 * directory from the repository root; a bare file name must exist somewhere in the repository.
 * readFile (a path relative to the repository) lets the "#heading" of a link be checked too.
 */
export function pathChecker(files: string[], readFile?: (rel: string) => string): (m: PathMention) => string | undefined {
  const topLevel = new Set(files.map((f) => f.split('/')[0]));
  const fileSet = new Set(files);
  const dirs = new Set(files.flatMap((f) => f.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
  const exists = (rel: string) => {
    const clean = rel.replace(/\/$/, '');
    if (clean.includes('*')) return files.some((f) => globToRegExp(clean).test(f)) || [...dirs].some((d) => globToRegExp(clean).test(d));
    // "bin/iocatcher-server" names bin/iocatcher-server.js (a command by its file's stem).
    return fileSet.has(clean) || dirs.has(clean) || files.some((f) => f.startsWith(`${clean}.`) && !f.slice(clean.length + 1).includes('.'));
  };
  const basenames = new Set(files.map((f) => path.posix.basename(f)));
  return (m) => {
    let t = m.text;
    if (m.link || t.startsWith('../')) {
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(m.file), t));
      if (resolved.startsWith('../')) return 'outside the repository';
      t = resolved;
    } else if (!t.includes('/')) {
      return basenames.has(t) ? undefined : 'no file of that name in the repository';
    }
    t = t.replace(/^\.\//, '');
    if (GENERATED.some((g) => t === g || t.startsWith(`${g}/`))) return undefined;
    // dist/ holds the TypeScript build: dist/test/x.test.js comes from test/x.test.ts.
    const dist = /^dist\/(.+)\.(?:js|d\.ts)$/.exec(t);
    if (dist) return exists(`${dist[1]}.ts`) ? undefined : `its source ${dist[1]}.ts does not exist`;
    if (t.startsWith('dist/') || t === 'dist') return undefined;
    if (!m.link && !m.text.startsWith('../') && !topLevel.has(t.split('/')[0])) return undefined;
    if (!exists(t)) return 'does not exist';
    if (m.anchor && readFile && t.endsWith('.md') && !anchorsOf(readFile(t)).has(m.anchor)) return `has no heading #${m.anchor}`;
    return undefined;
  };
}

/** The sources to scan: README.md, bench/README.md and docs/**.md whole, comments of native/**, include/** and src/**. */
export function scannedTexts(root: string, files: string[]): Array<{ file: string; text: string; markdown: boolean }> {
  const out: Array<{ file: string; text: string; markdown: boolean }> = [];
  for (const f of files) {
    const read = () => fs.readFileSync(path.join(root, f), 'utf8');
    if (f === 'README.md' || f === 'bench/README.md' || (f.startsWith('docs/') && f.endsWith('.md'))) {
      out.push({ file: f, text: read(), markdown: true });
    } else if (/^(native|src|include)\//.test(f) && /\.(cc|h|c|cpp|ts)$/.test(f)) {
      out.push({ file: f, text: commentsOf(read()), markdown: false });
    }
  }
  return out;
}
