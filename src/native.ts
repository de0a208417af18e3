// Loads the native addon (build/Release/iocatcher.node) once. Each half of the addon declares
// its own typed surface: src/client/native-types.ts and src/ummap/native-types.ts.
import * as path from 'path';
import type { NativeClientBinding } from './client/native-types';
import type { NativeUmapBinding } from './ummap/native-types';

export type NativeAddon = NativeClientBinding & NativeUmapBinding;

/** Root of the package (the folder holding package.json), from dist/src or src. */
export const packageRoot: string = (() => {
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (require('fs').existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
})();

/** Folder holding the native build outputs (override with IOC_BUILD_DIR). */
export const nativeBuildDir: string = path.join(process.env.IOC_BUILD_DIR ?? path.join(packageRoot, 'build'), 'Release');

let cached: NativeAddon | undefined;

export function addon(): NativeAddon {
  if (!cached) {
    const file = path.join(nativeBuildDir, 'iocatcher.node');
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      cached = require(file) as NativeAddon;
    } catch (e) {
      const err = new Error(`cannot load the native addon ${file} (run npm run build): ${(e as Error).message}`);
      (err as Error & { code: string }).code = 'ENOADDON';
      throw err;
    }
  }
  return cached;
}
