import type { DatasetError } from '../errors';
import type { ByteLimits } from './bytes';

/** One record of a file, as a plain object of columns, or the reason it could not be read. */
export type RowItem =
  | { ok: true; row: number; line?: number; value: Record<string, unknown> }
  | { ok: false; error: DatasetError };

export type DataFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'text' | 'parquet';

export interface ReadOptions extends ByteLimits {
  /** Overrides the format chosen from the file name. */
  format?: DataFormat;
  /**
   * Largest record: a line (JSONL), a CSV record, a JSON array element, a text document, a Parquet row. A larger
   * one is a row error (code record-too-large) raised before it is held in memory. Bytes for lines; characters for
   * multi-line records. Default 8 MiB.
   */
  maxRecordBytes?: number;
  /** Deepest nesting of a JSON record. Default 64 (a chat row needs 3). */
  maxDepth?: number;
  /** Plain text: 'paragraphs' (documents separated by blank lines, the default) or 'file' (the whole file is one document). */
  textMode?: 'paragraphs' | 'file';
  /** Parquet rows read per request. Default 1024. */
  parquetBatchRows?: number;
  /** Largest Parquet row group (compressed bytes) decoded at once. Default 256 MiB. */
  maxParquetRowGroupBytes?: number;
}

export const DEFAULT_MAX_DEPTH = 64;

/** Nesting depth of a parsed JSON value, stopping early once past `limit` (so the walk itself cannot overflow). */
export function jsonDepth(v: unknown, limit: number, depth = 0): number {
  if (v === null || typeof v !== 'object') return depth;
  if (depth + 1 > limit) return depth + 1;
  let max = depth + 1;
  if (Array.isArray(v)) {
    for (const x of v) {
      if (x !== null && typeof x === 'object') max = Math.max(max, jsonDepth(x, limit, depth + 1));
      if (max > limit) break;
    }
  } else {
    for (const k in v as Record<string, unknown>) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== null && typeof x === 'object') max = Math.max(max, jsonDepth(x, limit, depth + 1));
      if (max > limit) break;
    }
  }
  return max;
}

export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}
