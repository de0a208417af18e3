// What must never be in a release binary: failpoint names (native/common/failpoint_list.h), the
// failpoints' variable, the old per-hook variables and the addon's test and bench exports.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { repoRoot } from './server';

/** Every failpoint name, as failpoint_list.h declares them. */
export function failpointNames(): string[] {
  const list = fs.readFileSync(path.join(repoRoot, 'native', 'common', 'failpoint_list.h'), 'utf8');
  return [...list.matchAll(/^IOC_FAILPOINT_DEF\(\w+, "([\w.]+)"/gm)].map((m) => m[1]);
}

/** The strings of a test build that a release build must not hold. */
export function testOnlyStrings(): string[] {
  return [...failpointNames(), 'IOC_FAILPOINTS', 'IOC_TEST', 'umapTest', 'umapBench', 'test hook'];
}

/** Which of testOnlyStrings() the binary holds (`strings`: its printable runs of 4+ bytes). */
export function testOnlyStringsIn(file: string): string[] {
  const r = spawnSync('strings', ['-a', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`strings ${file} failed: ${r.stderr}`);
  return testOnlyStrings().filter((s) => r.stdout.includes(s));
}
