/**
 * Parquet through hyparquet. Parquet needs random access (the footer first, then column chunks), so this reads
 * byte ranges through `source.slice` rather than a stream, a batch of rows at a time.
 */
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { DatasetError } from '../errors';
import type { DataSource } from '../source';
import { DEFAULT_MAX_DEPTH, jsonDepth, type RowItem } from './types';

export function asyncBufferOf(source: DataSource): AsyncBuffer {
  const slice = source.slice;
  if (!slice) throw new DatasetError('parquet', 'Parquet needs random access to the file, and this source only streams', { file: source.name });
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

export async function* readParquet(
  source: DataSource,
  batchRows = 1024,
  maxDepth = DEFAULT_MAX_DEPTH,
  onBytes?: (bytesRead: number) => void,
): AsyncGenerator<RowItem> {
  const file = source.name;
  if (source.size === 0) throw new DatasetError('empty-file', 'file is empty (0 bytes)', { file });
  const buffer = asyncBufferOf(source);
  const magic = new Uint8Array(await buffer.slice(0, Math.min(4, source.size)));
  if (source.size < 12 || String.fromCharCode(...magic) !== 'PAR1') {
    throw new DatasetError('parquet', 'not a Parquet file: it does not start with the magic bytes "PAR1"', { file, byteOffset: 0 });
  }
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (e) {
    throw new DatasetError('parquet', `cannot read the Parquet footer: ${(e as Error).message}`, { file });
  }
  const total = Number(metadata.num_rows);
  for (let start = 0; start < total; start += batchRows) {
    const end = Math.min(total, start + batchRows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: buffer, metadata, rowStart: start, rowEnd: end });
    } catch (e) {
      throw new DatasetError('parquet', `cannot decode rows ${start + 1}–${end}: ${(e as Error).message}`, { file, row: start + 1 });
    }
    for (let k = 0; k < rows.length; k++) {
      const row = start + k + 1;
      const value = plain(rows[k]) as Record<string, unknown>;
      if (jsonDepth(value, maxDepth) > maxDepth) {
        yield { ok: false, error: new DatasetError('too-deep', `row nested deeper than ${maxDepth} levels`, { file, row }) };
        continue;
      }
      yield { ok: true, row, value };
    }
    // Progress as the fraction of rows done, in bytes of the file.
    onBytes?.(Math.round((source.size * end) / total));
  }
}
