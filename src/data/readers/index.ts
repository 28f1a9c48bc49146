/** Reading any supported file into rows: the format comes from the name (or `format`), gzip from the bytes. */
import { DatasetError } from '../errors';
import type { DataSource } from '../source';
import { checkText, openBytes } from './bytes';
import { readCsv } from './csv';
import { readJsonArray } from './jsonArray';
import { readJsonl } from './jsonl';
import { readParquet } from './parquet';
import { readText } from './text';
import type { DataFormat, ReadOptions, RowItem } from './types';

export type { DataFormat, ReadOptions, RowItem } from './types';

const EXTENSIONS: Record<string, DataFormat> = {
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  json: 'json',
  csv: 'csv',
  tsv: 'tsv',
  tab: 'tsv',
  txt: 'text',
  text: 'text',
  md: 'text',
  parquet: 'parquet',
  pq: 'parquet',
};

export const SUPPORTED_EXTENSIONS = Object.keys(EXTENSIONS).map((e) => `.${e}`);

/** The format a file name implies, or undefined; `.gz` is looked through. */
export function formatFromName(name: string): { format: DataFormat | undefined; ext: string; gzipName: boolean } {
  let base = name.toLowerCase();
  const gzipName = base.endsWith('.gz');
  if (gzipName) base = base.slice(0, -3);
  const dot = base.lastIndexOf('.');
  const ext = dot >= 0 ? base.slice(dot + 1) : '';
  return { format: EXTENSIONS[ext], ext, gzipName };
}

export function resolveFormat(source: DataSource, format?: DataFormat): DataFormat {
  if (format) return format;
  const f = formatFromName(source.name);
  if (!f.format) {
    const what = f.ext ? `unknown extension ".${f.ext}"` : 'no file extension';
    throw new DatasetError(
      'unknown-format',
      `${what}; supported: ${SUPPORTED_EXTENSIONS.join(', ')} (optionally .gz)`,
      { file: source.name },
      'rename the file, or choose the format explicitly (format option; CLI: --format) if it is one of these',
    );
  }
  if (f.format === 'parquet' && f.gzipName) {
    throw new DatasetError('unknown-format', 'gzip-compressed Parquet is not supported (Parquet compresses its own pages)', { file: source.name }, 'decompress the file first (gunzip)');
  }
  return f.format;
}

/** Streams the rows of a file. File-level problems throw a DatasetError; row-level problems are yielded. */
export async function* readRows(source: DataSource, opts: ReadOptions = {}): AsyncGenerator<RowItem> {
  const file = source.name;
  const format = resolveFormat(source, opts.format);
  let count = 0;
  if (format === 'parquet') {
    const rows = readParquet(source, {
      batchRows: opts.parquetBatchRows,
      maxDepth: opts.maxDepth,
      maxRecordBytes: opts.maxRecordBytes,
      maxRowGroupBytes: opts.maxParquetRowGroupBytes,
      onBytes: opts.onBytes,
      signal: opts.signal,
    });
    for await (const r of rows) {
      count++;
      yield r;
    }
    if (count === 0) throw new DatasetError('no-rows', 'Parquet file has no rows', { file }, 'export a table with rows');
    return;
  }
  if (source.size === 0) throw new DatasetError('empty-file', 'file is empty (0 bytes)', { file }, 'choose the file that holds the data');
  const { gzip, encoding, first, chunks } = await openBytes(source, opts);
  try {
    if (!first) throw new DatasetError('empty-file', gzip ? 'gzip file inflates to nothing' : 'file is empty (0 bytes)', { file }, 'choose the file that holds the data');
    if (encoding === 'utf-8') checkText(file, first);
    let rows: AsyncGenerator<RowItem>;
    if (format === 'json' || format === 'jsonl') {
      const { lead, replay } = await peekLead(chunks);
      rows = lead === '[' ? readJsonArray(replay, file, opts.maxRecordBytes, opts.maxDepth) : readJsonl(replay, file, opts.maxRecordBytes, opts.maxDepth);
    } else if (format === 'csv' || format === 'tsv') {
      rows = readCsv(chunks, file, format === 'csv' ? ',' : '\t', opts.maxRecordBytes);
    } else {
      rows = readText(chunks, file, opts.textMode, opts.maxRecordBytes);
    }
    for await (const r of rows) {
      count++;
      yield r;
    }
    if (count === 0) throw new DatasetError('no-rows', 'file has no rows (only blank lines or a header)', { file }, 'add rows to the file');
  } finally {
    await chunks.return(undefined);
  }
}

/** The first character after a BOM and whitespace (looking at most 1 MiB ahead), and the stream replayed whole. */
async function peekLead(chunks: AsyncGenerator<Uint8Array>): Promise<{ lead: string | undefined; replay: AsyncGenerator<Uint8Array> }> {
  const seen: Uint8Array[] = [];
  let pos = 0; // bytes looked at, across chunks
  let lead: string | undefined;
  const BOM = [0xef, 0xbb, 0xbf];
  outer: while (pos < 2 ** 20) {
    const r = await chunks.next();
    if (r.done) break;
    seen.push(r.value);
    for (const c of r.value) {
      const inBom = pos < 3 && c === BOM[pos];
      pos++;
      if (inBom || c === 32 || c === 9 || c === 10 || c === 13) continue;
      lead = String.fromCharCode(c);
      break outer;
    }
  }
  async function* replay(): AsyncGenerator<Uint8Array> {
    try {
      yield* seen;
      yield* chunks;
    } finally {
      await chunks.return(undefined);
    }
  }
  return { lead, replay: replay() };
}
