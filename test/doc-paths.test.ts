// Documents and code comments name only files that exist: README.md, bench/README.md and
// docs/**.md (their text and links, with the links' #headings) and the comments of native/**,
// include/** and src/** are scanned for repository paths ("native/server/x.cc", "docs/y.md",
// "dist/test/z.test.js", a bare "DESIGN.md").
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { commentsOf, mentionsIn, pathChecker, repoFiles, scannedTexts } from './helpers/doc-paths';
import { repoRoot } from './helpers/server';

describe('paths named by documents and comments', () => {
  it('every repository path in README.md, docs/, bench/README.md and the comments of native/, include/ and src/ exists', () => {
    const files = repoFiles(repoRoot);
    const check = pathChecker(files, (rel) => fs.readFileSync(path.join(repoRoot, rel), 'utf8'));
    const texts = scannedTexts(repoRoot, files);
    // The scan reaches what it must (a scan that read nothing would pass).
    for (const f of ['README.md', 'docs/operations.md', 'native/server/pmem_pool.h', 'src/index.ts']) {
      assert.ok(texts.some((t) => t.file === f), `${f} is scanned`);
    }
    const missing: string[] = [];
    let checked = 0;
    for (const t of texts) {
      for (const m of mentionsIn(t.file, t.text, t.markdown)) {
        checked++;
        const why = check(m);
        if (why) missing.push(`${m.file}:${m.line}: ${m.text}: ${why}`);
      }
    }
    assert.ok(checked > 100, `only ${checked} paths found`);
    assert.deepEqual(missing, [], `paths that name no file:\n${missing.join('\n')}`);
  });

  it('the scanner finds a missing file, a file outside the repository, a broken link or heading, and passes existing ones', () => {
    const files = ['README.md', 'docs/operations.md', 'native/server/pmem_pool.h', 'native/uffd/read_ahead.cc', 'test/x.test.ts'];
    const docs: Record<string, string> = { 'README.md': '# iocatcher\n## What an acknowledgement means\n```sh\n# not a heading\n```\n' };
    const check = pathChecker(files, (rel) => docs[rel] ?? '');
    const source = [
      '// restated from DESIGN.md 3; see native/server/pmem_pool.h and read_ahead.cc',
      '// gone: native/server/old_pool.cc, ../shared/notes.md, ../../../x.md; generated: build/Release/x, dist/test/x.test.js',
      "const uri = 'ioc://native/server/not_a_comment.cc'; // not a path: /etc/ceph/ceph.conf, linux/userfaultfd.h",
      '/* block: native/uffd/*.cc and dist/test/y.test.js */',
    ].join('\n');
    const found = mentionsIn('native/server/a.cc', commentsOf(source), false).map((m) => `${m.line} ${m.text} ${check(m) ?? 'ok'}`);
    assert.deepEqual(found, [
      '1 native/server/pmem_pool.h ok',
      '1 DESIGN.md no file of that name in the repository',
      '1 read_ahead.cc ok',
      '2 native/server/old_pool.cc does not exist',
      '2 ../shared/notes.md does not exist',
      '2 ../../../x.md outside the repository',
      '2 build/Release/x ok',
      '2 dist/test/x.test.js ok',
      '3 linux/userfaultfd.h ok',
      '4 native/uffd/*.cc ok',
      '4 dist/test/y.test.js its source test/y.test.ts does not exist',
    ]);
    const md = mentionsIn('docs/operations.md', 'See [the README](../README.md#what-an-acknowledgement-means), [gone](missing.md#x), [web](https://example.org/a.md), [x](../README.md#not-a-heading).', true);
    assert.deepEqual(md.map((m) => `${m.text} ${check(m) ?? 'ok'}`), ['../README.md ok', 'missing.md does not exist', '../README.md has no heading #not-a-heading']);
  });
});
