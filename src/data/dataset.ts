/**
 * The dataset pipeline: read rows → detect the schema on a preview → normalize each row → render it to token
 * ids → collect statistics, and (loadDataset) keep the examples in a TokenStore split into train/validation.
 * Everything streams; only the preview rows and the rendered token ids are kept.
 */
import { TokenStore, type Example } from './batches';
import { detectSchema, type Detection } from './detect';
import { DatasetError, DatasetErrorList } from './errors';
import { normalizeRow } from './normalize';
import { hash32 } from './random';
import { readRows, resolveFormat, type DataFormat, type ReadOptions } from './readers/index';
import type { ColumnMapping } from './schema';
import type { DataSource } from './source';
import { StatsCollector, type DatasetStats } from './stats';
import { renderExample, type RenderOptions, type Tokenizer } from './tokenize';

export interface ErrorPolicy {
  /** 'stop' (default): reading stops at `maxErrors` bad rows and throws DatasetErrorList listing them; bad rows
   *  below the limit also fail the load at the end. 'skip': bad rows are skipped and counted in the statistics. */
  onError?: 'stop' | 'skip';
  /** Default 20. */
  maxErrors?: number;
}

export interface PreviewOptions extends ReadOptions {
  /** Rows read for detection and preview. Default 50. */
  previewRows?: number;
}

export interface Preview {
  format: DataFormat;
  /** First rows as read (columns → values). */
  rows: Record<string, unknown>[];
  detection: Detection;
  /** Row-level problems met while reading the preview. */
  errors: DatasetError[];
}

/** The first rows of a file and the detected schema, for the UI before anything is tokenized. */
export async function previewDataset(source: DataSource, opts: PreviewOptions = {}): Promise<Preview> {
  const format = resolveFormat(source, opts.format);
  const limit = opts.previewRows ?? 50;
  const rows: Record<string, unknown>[] = [];
  const errors: DatasetError[] = [];
  const it = readRows(source, opts);
  try {
    for await (const r of it) {
      if (r.ok) rows.push(r.value);
      else errors.push(r.error);
      if (rows.length + errors.length >= limit) break;
    }
  } finally {
    await it.return(undefined);
  }
  return { format, rows, detection: detectSchema(rows), errors };
}

export interface TokenizeOptions extends PreviewOptions, RenderOptions, ErrorPolicy {
  /** The column mapping; detected from the preview when absent (an unsure detection with no mapping fails). */
  mapping?: ColumnMapping;
  signal?: AbortSignal;
  /** Called every `progressEvery` rows (default 1000) and at the end; `bytes` of `source.size` read so far (compressed bytes for gzip). */
  onProgress?: (p: { rows: number; examples: number; tokens: number; bytes: number; totalBytes: number }) => void;
  progressEvery?: number;
  /** Called once with the mapping in use (detected or given) before the first example. */
  onMapping?: (m: ColumnMapping, detection?: Detection) => void;
}

export type TokenizedItem = { ok: true; row: number; example: Example; fullLength: number; truncated: boolean } | { ok: false; error: DatasetError };

/** The mapping to use: the given one, or the detected one; throws when detection found nothing usable. */
export function chooseMapping(source: DataSource, detection: Detection, mapping?: ColumnMapping): ColumnMapping {
  if (mapping) return mapping;
  if (!detection.mapping) throw new DatasetError('schema-unknown', detection.reason, { file: source.name });
  return detection.mapping;
}

/**
 * Streams rendered examples (and bad rows) of a file. The first `previewRows` rows are held for detection, then
 * everything flows through one row at a time.
 */
export async function* tokenizeRows(source: DataSource, tok: Tokenizer, opts: TokenizeOptions): AsyncGenerator<TokenizedItem> {
  const file = source.name;
  const previewLimit = opts.previewRows ?? 50;
  const held: ({ ok: true; row: number; line?: number; value: Record<string, unknown> } | { ok: false; error: DatasetError })[] = [];
  const it = readRows(source, opts);
  let mapping = opts.mapping;
  try {
    let r = await it.next();
    if (!mapping) {
      // Hold rows until the preview has enough good ones; bad rows met meanwhile are held too, up to a bound.
      const maxHeldErrors = (opts.onError ?? 'stop') === 'stop' ? (opts.maxErrors ?? 20) : 1000;
      let good = 0;
      let bad = 0;
      while (!r.done && good < previewLimit) {
        const item = r.value;
        if (item.ok) {
          good++;
          held.push(item);
        } else if (bad++ < maxHeldErrors) held.push(item);
        else yield item; // past the bound, bad rows flow straight through (reported a little out of order)
        r = await it.next();
      }
      const goodRows = held.flatMap((h) => (h.ok ? [h.value] : []));
      if (goodRows.length === 0 && held.length > 0) {
        // No good row to detect a schema from: report the bad rows rather than an undetectable schema.
        yield* held as TokenizedItem[];
        return;
      }
      const detection = detectSchema(goodRows);
      mapping = chooseMapping(source, detection);
      opts.onMapping?.(mapping, detection);
    } else opts.onMapping?.(mapping);
    const m = mapping;
    const render = (item: (typeof held)[number]): TokenizedItem => {
      if (!item.ok) return item;
      const where = { file, line: item.line, row: item.row };
      try {
        const norm = normalizeRow(item.value, m, where);
        const out = renderExample(tok, norm, opts, where);
        return { ok: true, row: item.row, ...out };
      } catch (e) {
        if (e instanceof DatasetError) return { ok: false, error: e };
        throw e;
      }
    };
    for (const h of held) {
      opts.signal?.throwIfAborted();
      yield render(h);
    }
    held.length = 0;
    while (!r.done) {
      opts.signal?.throwIfAborted();
      yield render(r.value);
      r = await it.next();
    }
  } finally {
    await it.return(undefined);
  }
}

export interface ValidationSplit {
  /** Fraction of rows (0–1) held out, chosen by hashing the row number with the seed. */
  fraction?: number;
  /** Or a second file. */
  source?: DataSource;
}

export interface LoadOptions extends TokenizeOptions {
  validation?: ValidationSplit;
  /** Seed of the validation split (and a sensible default for the batcher). Default 0. */
  seed?: number;
  /** Vocabulary size, so the store can use 16-bit ids when it fits. */
  vocabSize?: number;
}

export interface LoadedDataset {
  mapping: ColumnMapping;
  train: TokenStore;
  validation?: TokenStore;
  stats: DatasetStats;
  validationStats?: DatasetStats;
}

/** Runs the pipeline over one file, handing each good example to `keep` (or dropping it) and collecting statistics. */
async function consume(
  source: DataSource,
  tok: Tokenizer,
  opts: TokenizeOptions,
  keep: (ex: Example, row: number) => void,
): Promise<{ stats: DatasetStats; mapping: ColumnMapping }> {
  const stats = new StatsCollector(opts.maxLength);
  const policy = opts.onError ?? 'stop';
  const maxErrors = opts.maxErrors ?? 20;
  const errors: DatasetError[] = [];
  const every = opts.progressEvery ?? 1000;
  let mapping: ColumnMapping | undefined = opts.mapping;
  let n = 0;
  let tokens = 0;
  let examples = 0;
  const onMapping = opts.onMapping;
  let bytes = 0;
  const onBytes = opts.onBytes;
  const run = {
    ...opts,
    onMapping: (m: ColumnMapping, d?: Detection) => ((mapping = m), onMapping?.(m, d)),
    onBytes: (n: number) => ((bytes = n), onBytes?.(n)),
  };
  const totalBytes = source.size;
  for await (const item of tokenizeRows(source, tok, run)) {
    stats.row();
    if (item.ok) {
      let targets = 0;
      const m = item.example.lossMask;
      for (let t = 1; t < m.length; t++) targets += m[t];
      stats.example(item.fullLength, item.example.ids.length, targets, item.truncated);
      tokens += item.example.ids.length;
      examples++;
      keep(item.example, item.row);
    } else {
      stats.reject(item.error);
      if (policy === 'stop') {
        errors.push(item.error);
        if (errors.length >= maxErrors) throw new DatasetErrorList(errors, true);
      }
    }
    if (++n % every === 0) opts.onProgress?.({ rows: n, examples, tokens, bytes, totalBytes });
  }
  if (errors.length) throw new DatasetErrorList(errors, false);
  if (examples === 0) throw new DatasetError('no-rows', 'no usable rows: every row was rejected', { file: source.name });
  opts.onProgress?.({ rows: n, examples, tokens, bytes: totalBytes, totalBytes });
  return { stats: stats.result(), mapping: mapping! };
}

/** Statistics of a file without keeping its tokens: memory stays flat however large the file (benchmarks, UI preview). */
export async function analyzeDataset(source: DataSource, tok: Tokenizer, opts: TokenizeOptions): Promise<DatasetStats> {
  return (await consume(source, tok, opts, () => {})).stats;
}

/** Reads, renders and keeps a dataset for training, with an optional validation split. */
export async function loadDataset(source: DataSource, tok: Tokenizer, opts: LoadOptions): Promise<LoadedDataset> {
  const train = new TokenStore(opts.vocabSize);
  const fraction = opts.validation?.fraction ?? 0;
  if (fraction < 0 || fraction >= 1) throw new DatasetError('option', `validation fraction must be in [0, 1), got ${fraction}`, { file: source.name });
  if (opts.validation?.source && fraction > 0) throw new DatasetError('option', 'give a validation fraction or a validation file, not both', { file: source.name });
  const seed = opts.seed ?? 0;
  const held = fraction > 0 ? new TokenStore(opts.vocabSize) : undefined;
  const threshold = fraction * 2 ** 32;
  const { stats, mapping } = await consume(source, tok, opts, (ex, row) => {
    if (held && hash32(seed ^ 0x5bd1e995, row) < threshold) held.push(ex);
    else train.push(ex);
  });
  if (held && held.length === 0 && train.length > 1) {
    // A tiny file may hash no row into validation; hold out its last example so validation is never empty.
    const last = train.get(train.length - 1);
    const moved = new TokenStore(opts.vocabSize);
    for (let i = 0; i < train.length - 1; i++) moved.push(train.get(i));
    held.push(last);
    return { mapping, train: moved, validation: held, stats };
  }
  if (held && train.length === 0) throw new DatasetError('option', `validation fraction ${fraction} left no training examples`, { file: source.name });
  let validation = held;
  let validationStats: DatasetStats | undefined;
  if (opts.validation?.source) {
    validation = new TokenStore(opts.vocabSize);
    const v = validation;
    validationStats = (await consume(opts.validation.source, tok, { ...opts, mapping }, (ex) => v.push(ex))).stats;
  }
  return { mapping, train, validation, stats, validationStats };
}
