/**
 * Parquet through hyparquet. Parquet needs random access (the footer first, then column chunks), so this reads
 * byte ranges through `source.slice` rather than a stream, a batch of rows at a time. The footer and the row groups'
 * sizes are checked before any row is decoded: a truncated file, a file holding only its magic bytes or a corrupt
 * footer is a typed error that says what to do, and a row group too large to decode in memory is refused.
 */
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { DatasetError } from '../errors';
import type { DataSource } from '../source';
import { fmtBytes } from './bytes';
import { DEFAULT_MAX_RECORD_BYTES, recordTooLarge } from './lines';
import { DEFAULT_MAX_DEPTH, jsonDepth, type RowItem } from './types';

/** Default cap on the compressed bytes of one row group (hyparquet decodes a row group's column chunks whole). */
export const DEFAULT_MAX_PARQUET_ROW_GROUP_BYTES = 256 * 2 ** 20;

export function asyncBufferOf(source: DataSource): AsyncBuffer {
  const slice = source.slice;
  if (!slice) throw new DatasetError('parquet', 'Parquet needs random access to the file, and this source only streams', { file: source.name }, 'give the file itself (a File or a path), not a stream');
  return {
    byteLength: source.size,
    slice: async (start, end) => {
      const b = await slice(start, end ?? source.size);
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer);
    },
  };
}

/** BigInt (INT64 columns) to Number, Dates to ISO strings, typed arrays to plain arrays: rows become plain JSON. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Date) return v.toISOString();
  if (ArrayBuffer.isView(v)) return v instanceof Uint8Array ? new TextDecoder().decode(v) : Array.from(v as unknown as ArrayLike<number>, plain);
  if (Array.isArray(v)) return v.map(plain);
  const out: Record<string, unknown> = {};
  for (const k in v as Record<string, unknown>) out[k] = plain((v as Record<string, unknown>)[k]);
  return out;
}

/** Approximate bytes of a row's values (string lengths), stopping once past `limit`. */
function approxSize(v: unknown, limit: number): number {
  let total = 0;
  const walk = (x: unknown): void => {
    if (total > limit) return;
    if (typeof x === 'string') total += x.length;
    else if (Array.isArray(x)) for (const y of x) walk(y);
    else if (x !== null && typeof x === 'object') for (const k in x as Record<string, unknown>) walk((x as Record<string, unknown>)[k]);
    else total += 8;
  };
  walk(v);
  return total;
}

const REEXPORT = 'the file is truncated or was not written by a Parquet writer; export it again (e.g. pandas DataFrame.to_parquet, datasets Dataset.to_parquet)';

export interface ParquetOptions {
  batchRows?: number;
  maxDepth?: number;
  maxRecordBytes?: number;
  maxRowGroupBytes?: number;
  onBytes?: (bytesRead: number) => void;
  signal?: AbortSignal;
}

export async function* readParquet(source: DataSource, opts: ParquetOptions = {}): AsyncGenerator<RowItem> {
  const file = source.name;
  const batchRows = opts.batchRows ?? 1024;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const maxGroup = opts.maxRowGroupBytes ?? DEFAULT_MAX_PARQUET_ROW_GROUP_BYTES;
  if (source.size === 0) throw new DatasetError('empty-file', 'file is empty (0 bytes)', { file }, 'export the data again');
  const buffer = asyncBufferOf(source);
  const head = new Uint8Array(await buffer.slice(0, Math.min(4, source.size)));
  if (String.fromCharCode(...head) !== 'PAR1') {
    throw new DatasetError('parquet', 'not a Parquet file: it does not start with the magic bytes "PAR1"', { file, byteOffset: 0 }, 'if it is CSV or JSON, give it that extension');
  }
  if (source.size < 12) {
    throw new DatasetError(
      'parquet',
      `the file is ${source.size} bytes: only the "PAR1" magic, with no footer (a Parquet file ends with its metadata, the metadata's length and "PAR1")`,
      { file, byteOffset: source.size },
      REEXPORT,
    );
  }
  const tail = new Uint8Array(await buffer.slice(source.size - 8, source.size));
  if (String.fromCharCode(...tail.subarray(4)) !== 'PAR1') {
    throw new DatasetError('parquet', 'the file does not end with "PAR1": its footer is missing', { file, byteOffset: source.size - 4 }, REEXPORT);
  }
  const metaLength = new DataView(tail.buffer, tail.byteOffset).getUint32(0, true);
  if (metaLength === 0 || metaLength > source.size - 12) {
    throw new DatasetError('parquet', `the footer declares ${metaLength} bytes of metadata in a ${source.size}-byte file`, { file, byteOffset: source.size - 8 }, REEXPORT);
  }
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
    if (!Array.isArray(metadata.schema) || metadata.schema.length === 0 || !Array.isArray(metadata.row_groups)) throw new Error('no schema or row groups');
  } catch (e) {
    throw new DatasetError('parquet', `the footer (file metadata) is corrupt: ${(e as Error).message}`, { file, byteOffset: source.size - 8 - metaLength }, REEXPORT);
  }
  const total = Number(metadata.num_rows);
  if (!Number.isFinite(total) || total < 0) throw new DatasetError('parquet', `the footer gives ${String(metadata.num_rows)} rows`, { file }, REEXPORT);
  let groupStart = 0;
  for (const [g, group] of metadata.row_groups.entries()) {
    const bytes = group.columns.reduce((n, c) => n + Number(c.meta_data?.total_compressed_size ?? 0), 0);
    if (bytes > maxGroup) {
      throw new DatasetError(
        'parquet',
        `row group ${g + 1} (rows ${groupStart + 1}–${groupStart + Number(group.num_rows)}) holds ${fmtBytes(bytes)}, more than the ${fmtBytes(maxGroup)} decoded at once`,
        { file, row: groupStart + 1 },
        'write the file with smaller row groups (pyarrow.parquet.write_table(..., row_group_size=10_000)), or raise maxParquetRowGroupBytes',
      );
    }
    groupStart += Number(group.num_rows);
  }
  for (let start = 0; start < total; start += batchRows) {
    opts.signal?.throwIfAborted();
    const end = Math.min(total, start + batchRows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: buffer, metadata, rowStart: start, rowEnd: end });
    } catch (e) {
      throw new DatasetError('parquet', `cannot decode rows ${start + 1}–${end}: ${(e as Error).message}`, { file, row: start + 1 }, REEXPORT);
    }
    for (let k = 0; k < rows.length; k++) {
      const row = start + k + 1;
      const value = plain(rows[k]) as Record<string, unknown>;
      rows[k] = undefined as never; // let the batch go as it is consumed
      if (approxSize(value, maxRecordBytes) > maxRecordBytes) {
        yield { ok: false, error: recordTooLarge(file, `row ${row}`, maxRecordBytes, { row }) };
        continue;
      }
      if (jsonDepth(value, maxDepth) > maxDepth) {
        yield { ok: false, error: new DatasetError('too-deep', `row nested deeper than ${maxDepth} levels`, { file, row }, 'flatten the nested columns') };
        continue;
      }
      yield { ok: true, row, value };
    }
    // Progress as the fraction of rows done, in bytes of the file.
    opts.onBytes?.(Math.round((source.size * end) / total));
  }
}
