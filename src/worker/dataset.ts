// Reading a dropped dataset inside the worker with the data module's streaming readers: a preview,
// schema detection, line-numbered errors, then rendering every row through the model's tokenizer
// into train and validation token stores with statistics for the UI.
import { readRows } from '../data/readers';
import { fromBlob, type DataSource } from '../data/source';
import { detectSchema } from '../data/detect';
import { normalizeRow } from '../data/normalize';
import { renderExample, type Tokenizer } from '../data/tokenize';
import { TokenStore } from '../data/batches';
import { DatasetError } from '../data/errors';
import { hash32 } from '../data/random';
import type { ColumnMapping } from '../data/schema';
import type { DatasetInfo, DatasetIssue, DatasetStats } from './protocol';
import { throwIfAborted, yieldToEvents } from './cancel';

export const PREVIEW_ROWS = 20;
export const MAX_ERRORS = 20;
/** Rows schema detection looks at. */
const DETECT_ROWS = 50;
/** One row in VALIDATION_EVERY goes to validation (when there are enough rows). */
const VALIDATION_EVERY = 10;
const MIN_ROWS_FOR_VALIDATION = 20;

export interface PreparedDataset {
  info: DatasetInfo;
  train: TokenStore | null;
  validation: TokenStore | null;
  /** Identifies the data in run checkpoints. */
  key: string;
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function issue(error: unknown): DatasetIssue {
  if (error instanceof DatasetError) return { line: error.line ?? null, message: error.message };
  return { line: null, message: (error as Error).message ?? String(error) };
}

export interface ReadDatasetArgs {
  file: Blob & { name?: string };
  name: string;
  tokenizer: Tokenizer | null;
  mapping: ColumnMapping | null;
  maxLength: number;
  seed: number;
  signal: AbortSignal;
  onProgress?: (rows: number) => void;
}

export async function readDataset(args: ReadDatasetArgs): Promise<PreparedDataset> {
  const source: DataSource = fromBlob(args.file, args.name);
  const info: DatasetInfo = {
    name: args.name,
    bytes: source.size,
    format: args.name.split('.').slice(1).join('.') || 'unknown',
    columns: [],
    mapping: null,
    mappingSure: false,
    candidates: [],
    kind: null,
    detection: '',
    preview: [],
    stats: null,
    errors: [],
  };
  const empty = (): PreparedDataset => ({ info, train: null, validation: null, key: `${args.name}:${source.size}` });

  // Pass 1: the first rows, for the preview and schema detection.
  const head: Record<string, unknown>[] = [];
  try {
    for await (const item of readRows(source)) {
      if (item.ok) head.push(item.value);
      else if (info.errors.length < MAX_ERRORS) info.errors.push(issue(item.error));
      if (head.length >= DETECT_ROWS || info.errors.length >= MAX_ERRORS) break;
    }
  } catch (error) {
    info.errors.push(issue(error));
    return empty();
  }
  info.preview = head.slice(0, PREVIEW_ROWS).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, cellText(v)])));
  const detection = detectSchema(head);
  info.columns = detection.columns;
  info.candidates = detection.candidates;
  info.detection = detection.reason;
  info.mapping = args.mapping ?? detection.mapping ?? null;
  info.mappingSure = !!args.mapping || detection.sure;
  info.kind = info.mapping?.kind ?? null;
  if (!info.mapping || !args.tokenizer) return empty();
  // Pass 2 reads every row again and reports every problem (the first pass's included) by line.
  info.errors = [];

  // Pass 2: every row rendered to tokens; bad rows are listed with their line numbers.
  const train = new TokenStore(Number.MAX_SAFE_INTEGER);
  const validation = new TokenStore(Number.MAX_SAFE_INTEGER);
  const stats: DatasetStats = { rows: 0, trainRows: 0, validationRows: 0, tokens: 0, targetTokens: 0, meanTokens: 0, maxTokens: 0, truncatedRows: 0, skippedRows: 0 };
  const rendered: { ids: Int32Array; lossMask: Uint8Array }[] = [];
  try {
    for await (const item of readRows(source)) {
      throwIfAborted(args.signal, 'reading the dataset');
      if (!item.ok) {
        info.errors.push(issue(item.error));
      } else {
        try {
          const where = { file: args.name, line: item.line, row: item.row };
          const normalized = normalizeRow(item.value, info.mapping, where);
          const r = renderExample(args.tokenizer, normalized, { maxLength: args.maxLength }, where);
          rendered.push(r.example);
          if (r.truncated) stats.truncatedRows++;
        } catch (error) {
          info.errors.push(issue(error));
        }
      }
      stats.rows++;
      if (info.errors.length >= MAX_ERRORS) break;
      if (stats.rows % 500 === 0) {
        args.onProgress?.(stats.rows);
        await yieldToEvents();
      }
    }
  } catch (error) {
    info.errors.push(issue(error));
  }
  if (info.errors.length > 0) {
    stats.skippedRows = info.errors.length;
    info.stats = stats;
    return empty();
  }
  const useValidation = rendered.length >= MIN_ROWS_FOR_VALIDATION;
  rendered.forEach((ex, i) => {
    const toValidation = useValidation && hash32(args.seed >>> 0, i) % VALIDATION_EVERY === 0;
    (toValidation ? validation : train).push(ex);
    stats.tokens += ex.ids.length;
    for (let t = 1; t < ex.lossMask.length; t++) stats.targetTokens += ex.lossMask[t];
    stats.maxTokens = Math.max(stats.maxTokens, ex.ids.length);
  });
  stats.trainRows = train.length;
  stats.validationRows = validation.length;
  stats.meanTokens = rendered.length ? stats.tokens / rendered.length : 0;
  info.stats = stats;
  if (train.length === 0) {
    info.errors.push({ line: null, message: `${args.name}: no rows to train on` });
    return empty();
  }
  return { info, train, validation: validation.length ? validation : null, key: `${args.name}:${source.size}:${rendered.length}:${stats.tokens}` };
}
