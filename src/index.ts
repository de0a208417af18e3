// Package root: the TypeScript client, the ummap runtime and the error type.
export { IocClient } from './client';
export type { ObjectIdPart } from './client';
export { IocError } from './errors';
export * from './ummap';
