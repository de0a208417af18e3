// Checkpoint sets: versions of memory regions committed atomically (docs/checkpoints.md).
export { openCheckpoints, CheckpointSet } from './set';
export type { CheckpointCallOptions, CheckpointResult, CheckpointSetOptions, IntervalOptions, ProtectedRegion, VersionInfo, VersionRegion } from './set';
export type { Durability, Manifest, ManifestRegion } from './manifest';
export { setHigh, objectLow, splitLow } from './ids';
export type { LowParts } from './ids';
export { optimalInterval } from './interval';
export type { IntervalAdvice, IntervalFormula } from './interval';
