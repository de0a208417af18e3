// The fenced code blocks of a markdown document, with the convention of test/docs.test.ts:
//   ```ts           runs (typechecked, then executed as an ES module against a test server)
//   ```ts no-run    typechecked only (it needs what a test cannot give, e.g. several hosts)
//   ```text         right after a ```ts block (blank lines between allowed): that block's
//                   expected standard output
// Every other block (```sh, ```c, ```yaml, ...) is text for the reader and is not run.

export interface DocBlock {
  /** The document, as given. */
  file: string;
  /** Line of the opening fence (1-based). */
  line: number;
  lang: string;
  /** Words after the language on the fence line ("no-run"). */
  flags: string[];
  code: string;
  /** For a ```ts block: the ```text block that follows it. */
  expectedOutput?: string;
}

export function codeBlocks(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  let lastEnd = -2;
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && lines[j] !== '```') j++;
    if (j >= lines.length) throw new Error(`${file}:${i + 1}: code block without a closing fence`);
    const block: DocBlock = { file, line: i + 1, lang: open[1], flags: open[2].split(/\s+/).filter(Boolean), code: lines.slice(i + 1, j).join('\n') + '\n' };
    const prev = blocks[blocks.length - 1];
    const onlyBlankBetween = lines.slice(lastEnd + 1, i).every((l) => l.trim() === '');
    if (block.lang === 'text' && prev?.lang === 'ts' && prev.expectedOutput === undefined && onlyBlankBetween) {
      prev.expectedOutput = block.code;
    } else {
      blocks.push(block);
    }
    lastEnd = j;
    i = j;
  }
  return blocks;
}

/** The blocks test/docs.test.ts runs. */
export const runs = (b: DocBlock) => b.lang === 'ts' && !b.flags.includes('no-run');
/** The blocks it typechecks (every ```ts block). */
export const typechecks = (b: DocBlock) => b.lang === 'ts';
