/** Datasets: readers, schema detection, rendering to tokens, batches, reports. Browser-safe (Node paths: ./nodeSource). */
export * from './errors';
export * from './source';
export * from './schema';
export * from './detect';
export * from './normalize';
export * from './templates';
export * from './tokenize';
export * from './batches';
export * from './classify';
export * from './stats';
export * from './split';
export * from './report';
export * from './dataset';
export { readRows, formatFromName, resolveFormat, SUPPORTED_EXTENSIONS } from './readers/index';
export type { DataFormat, ReadOptions, RowItem } from './readers/types';
export { DEFAULT_BYTE_LIMITS, type ByteLimits } from './readers/bytes';
export { DEFAULT_MAX_RECORD_BYTES } from './readers/lines';
export { DEFAULT_MAX_PARQUET_ROW_GROUP_BYTES } from './readers/parquet';
