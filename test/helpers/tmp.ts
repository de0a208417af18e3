// Temporary directories of a test run: removed when the process exits (stores and pools of a
// whole suite run add up to gigabytes), unless IOC_KEEP_TMP=1 keeps them for a post-mortem.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isMainThread } from 'worker_threads';

const made: string[] = [];
if (isMainThread && !process.env.IOC_KEEP_TMP) {
  process.on('exit', () => {
    for (const d of made) {
      try {
        fs.rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort: a daemon may still be writing into it as it dies */
      }
    }
  });
}

export function tmpDir(prefix = 'ioc-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}
