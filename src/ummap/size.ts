// The size syntax is shared by the whole package: see src/size.ts.
export { parseSize, SIZE_SYNTAX } from '../size';
