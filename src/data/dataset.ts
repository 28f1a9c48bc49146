/**
 * Dataset preparation: the one place that turns a dropped or pointed-to file into training and validation token
 * stores and the report the studio and the CLI show.
 *
 * Entry points (all take a DataSource: `fromBlob(file)` in the studio's worker, `await fromPath(path)` in Node):
 *
 *   previewDataset(source, opts)                 the first rows (with their real row and line numbers) and the
 *                                                detected schema; no tokenizer needed. For the moment a file drops.
 *   prepareDataset(source, tokenizer, opts)      → PreparedDataset { report, info, train, validation,
 *                                                classification, key }. The studio's call: a bad file is a report
 *                                                with errors (report.ok false, stores null), never a throw; only an
 *                                                abort (opts.signal) throws. Progress through opts.onProgress.
 *   loadDataset(source, tokenizer, opts)         the same pass for the CLI and tests: throws DatasetError (a file
 *                                                problem) or DatasetErrorList (bad rows under onBadRows 'stop'),
 *                                                else returns the stores and the report.
 *   explainRows(source, tokenizer, which, opts)  what the model sees for any rows (by row or line number): the
 *                                                rendered text, every token with its characters and trained flag.
 *   analyzeDataset(source, tokenizer, opts)      statistics only, keeping no tokens (benchmarks).
 *
 * Options (PrepareOptions) map one to one onto CLI flags: mapping (--schema/--columns, see parseColumnsFlag),
 * objective ('causal-lm' | 'classification', from the model), maxLength, trainOn, pairFormat, onBadRows
 * ('stop' | 'skip': --on-bad-rows), maxErrors, validation ({ fraction, source, minRows, stratify }), seed,
 * vocabSize, and the readers' limits (maxRecordBytes, maxTotalBytes, maxInflateRatio, …).
 *
 * Everything streams: only the detection preview, the rendered tokens (≈ 3 bytes a token) and one row at a time
 * are held, so memory is flat in the file's size.
 */
import { TokenStore } from './batches';
import { ClassificationStore, classCounts, encodeClassification, resolveLabels, type ResolvedLabels } from './classify';
import { detectSchema, type Detection, type Objective } from './detect';
import { DatasetError, DatasetErrorList } from './errors';
import { normalizeRow, type Normalized, type RawLabel } from './normalize';
import { readRows, resolveFormat, type DataFormat, type ReadOptions, type RowItem } from './readers/index';
import { issueOf, toDatasetInfo, type ClassReport, type DatasetInfo, type DatasetIssue, type DatasetReport, type PreviewRow, type RowView, type SplitSummary, type TokenView } from './report';
import { describeMapping, type ColumnMapping } from './schema';
import type { DataSource } from './source';
import { findDuplicates, heldOut, stratifiedHoldout } from './split';
import { StatsCollector, type RowRef, type SplitStats } from './stats';
import { prepareTokenizer, renderExample, type PreparedTokenizer, type Rendered, type RenderOptions, type Tokenizer } from './tokenize';

export type { SplitStats } from './stats';

export interface ErrorPolicy {
  /**
   * 'stop' (default): reading stops at `maxErrors` bad rows and the load fails listing them (DatasetErrorList);
   * fewer bad rows also fail the load, at the end. 'skip': bad rows are skipped and counted in the statistics.
   */
  onBadRows?: 'stop' | 'skip';
  /** @deprecated the same as onBadRows. */
  onError?: 'stop' | 'skip';
  /** Default 20. */
  maxErrors?: number;
}

export interface PreviewOptions extends ReadOptions {
  /** Rows read for detection. Default 50. */
  previewRows?: number;
  /** What the model will learn; decides how text + label rows are read (detect.ts). Default 'causal-lm'. */
  objective?: Objective;
}

export interface Preview {
  format: DataFormat;
  /** First rows as read (columns → values). */
  rows: Record<string, unknown>[];
  /** The same rows with their row and line numbers, cells as text. */
  previewRows: PreviewRow[];
  detection: Detection;
  /** Row-level problems met while reading the preview. */
  errors: DatasetError[];
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function previewRow(item: Extract<RowItem, { ok: true }>): PreviewRow {
  const cells: Record<string, string> = {};
  for (const k of Object.keys(item.value)) cells[k] = cellText(item.value[k]);
  return { row: item.row, line: item.line ?? null, cells };
}

/** The first rows of a file and the detected schema, for the UI before anything is tokenized. */
export async function previewDataset(source: DataSource, opts: PreviewOptions = {}): Promise<Preview> {
  const format = resolveFormat(source, opts.format);
  const limit = opts.previewRows ?? 50;
  const rows: Record<string, unknown>[] = [];
  const previewRows: PreviewRow[] = [];
  const errors: DatasetError[] = [];
  const it = readRows(source, opts);
  try {
    for await (const r of it) {
      if (r.ok) {
        rows.push(r.value);
        previewRows.push(previewRow(r));
      } else errors.push(r.error);
      if (rows.length + errors.length >= limit) break;
    }
  } finally {
    await it.return(undefined);
  }
  return { format, rows, previewRows, detection: detectSchema(rows, { objective: opts.objective }), errors };
}

export interface ValidationSplit {
  /** Fraction of rows (0–1) held out (by hashing the row number with the seed; per class for classification). */
  fraction?: number;
  /** Or a second file, read with the training file's mapping. */
  source?: DataSource;
  /** With a fraction: no split when the file has fewer examples than this (the studio uses 20). Default 0. */
  minRows?: number;
  /** Classification: hold out each class in proportion. Default true. */
  stratify?: boolean;
}

export interface ProgressEvent {
  phase: 'train' | 'validation';
  rows: number;
  examples: number;
  tokens: number;
  /** Bytes of the file read so far (compressed bytes for gzip). */
  bytes: number;
  totalBytes: number;
}

export interface PrepareOptions extends PreviewOptions, RenderOptions, ErrorPolicy {
  /** The column mapping (the studio's picker, the CLI's --schema/--columns); detected when absent. */
  mapping?: ColumnMapping;
  validation?: ValidationSplit;
  /** Seed of the validation split. Default 0. */
  seed?: number;
  /** Vocabulary size, so the stores can use 16-bit ids when it fits. */
  vocabSize?: number;
  /** Rows to show as the model sees them in report.samples (by row number); default the first 3, and the longest. */
  explain?: number[];
  signal?: AbortSignal;
  /** Called every `progressEvery` rows (default 1000) and at the end; with no progressEvery, also every 250 ms. */
  onProgress?: (p: ProgressEvent) => void;
  progressEvery?: number;
  /** Called once with the mapping in use (detected or given) before the first example. */
  onMapping?: (m: ColumnMapping, detection?: Detection) => void;
}

/** @deprecated the options of loadDataset are PrepareOptions. */
export type LoadOptions = PrepareOptions;
/** @deprecated */
export type TokenizeOptions = PrepareOptions;

export interface ClassificationData {
  train: ClassificationStore;
  validation: ClassificationStore | null;
  labels: Pick<ResolvedLabels, 'task' | 'names' | 'numLabels'>;
}

export interface LoadedDataset {
  mapping: ColumnMapping;
  /** Causal-LM examples (empty stores for classification data: see `classification`). */
  train: TokenStore;
  validation?: TokenStore;
  classification?: ClassificationData;
  stats: SplitStats;
  validationStats?: SplitStats;
  report: DatasetReport;
}

export interface PreparedDataset {
  report: DatasetReport;
  /** The studio's Dataset screen. */
  info: DatasetInfo;
  train: TokenStore | null;
  validation: TokenStore | null;
  classification: ClassificationData | null;
  /** Identifies the data in run checkpoints. */
  key: string;
}

/** The mapping to use: the given one, or the detected one; throws when detection found nothing usable. */
export function chooseMapping(source: DataSource, detection: Detection, mapping?: ColumnMapping): ColumnMapping {
  if (mapping) return mapping;
  if (detection.mapping) return detection.mapping;
  throw new DatasetError(detection.ambiguous ? 'schema-ambiguous' : 'schema-unknown', detection.reason, { file: source.name }, detection.hint);
}

function checkObjective(file: string, mapping: ColumnMapping, objective: Objective): void {
  if (mapping.kind === 'classification' && objective === 'causal-lm') {
    throw new DatasetError(
      'option',
      `the rows are classification data (${describeMapping(mapping)}), which a causal language model does not train on`,
      { file },
      'choose an encoder model (BERT, RoBERTa) for sequence classification, or map the columns on purpose (e.g. --schema alpaca --columns instruction=…,output=…)',
    );
  }
  if (mapping.kind !== 'classification' && objective === 'classification') {
    throw new DatasetError(
      'option',
      `a classification model trains on a text (or two) and a label; these rows are read as ${describeMapping(mapping)}`,
      { file },
      'map a text column and a label column (CLI: --schema classification --columns text=…,label=…)',
    );
  }
}

interface Kept {
  store: TokenStore;
  held: TokenStore | undefined;
  cls: ClassificationStore | undefined;
  labels: RawLabel[];
}

interface PassResult {
  stats: SplitStats;
  mapping: ColumnMapping;
  mappingSource: 'given' | 'detected';
  detection: Detection | null;
  format: DataFormat;
  preview: PreviewRow[];
  samples: RowView[];
  /** The longest row, kept to show it. */
  longest: { norm: Normalized; where: RowRef } | undefined;
}

/** Yields to the event loop now and then, so a worker sees abort messages while a file is read. */
function makeTicker(): () => Promise<void> | undefined {
  let last = Date.now();
  let n = 0;
  return () => {
    if ((++n & 63) !== 0) return undefined;
    const now = Date.now();
    if (now - last < 50) return undefined;
    last = now;
    return new Promise<void>((r) => setTimeout(r, 0));
  };
}

/** Reads one file through detection, normalization and rendering, handing examples to `kept`. */
async function pass(
  source: DataSource,
  p: PreparedTokenizer | null,
  opts: PrepareOptions,
  phase: 'train' | 'validation',
  kept: Kept | null,
  explain: Set<number>,
): Promise<PassResult> {
  const file = source.name;
  const format = resolveFormat(source, opts.format);
  const stats = new StatsCollector(opts.maxLength);
  // Without a tokenizer this is a preview: bad rows are listed, not fatal.
  const policy = p ? (opts.onBadRows ?? opts.onError ?? 'stop') : 'skip';
  const maxErrors = opts.maxErrors ?? 20;
  const errors: DatasetError[] = [];
  const every = opts.progressEvery ?? 1000;
  const byTime = opts.progressEvery === undefined ? 250 : Infinity;
  let lastTime = Date.now();
  let bytes = 0;
  let rows = 0;
  let examples = 0;
  let tokens = 0;
  const progress = () => opts.onProgress?.({ phase, rows, examples, tokens, bytes, totalBytes: source.size });
  const renderPlain = { ...opts, view: false };
  const renderView = { ...opts, view: true };
  const onBytes = opts.onBytes;
  const it = readRows(source, {
    ...opts,
    onBytes: (n: number) => {
      bytes = n;
      onBytes?.(n);
      if (Date.now() - lastTime > byTime) {
        lastTime = Date.now();
        progress();
      }
    },
  });
  const tick = makeTicker();
  const preview: PreviewRow[] = [];
  const samples: RowView[] = [];
  let longest: PassResult['longest'];
  const seed = opts.seed ?? 0;
  const fraction = phase === 'train' && !opts.validation?.source ? (opts.validation?.fraction ?? 0) : 0;
  let mapping = opts.mapping;
  let detection: Detection | null = null;
  // The caller's objective (from the model); a classification mapping given on purpose implies it. Never inferred from detection.
  const objective: Objective = opts.objective ?? (mapping?.kind === 'classification' ? 'classification' : 'causal-lm');

  const bad = (e: DatasetError) => {
    stats.reject(e);
    if (policy === 'stop') {
      errors.push(e);
      if (errors.length >= maxErrors) throw new DatasetErrorList(errors, true);
    }
  };
  const handle = (item: RowItem, m: ColumnMapping) => {
    stats.row();
    rows++;
    if (!item.ok) return bad(item.error);
    if (preview.length < 20) preview.push(previewRow(item));
    if (!p) return;
    const where = { file, line: item.line, row: item.row };
    const ref: RowRef = { file, row: item.row, line: item.line };
    try {
      const norm = normalizeRow(item.value, m, where);
      const view = explain.has(item.row);
      if (norm.kind === 'classify') {
        const enc = encodeClassification(p, norm.text, norm.textPair, opts.maxLength);
        if (stats.example(enc.fullLength, enc.ids.length, 0, enc.truncated, ref, enc.longWordsSplit)) longest = { norm, where: ref };
        tokens += enc.ids.length;
        if (kept) {
          kept.cls!.push(enc, item.row, item.line ?? 0);
          kept.labels.push(norm.label);
        }
        if (view) samples.push(classificationView(p, ref, enc.ids, enc.tokenTypeIds, enc.fullLength, norm.label));
      } else {
        const r = renderExample(p.tok, norm, view ? renderView : renderPlain, where);
        let targets = 0;
        const mask = r.example.lossMask;
        for (let t = 1; t < mask.length; t++) targets += mask[t];
        if (stats.example(r.fullLength, r.example.ids.length, targets, r.truncated, ref, r.longWordsSplit)) longest = { norm, where: ref };
        tokens += r.example.ids.length;
        if (kept) {
          const to = kept.held && heldOut(item.row, fraction, seed) ? kept.held : kept.store;
          to.push(r.example, item.row, item.line ?? 0);
        }
        if (view) samples.push(lmView(p, ref, r));
      }
      examples++;
    } catch (e) {
      if (e instanceof DatasetError) return bad(e);
      throw e;
    }
  };

  try {
    let r = await it.next();
    if (!mapping) {
      // Hold rows until the preview has enough good ones; bad rows met meanwhile are held too, up to a bound.
      const previewLimit = opts.previewRows ?? 50;
      const maxHeldErrors = policy === 'stop' ? maxErrors : 1000;
      const held: RowItem[] = [];
      let good = 0;
      let badHeld = 0;
      while (!r.done && good < previewLimit && (p || good + badHeld < previewLimit)) {
        opts.signal?.throwIfAborted();
        const item = r.value;
        if (item.ok) {
          good++;
          held.push(item);
        } else if (badHeld++ < maxHeldErrors) held.push(item);
        else {
          stats.row();
          rows++;
          bad(item.error); // past the bound, bad rows are counted straight away (reported a little out of order)
        }
        r = await it.next();
      }
      const goodRows = held.flatMap((h) => (h.ok ? [h.value] : []));
      if (goodRows.length === 0 && held.length > 0) {
        // No good row to detect a schema from: report the bad rows rather than an undetectable schema.
        for (const h of held) {
          stats.row();
          rows++;
          bad((h as Extract<RowItem, { ok: false }>).error);
        }
        if (errors.length) throw new DatasetErrorList(errors, false);
        throw new DatasetError('no-rows', 'no usable rows: every row was rejected', { file }, 'see the rejected rows in the report');
      }
      detection = detectSchema(goodRows, { objective: opts.objective });
      mapping = chooseMapping(source, detection);
      checkObjective(file, mapping, objective);
      opts.onMapping?.(mapping, detection);
      for (const h of held) {
        opts.signal?.throwIfAborted();
        handle(h, mapping);
      }
    } else {
      checkObjective(file, mapping, objective);
      opts.onMapping?.(mapping);
    }
    const m = mapping;
    // Without a tokenizer only the preview and the detection are asked for: read no further.
    while (!r.done && (p || preview.length < 20)) {
      opts.signal?.throwIfAborted();
      handle(r.value, m);
      if (rows % every === 0) progress();
      const wait = tick();
      if (wait) await wait;
      r = await it.next();
    }
  } finally {
    await it.return(undefined);
  }
  const result = stats.result();
  if (errors.length) throw new DatasetErrorList(errors, false);
  if (p && result.examples === 0) throw new DatasetError('no-rows', 'no usable rows: every row was rejected', { file }, 'see the rejected rows in the report');
  progress();
  return { stats: result, mapping: mapping!, mappingSource: opts.mapping ? 'given' : 'detected', detection, format, preview, samples, longest };
}

function decodeOne(p: PreparedTokenizer, id: number): string {
  const dec = (p.tok as { decode?: (ids: number[], o?: Record<string, unknown>) => string }).decode;
  return dec ? dec.call(p.tok, [id], { skip_special_tokens: false }) : String(id);
}

function lmView(p: PreparedTokenizer, ref: RowRef, r: Rendered): RowView {
  const { ids, lossMask } = r.example;
  const v = r.view!;
  const tokens: TokenView[] = [];
  for (let t = 0; t < ids.length; t++) {
    const inText = v.starts && t < v.starts.length;
    const start = inText ? v.starts![t] : v.text.length;
    const end = inText ? v.ends![t] : v.text.length;
    const text = v.starts ? (end > start ? v.text.slice(start, end) : decodeOne(p, ids[t])) : decodeOne(p, ids[t]);
    tokens.push({ id: ids[t], text, ...(v.starts ? { start, end } : {}), trained: lossMask[t] === 1 });
  }
  // What the model never sees stays out of the report (a truncated 8 MiB row would otherwise be posted whole).
  let cut = v.text.length;
  if (r.truncated) cut = v.ends && v.ends.length ? Math.max(...Array.from(v.ends.subarray(-8))) : Math.min(v.text.length, ids.length * 64);
  return {
    ...ref,
    objective: 'causal-lm',
    text: v.text.slice(0, cut),
    ...(cut < v.text.length ? { textCut: v.text.length - cut } : {}),
    tokens,
    fullLength: r.fullLength,
    truncated: r.truncated,
    trainedTokens: tokens.filter((t, i) => i > 0 && t.trained).length,
  };
}

function classificationView(p: PreparedTokenizer, ref: RowRef, ids: Int32Array, types: Uint8Array, fullLength: number, label: RawLabel): RowView {
  const tokens: TokenView[] = Array.from(ids, (id, t) => ({ id, text: decodeOne(p, id), trained: false, type: types[t] }));
  const dec = (p.tok as { decode?: (ids: number[], o?: Record<string, unknown>) => string }).decode;
  return {
    ...ref,
    objective: 'classification',
    text: dec ? dec.call(p.tok, Array.from(ids), { skip_special_tokens: false }) : tokens.map((t) => t.text).join(' '),
    tokens,
    fullLength,
    truncated: fullLength > ids.length,
    trainedTokens: 0,
    label: { raw: label },
  };
}

/** What the model sees for one normalized row (used for the longest row, which is kept until the end). */
function viewOf(p: PreparedTokenizer, norm: Normalized, ref: RowRef, opts: PrepareOptions): RowView {
  if (norm.kind === 'classify') {
    const enc = encodeClassification(p, norm.text, norm.textPair, opts.maxLength);
    return classificationView(p, ref, enc.ids, enc.tokenTypeIds, enc.fullLength, norm.label);
  }
  return lmView(p, ref, renderExample(p.tok, norm, { ...opts, view: true }, ref));
}

function labelsIn(view: RowView, labels: ResolvedLabels): RowView {
  if (!view.label) return view;
  const raw = view.label.raw;
  const list = Array.isArray(raw) ? raw : [raw];
  if (labels.task === 'regression') return view;
  const ids = list.map((x) => labels.names.indexOf(String(x)));
  return { ...view, label: { raw, ids, names: ids.map((i) => labels.names[i]) } };
}

/** The whole preparation; throws DatasetError / DatasetErrorList. */
async function run(source: DataSource, tok: Tokenizer | null, opts: PrepareOptions, onPass?: (r: Partial<DatasetReport>) => void): Promise<{ loaded: LoadedDataset | null; report: DatasetReport }> {
  const file = source.name;
  const fraction = opts.validation?.fraction ?? 0;
  if (!(fraction >= 0 && fraction < 1)) throw new DatasetError('option', `validation fraction must be in [0, 1), got ${fraction}`, { file }, 'give a fraction such as 0.1');
  if (opts.validation?.source && fraction > 0) throw new DatasetError('option', 'a validation fraction and a validation file were both given', { file }, 'give one of them');
  if (!(opts.maxLength >= 2)) throw new DatasetError('option', `maxLength must be at least 2, got ${opts.maxLength}`, { file }, 'set the maximum length in tokens (e.g. 512)');
  const p = tok ? prepareTokenizer(tok) : null;
  const seed = opts.seed ?? 0;
  const explainRows = new Set(opts.explain ?? [1, 2, 3]);
  const newKept = (withHeld: boolean): Kept => ({
    store: new TokenStore(opts.vocabSize),
    held: withHeld ? new TokenStore(opts.vocabSize) : undefined,
    cls: new ClassificationStore(opts.vocabSize),
    labels: [],
  });
  const trainKept = p ? newKept(fraction > 0) : null;
  const first = await pass(source, p, opts, 'train', trainKept, explainRows);
  const objective: Objective = first.mapping.kind === 'classification' ? 'classification' : 'causal-lm';
  const report: DatasetReport = {
    file: { name: file, bytes: source.size, format: first.format },
    ok: true,
    objective,
    columns: first.detection?.columns ?? Object.keys(first.preview[0]?.cells ?? {}),
    detection: first.detection,
    mapping: first.mapping,
    mappingSource: first.mappingSource,
    maxLength: opts.maxLength,
    preview: first.preview,
    stats: first.stats,
    validationStats: null,
    split: null,
    duplicates: null,
    classes: null,
    samples: first.samples,
    warnings: [],
    errors: first.stats.errors.map(issueOf),
  };
  onPass?.(report);
  if (!p || !trainKept) {
    report.stats = null;
    report.errors = [];
    return { loaded: null, report };
  }

  // A separate validation file, read with the training file's mapping.
  let valKept: Kept | null = null;
  let second: PassResult | null = null;
  const vsrc = opts.validation?.source;
  if (vsrc) {
    valKept = newKept(false);
    second = await pass(vsrc, p, { ...opts, mapping: first.mapping, objective, validation: undefined }, 'validation', valKept, new Set());
    report.validationStats = second.stats;
  }

  // The longest row, as the model sees it.
  const longestOf = [first, second].filter((x): x is PassResult => !!x?.longest).sort((a, b) => b.stats.maxLength - a.stats.maxLength)[0];
  if (longestOf?.longest && !report.samples.some((s) => s.file === longestOf.longest!.where.file && s.row === longestOf.longest!.where.row)) {
    report.samples.push(viewOf(p, longestOf.longest.norm, longestOf.longest.where, opts));
  }

  let train: TokenStore;
  let validation: TokenStore | undefined;
  let classification: ClassificationData | undefined;
  const split: SplitSummary = { mode: vsrc ? 'file' : fraction > 0 ? 'fraction' : 'none', ...(fraction > 0 ? { fraction } : {}), seed, stratified: false, trainExamples: 0, validationExamples: 0, trainTokens: 0, validationTokens: 0 };
  const minRows = opts.validation?.minRows ?? 0;
  if (objective === 'classification') {
    const all = trainKept.cls!;
    const valStore = valKept?.cls;
    // Labels of both files resolve together, so a class id means the same class in both.
    const raw = [...trainKept.labels, ...(valKept?.labels ?? [])];
    const rowsOf = (i: number) =>
      i < all.length ? { file, row: all.rowOf(i), line: all.lineOf(i) } : { file: vsrc!.name, row: valStore!.rowOf(i - all.length), line: valStore!.lineOf(i - all.length) };
    const resolved = resolveLabels(raw, rowsOf, file, first.mapping.kind === 'classification' ? first.mapping.task : undefined);
    const w = resolved.task === 'multi_label' ? resolved.numLabels : 1;
    all.labels = { ...resolved, values: resolved.values.subarray(0, all.length * w) as typeof resolved.values };
    let trainStore = all;
    let valOut: ClassificationStore | null = null;
    if (valStore) {
      valStore.labels = { ...resolved, values: resolved.values.subarray(all.length * w) as typeof resolved.values };
      valOut = valStore;
    } else if (fraction > 0 && all.length >= Math.max(2, minRows)) {
      const stratify = (opts.validation?.stratify ?? true) && resolved.task === 'single_label';
      const flags = stratify
        ? stratifiedHoldout(resolved.values, (i) => all.rowOf(i), fraction, seed)
        : Uint8Array.from({ length: all.length }, (_, i) => (heldOut(all.rowOf(i), fraction, seed) ? 1 : 0));
      if (!flags.includes(1)) flags[all.length - 1] = 1;
      const v: number[] = [];
      const t: number[] = [];
      flags.forEach((f, i) => (f ? v : t).push(i));
      trainStore = all.subset(t);
      valOut = all.subset(v);
      split.stratified = stratify;
    } else if (fraction > 0) split.note = `no validation split: ${all.length} examples, fewer than the ${Math.max(2, minRows)} a split needs`;
    classification = { train: trainStore, validation: valOut, labels: { task: resolved.task, names: resolved.names, numLabels: resolved.numLabels } };
    const counts = (s: ClassificationStore) => classCounts(s.labels!, undefined);
    const trainCounts = counts(trainStore);
    const classes: ClassReport = { task: resolved.task, names: resolved.names, numLabels: resolved.numLabels, trainCounts: trainCounts.counts };
    if (valOut) classes.validationCounts = counts(valOut).counts;
    if (resolved.task === 'regression') {
      const vals = trainStore.labels!.values;
      let min = Infinity;
      let max = -Infinity;
      let sum = 0;
      for (const x of vals) {
        min = Math.min(min, x);
        max = Math.max(max, x);
        sum += x;
      }
      classes.range = { min, max, mean: vals.length ? sum / vals.length : 0 };
    }
    if (trainCounts.warning) report.warnings.push(trainCounts.warning);
    report.classes = classes;
    report.samples = report.samples.map((s) => labelsIn(s, resolved));
    split.trainExamples = trainStore.length;
    split.trainTokens = trainStore.tokens;
    split.validationExamples = valOut?.length ?? 0;
    split.validationTokens = valOut?.tokens ?? 0;
    if (valOut) report.duplicates = findDuplicates(trainStore, valOut, { train: file, validation: vsrc?.name ?? file });
    train = new TokenStore(opts.vocabSize);
  } else {
    train = trainKept.store;
    validation = valKept?.store ?? trainKept.held;
    if (validation && !vsrc) {
      if (train.length + validation.length < Math.max(2, minRows)) {
        // Too few examples for a split: everything trains, in file order.
        const n = train.length + validation.length;
        const merged = new TokenStore(opts.vocabSize);
        for (let i = 0, j = 0; i + j < n; ) {
          const takeTrain = j >= validation.length || (i < train.length && train.rowOf(i) < validation.rowOf(j));
          if (takeTrain) merged.push(train.get(i), train.rowOf(i), train.lineOf(i) ?? 0), i++;
          else merged.push(validation.get(j), validation.rowOf(j), validation.lineOf(j) ?? 0), j++;
        }
        split.note = `no validation split: ${n} examples, fewer than the ${Math.max(2, minRows)} a split needs`;
        train = merged;
        validation = undefined;
      } else if (validation.length === 0 && train.length > 1) {
        // A tiny file may hash no row into validation; hold out its last example so validation is never empty.
        validation = train.subset([train.length - 1]);
        train = train.subset(Array.from({ length: train.length - 1 }, (_, i) => i));
      } else if (train.length === 0) {
        throw new DatasetError('option', `validation fraction ${fraction} left no training examples`, { file }, 'use a smaller fraction');
      }
    }
    split.trainExamples = train.length;
    split.trainTokens = train.tokens;
    split.validationExamples = validation?.length ?? 0;
    split.validationTokens = validation?.tokens ?? 0;
    if (validation) report.duplicates = findDuplicates(train, validation, { train: file, validation: vsrc?.name ?? file });
  }
  report.split = split;
  addWarnings(report, opts);
  const loaded: LoadedDataset = {
    mapping: first.mapping,
    train,
    ...(validation ? { validation } : {}),
    ...(classification ? { classification } : {}),
    stats: first.stats,
    ...(second ? { validationStats: second.stats } : {}),
    report,
  };
  return { loaded, report };
}

function addWarnings(r: DatasetReport, opts: PrepareOptions): void {
  const w = r.warnings;
  const s = r.stats!;
  if (r.detection && !r.detection.sure && r.mappingSource === 'detected') w.push(`the mapping was detected with doubt: ${r.detection.reason}`);
  if (s.rejected) w.push(`${s.rejected} bad row${s.rejected === 1 ? '' : 's'} skipped (${Object.entries(s.rejectedByReason).map(([k, n]) => `${n} ${k}`).join(', ')}); the first are listed with their lines`);
  const truncated = s.truncated + (r.validationStats?.truncated ?? 0);
  if (truncated) w.push(`${truncated} row${truncated === 1 ? ' is' : 's are'} longer than ${opts.maxLength} tokens and cut (the longest: ${s.longest?.fullLength} tokens, row ${s.longest?.row}); raise the maximum length to keep them whole`);
  if (s.longWordRows) w.push(`${s.longWordRows} row${s.longWordRows === 1 ? ' has' : 's have'} a "word" longer than 16 Ki characters (base64? a run of one character?), cut into pieces before tokenizing`);
  if (r.duplicates?.count) {
    const e = r.duplicates.examples[0];
    w.push(`${r.duplicates.count} validation example${r.duplicates.count === 1 ? '' : 's'} also appear${r.duplicates.count === 1 ? 's' : ''} in training (e.g. validation row ${e.validation.row} = training row ${e.train.row}): validation loss will look better than it is; remove them`);
  }
  if (r.split?.note) w.push(r.split.note);
}

/** Reads, renders and keeps a dataset for training; throws DatasetError or DatasetErrorList (CLI, tests). */
export async function loadDataset(source: DataSource, tok: Tokenizer, opts: PrepareOptions): Promise<LoadedDataset> {
  return (await run(source, tok, opts)).loaded!;
}

/** Statistics of a file without keeping its tokens: memory stays flat however large the file (benchmarks). */
export async function analyzeDataset(source: DataSource, tok: Tokenizer, opts: PrepareOptions): Promise<SplitStats> {
  return (await pass(source, prepareTokenizer(tok), opts, 'train', null, new Set())).stats;
}

/**
 * The studio's call: prepares a dataset (or, with no tokenizer yet, only previews and detects it) and reports.
 * Data problems are in `report.errors` (report.ok false, stores null); only an abort throws.
 */
export async function prepareDataset(source: DataSource, tok: Tokenizer | null, opts: PrepareOptions): Promise<PreparedDataset> {
  let partial: Partial<DatasetReport> | undefined;
  try {
    const { loaded, report } = await run(source, tok, opts, (r) => (partial = r));
    const cls = loaded?.classification ?? null;
    const examples = cls ? cls.train.length + (cls.validation?.length ?? 0) : (loaded?.train.length ?? 0) + (loaded?.validation?.length ?? 0);
    const tokens = report.split ? report.split.trainTokens + report.split.validationTokens : 0;
    return {
      report,
      info: toDatasetInfo(report),
      train: loaded && !cls ? loaded.train : null,
      validation: loaded && !cls ? (loaded.validation ?? null) : null,
      classification: cls,
      key: `${source.name}:${source.size}:${examples}:${tokens}:${report.mapping ? describeMapping(report.mapping) : ''}`,
    };
  } catch (e) {
    if (!(e instanceof DatasetError || e instanceof DatasetErrorList)) throw e;
    const report = failedReport(source, opts, e, partial);
    if (e instanceof DatasetError && (e.code === 'schema-ambiguous' || e.code === 'schema-unknown')) {
      // Still show the preview and the candidates for the picker.
      const pre = await previewDataset(source, opts).catch(() => null);
      if (pre) {
        report.detection = pre.detection;
        report.columns = pre.detection.columns;
        report.preview = pre.previewRows.slice(0, 20);
      }
    }
    return { report, info: toDatasetInfo(report), train: null, validation: null, classification: null, key: `${source.name}:${source.size}` };
  }
}

function failedReport(source: DataSource, opts: PrepareOptions, e: DatasetError | DatasetErrorList, partial: Partial<DatasetReport> | undefined): DatasetReport {
  let format: DataFormat | null = null;
  try {
    format = resolveFormat(source, opts.format);
  } catch {
    // the format error itself is in `errors`
  }
  const errors: DatasetIssue[] = e instanceof DatasetErrorList ? e.errors.map((x) => issueOf(x.toJSON())) : [issueOf(e.toJSON())];
  const warnings = e instanceof DatasetErrorList ? [e.message.split('\n')[0]] : [];
  return {
    file: { name: source.name, bytes: source.size, format },
    ok: false,
    objective: opts.objective ?? 'causal-lm',
    columns: partial?.columns ?? [],
    detection: partial?.detection ?? null,
    mapping: partial?.mapping ?? opts.mapping ?? null,
    mappingSource: partial?.mappingSource ?? (opts.mapping ? 'given' : null),
    maxLength: opts.maxLength,
    preview: partial?.preview ?? [],
    stats: partial?.stats ?? null,
    validationStats: null,
    split: null,
    duplicates: null,
    classes: null,
    samples: [],
    warnings,
    errors,
  };
}

/** Which rows to show: by row number (the n-th record) or by line (the record that starts on that line). */
export interface RowSelection {
  rows?: number[];
  lines?: number[];
}

/**
 * What the model sees for the rows asked: rendered text, tokens with their characters and trained flags, token
 * counts, truncation. Reads the file only as far as the last row asked. Rows that cannot be rendered come back with
 * `error` set. The mapping is the given one or the detected one.
 */
export async function explainRows(source: DataSource, tok: Tokenizer, which: RowSelection, opts: PrepareOptions): Promise<RowView[]> {
  const p = prepareTokenizer(tok);
  const file = source.name;
  let mapping = opts.mapping;
  if (!mapping) {
    const pre = await previewDataset(source, opts);
    mapping = chooseMapping(source, pre.detection);
  }
  const rows = new Set(which.rows ?? []);
  const lines = new Set(which.lines ?? []);
  const out: RowView[] = [];
  const it = readRows(source, opts);
  try {
    for await (const item of it) {
      opts.signal?.throwIfAborted();
      const row = item.ok ? item.row : (item.error.row ?? 0);
      const line = item.ok ? item.line : item.error.line;
      const wanted = rows.delete(row) || (line !== undefined && lines.delete(line));
      if (wanted) {
        const ref: RowRef = { file, row, line };
        if (!item.ok) out.push({ ...ref, objective: 'causal-lm', text: '', tokens: [], fullLength: 0, truncated: false, trainedTokens: 0, error: item.error.toJSON() });
        else {
          try {
            out.push(viewOf(p, normalizeRow(item.value, mapping, ref), ref, opts));
          } catch (e) {
            if (!(e instanceof DatasetError)) throw e;
            out.push({ ...ref, objective: mapping.kind === 'classification' ? 'classification' : 'causal-lm', text: '', tokens: [], fullLength: 0, truncated: false, trainedTokens: 0, error: e.toJSON() });
          }
        }
      }
      if (rows.size === 0 && lines.size === 0) break;
    }
  } finally {
    await it.return(undefined);
  }
  return out;
}
