// Loads the native addon (build/Release/iocatcher.node; its sources: native/addon/) once. Its
// typed surface: src/client/native-types.ts (the client) and src/ummap/native-types.ts (ummap).
import * as path from 'path';
import type { NativeClientBinding } from './client/native-types';
import { IocError } from './errors';
import type { NativeTestHooks, NativeUmapBinding } from './ummap/native-types';

/** File helpers Node's fs lacks (native/addon/file_binding.cc). */
export interface NativeFileBinding {
  /** Reserves the first size bytes of the open file's blocks; rejects with the errno's code
   *  (EOPNOTSUPP: the file system cannot; ENOSPC: no room). */
  fileAllocate(fd: number, size: number): Promise<void>;
}

export type NativeAddon = NativeClientBinding & NativeUmapBinding & NativeFileBinding;

/** Root of the package (the folder holding package.json), from dist/src or src. */
export const packageRoot: string = (() => {
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (require('fs').existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
})();

/** The package's version (package.json). */
export const packageVersion: string = (() => {
  try {
    return (JSON.parse(require('fs').readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

/** Prebuilt binaries an `npm pack` tarball carries for this platform (scripts/prepack.js). */
export const prebuiltDir: string = path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);

/**
 * Folder holding the native build outputs: IOC_BUILD_DIR/Release when set, else build/Release
 * when the addon was compiled there (a clone, or an install that compiled), else the prebuilt
 * binaries of the package.
 */
export const nativeBuildDir: string = (() => {
  if (process.env.IOC_BUILD_DIR) return path.join(process.env.IOC_BUILD_DIR, 'Release');
  const built = path.join(packageRoot, 'build', 'Release');
  const fs = require('fs') as typeof import('fs');
  if (!fs.existsSync(path.join(built, 'iocatcher.node')) && fs.existsSync(path.join(prebuiltDir, 'iocatcher.node'))) return prebuiltDir;
  return built;
})();

/** How to get the native parts, as advice that works where the package is: a clone or an install. */
export function buildAdvice(): string {
  const clone = require('fs').existsSync(path.join(packageRoot, '.git'));
  return clone ? 'run: bash scripts/setup.sh' : 'run: npm rebuild iocatcher (compiles them; needs apt-get install cmake g++ make pkg-config libfabric-dev libpmem-dev)';
}

let cached: NativeAddon | undefined;

export function addon(): NativeAddon {
  if (!cached) {
    const file = path.join(nativeBuildDir, 'iocatcher.node');
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      cached = require(file) as NativeAddon;
    } catch (e) {
      const msg = (e as Error).message;
      // A prebuilt addon that is there but needs a missing runtime library: name its package.
      const advice = /libfabric\.so/.test(msg) ? 'install the libfabric runtime: apt-get install libfabric1' : buildAdvice();
      const err = new Error(`cannot load the native addon ${file} (${advice}): ${msg}`);
      (err as Error & { code: string }).code = 'ENOADDON';
      throw err;
    }
  }
  return cached;
}

/**
 * The addon's test and bench exports (umapTest*, umapBench*). Compiled only into test builds
 * (IOC_BUILD_TOOLS=ON, as bash scripts/setup.sh builds); IocError ENOTSUP in a release build.
 */
export function testHooks(): NativeTestHooks {
  const a = addon() as NativeAddon & Partial<NativeTestHooks>;
  if (typeof a.umapTestPauseWriteBack !== 'function') {
    throw new IocError('ENOTSUP', `the native addon in ${nativeBuildDir} is a release build: test hooks are only in test builds ` +
      '(IOC_BUILD_TOOLS=ON: bash scripts/setup.sh)');
  }
  return a as NativeAddon & NativeTestHooks;
}
