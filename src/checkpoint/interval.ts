// How often to checkpoint, from the cost of one checkpoint and the mean time between failures.
import { IocError } from '../errors';

/** Which first-order model: Young's sqrt(2CM), or Daly's refinement of it. */
export type IntervalFormula = 'young' | 'daly';

/** What {@link CheckpointSet.suggestedInterval} advises. */
export interface IntervalAdvice {
  /** Seconds of computation between two checkpoints. */
  seconds: number;
  /** The checkpoint cost used (seconds): the mean of the measured checkpoints, or the one given. */
  costSeconds: number;
  /** The mean time between failures used (seconds). */
  mtbfSeconds: number;
  /** The formula used. */
  formula: IntervalFormula;
}

/**
 * The interval between checkpoints that loses the least time for checkpoint cost C and mean time
 * between failures M (both seconds). Young: sqrt(2CM). Daly: sqrt(2CM) (1 + sqrt(C/2M)/3 +
 * C/(18M)) - C while C < 2M, else M.
 */
export function optimalInterval(costSeconds: number, mtbfSeconds: number, formula: IntervalFormula = 'daly'): number {
  if (!(costSeconds >= 0) || !Number.isFinite(costSeconds)) throw new IocError('EINVAL', `checkpoint cost must be a finite number of seconds >= 0, got ${costSeconds}`);
  if (!(mtbfSeconds > 0) || !Number.isFinite(mtbfSeconds)) throw new IocError('EINVAL', `mtbfSeconds must be a finite number of seconds > 0, got ${mtbfSeconds}`);
  if (formula !== 'young' && formula !== 'daly') throw new IocError('EINVAL', `formula must be 'young' or 'daly', got '${String(formula)}'`);
  const young = Math.sqrt(2 * costSeconds * mtbfSeconds);
  if (formula === 'young') return young;
  if (costSeconds >= 2 * mtbfSeconds) return mtbfSeconds;
  const r = costSeconds / (2 * mtbfSeconds);
  return young * (1 + Math.sqrt(r) / 3 + r / 9) - costSeconds;
}
