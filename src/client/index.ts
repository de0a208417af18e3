// The TypeScript client: IocClient (client.ts) and what its calls take and answer with.
export { IocClient } from './client';
export { idPart } from './args';
export type { ObjectIdPart, ServerList } from './args';
export type { ListOptions } from './list';
export type { ObjectStat, ServerEpoch } from './types';
