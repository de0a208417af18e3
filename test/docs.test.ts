// The code of the documentation works: every ```ts block of README.md and docs/*.md is
// typechecked against the package's types, and every one not marked `no-run` runs, in document
// order, each as its own ES module in a new node process (so a later block reading what an earlier
// one wrote is a restart), against a real server whose address is in IOC_SERVER. README blocks
// run as written (the README says they are plain JavaScript); those of docs/ are compiled first.
// A ```text block right after a ```ts block is its expected output. Shell, C, YAML and other
// blocks are not run (docs/testing.md, "Documentation tests").
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { codeBlocks, DocBlock, runs, typechecks } from './helpers/doc-blocks';
import { run } from './helpers/run';
import { repoRoot, ServerHandle, startServer, tmpDir } from './helpers/server';

const documents = ['README.md', ...fs.readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const blocks = documents.flatMap((d) => codeBlocks(d, fs.readFileSync(path.join(repoRoot, d), 'utf8')));
const where = (b: DocBlock) => `${b.file}:${b.line}`;
const moduleName = (b: DocBlock) => `${b.file.replace(/[^A-Za-z0-9]+/g, '-')}-${b.line}.mts`;

describe('documentation code blocks', function () {
  this.timeout(120000);
  let server: ServerHandle;
  let scratch: string;
  let diagnostics: string[] = [];

  before(async () => {
    // A project beside the documents' reader's: `import ... from 'iocatcher'` resolves this
    // repository as an installed package (its exports map, dist/ and types).
    scratch = tmpDir('ioc-docs-');
    fs.mkdirSync(path.join(scratch, 'node_modules'));
    fs.symlinkSync(repoRoot, path.join(scratch, 'node_modules', 'iocatcher'), 'dir');
    const files = blocks.filter(typechecks).map((b) => {
      const f = path.join(scratch, moduleName(b));
      fs.writeFileSync(f, b.code);
      return f;
    });
    const program = ts.createProgram(files, {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      typeRoots: [path.join(repoRoot, 'node_modules', '@types')],
      strict: true,
      skipLibCheck: true,
      outDir: path.join(scratch, 'compiled'),
    });
    const emitted = program.emit();
    diagnostics = ts.getPreEmitDiagnostics(program).concat(emitted.diagnostics).map((d) => {
      const block = blocks.find((b) => d.file && path.basename(d.file.fileName) === moduleName(b));
      const pos = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
      const at = block ? `${block.file}:${block.line + 1 + pos}` : d.file?.fileName ?? '';
      return `${at}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    server = await startServer();
  });
  after(async () => { await server?.stop(); });

  it('the README has a quick start that runs: a client write and read, a mapping, a checkpoint (sync) and a restart reading it back', () => {
    const readme = blocks.filter((b) => b.file === 'README.md' && runs(b));
    const code = readme.map((b) => b.code).join('\n');
    assert.ok(readme.length >= 3, `${readme.length} runnable README blocks`);
    for (const part of ['IocClient.connect(', '.write(', '.read(', 'ummap(', '.sync()']) assert.ok(code.includes(part), `the README's runnable blocks use ${part}`);
    // The restart: a later block maps again what an earlier one checkpointed, and prints it.
    assert.ok(readme.slice(1).some((b) => b.code.includes('ummap(') && b.expectedOutput), 'a later block maps the checkpoint again and shows its output');
  });

  it('every ```ts block typechecks against the package', () => {
    assert.ok(blocks.filter(typechecks).length > 0);
    assert.deepEqual(diagnostics, []);
  });

  for (const b of blocks.filter(runs)) {
    it(`${where(b)} runs${b.expectedOutput ? ' and prints what the document shows' : ''}`, async () => {
      const js = moduleName(b).replace(/\.mts$/, '.mjs');
      const file = b.file === 'README.md' ? path.join(scratch, js) : path.join(scratch, 'compiled', js);
      if (b.file === 'README.md') fs.writeFileSync(file, b.code);
      assert.ok(fs.existsSync(file), `${file} was emitted`);
      const { stdout } = await run(process.execPath, [file], {
        cwd: scratch,
        env: { ...process.env, IOC_SERVER: server.address },
        timeout: 60000,
      });
      if (b.expectedOutput !== undefined) assert.equal(stdout.trimEnd(), b.expectedOutput.trimEnd());
    });
  }

  it('blocks are read by the convention: a ```text block after a ```ts block is its output; no-run blocks are only typechecked', () => {
    const md = ['```ts', 'console.log(1);', '```', '', '```text', '1', '```', '```ts no-run', 'x();', '```', '```sh', 'ls', '```', '```text', 'alone', '```'].join('\n');
    const parsed = codeBlocks('x.md', md);
    assert.deepEqual(parsed.map((b) => [b.lang, b.line, runs(b), typechecks(b), b.expectedOutput]), [
      ['ts', 1, true, true, '1\n'],
      ['ts', 8, false, true, undefined],
      ['sh', 11, false, false, undefined],
      ['text', 14, false, false, undefined],
    ]);
    assert.throws(() => codeBlocks('y.md', '```ts\nunclosed'), /y\.md:1: code block without a closing fence/);
  });
});
