// Package root: the TypeScript client, the ummap runtime and the error type.
export { IocClient } from './client';
export type { ListOptions, ObjectIdPart, ObjectStat, ServerEpoch, ServerList } from './client';
export type { I64 } from './client/native-types';
export { IocError } from './errors';
export type { ErrnoCode, IocErrorCode } from './errors';
export type { AbortOptions } from './abort';
export * from './ummap';
export { SIZE_SYNTAX } from './size';
/** The package's version (as in its package.json). */
export { packageVersion as version } from './native';
export * from './checkpoint';
