/** Datasets: readers, schema detection, rendering to tokens, batches. Browser-safe (Node paths: ./nodeSource). */
export * from './errors';
export * from './source';
export * from './schema';
export * from './detect';
export * from './normalize';
export * from './templates';
export * from './tokenize';
export * from './batches';
export * from './stats';
export * from './dataset';
export { readRows, formatFromName, resolveFormat, SUPPORTED_EXTENSIONS } from './readers/index';
export type { DataFormat, ReadOptions, RowItem } from './readers/types';
export { DEFAULT_BYTE_LIMITS, type ByteLimits } from './readers/bytes';
