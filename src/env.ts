// The IOC_* environment variables iocatcher reads, and their checks: a misspelt name or a value
// that is not a number must be an error saying so, not a setting silently ignored.
import { IocError } from './errors';

/** Variables of the client library (C and TypeScript) that take a whole number, and their range. */
export const CLIENT_NUMBER_VARIABLES: Record<string, { min: number; max: number; unit: string }> = {
  IOC_CLIENT_TIMEOUT_MS: { min: 0, max: 86400000, unit: 'milliseconds' },
  IOC_CLIENT_SPIN_US: { min: 0, max: 1000, unit: 'microseconds' },
};

/**
 * Every IOC_* variable read somewhere besides the server options' own IOC_<OPTION> ones (see
 * src/server/config.ts): client, debugging, build and test-run variables.
 */
export const OTHER_VARIABLES = [
  'IOC_SERVER', 'IOC_CLIENT_DEBUG', 'IOC_CLIENT_TIMEOUT_MS', 'IOC_CLIENT_SPIN_US', 'IOC_DEBUG', 'IOC_CONFIG',
  'IOC_BUILD_DIR', 'IOC_DIST_DIR', 'IOC_FORCE_BUILD', 'IOC_EXIT_WITH_PARENT', 'IOC_CONTROL_FD', 'IOC_SERVER_SPIN_US',
  'IOC_FAILPOINTS', 'IOC_UFFD_NO_WP_ASYNC', 'IOC_DATA_DIR', 'IOC_SETUP_CEPH', 'IOC_FULL_CI', 'IOC_KEEP_TMP',
  'IOC_SOAK', 'IOC_SOAK_SECONDS', 'IOC_SANITIZED', 'IOC_SKIP_RADOS', 'IOC_SKIP_PACK_TEST', 'IOC_ASAN_SPEC',
  'IOC_METRICS_SCRAPE_TIMEOUT_MS', 'IOC_LONG_FAULTS', 'IOC_LONG_FAULTS_ROUNDS', 'IOC_LONG_FAULTS_SEED',
  'IOC_PARTITION_NO_FENCING',
];

/** Checks the client variables that take numbers; IocError EINVAL naming the variable otherwise. */
export function checkClientEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, r] of Object.entries(CLIENT_NUMBER_VARIABLES)) {
    const v = env[name];
    if (v === undefined) continue;
    // Plain checks: the client's import path stays free of a schema library's load time.
    if (!/^\d+$/.test(v) || Number(v) < r.min || Number(v) > r.max) {
      throw new IocError('EINVAL', `environment ${name}='${v}' is not a whole number of ${r.unit} (${r.min}-${r.max})`);
    }
  }
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `name`, and how far it is. */
export function closest(name: string, known: readonly string[]): { name: string; distance: number } {
  let best = { name: known[0], distance: Infinity };
  for (const k of known) {
    const dist = distance(name, k);
    if (dist < best.distance) best = { name: k, distance: dist };
  }
  return best;
}

/**
 * Unknown IOC_* variables. One within two edits of a known name is a typo: IocError EINVAL naming
 * the known one. Others only return a warning (naming the closest known one), since scripts
 * around iocatcher may use the prefix too. The tests' faults are all in IOC_FAILPOINTS (test builds).
 */
export function checkEnvNames(env: NodeJS.ProcessEnv, known: readonly string[]): string[] {
  const warnings: string[] = [];
  const all = [...new Set([...known, ...OTHER_VARIABLES])];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('IOC_') || all.includes(name)) continue;
    const near = closest(name, all);
    if (near.distance <= 2) throw new IocError('EINVAL', `unknown environment variable ${name} (did you mean ${near.name}?)`);
    warnings.push(`ignoring unknown environment variable ${name} (closest known: ${near.name})`);
  }
  return warnings;
}
