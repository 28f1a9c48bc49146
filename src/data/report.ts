/**
 * What a dataset preparation reports, as plain data (structured-clone friendly, JSON-printable): for the studio's
 * Dataset screen (DatasetInfo, its summary DatasetStats and DatasetIssue, re-exported by src/worker/protocol.ts)
 * and for the CLI (DatasetReport, which DatasetInfo carries whole).
 *
 * Row and line numbers everywhere are the file's own: row n is the n-th record (JSONL line with content, CSV
 * record after the header, array element, Parquet row), line is where it starts in the file.
 */
import type { DataFormat } from './readers/types';
import type { Candidate, Detection, Objective } from './detect';
import type { DatasetErrorCode, DatasetErrorJson } from './errors';
import type { ClassificationTask, ColumnMapping, SchemaKind } from './schema';
import type { RowRef, SplitStats } from './stats';
import type { RawLabel } from './normalize';

export type { RowRef, SplitStats } from './stats';

/** One problem as the studio lists it. */
export interface DatasetIssue {
  /** 1-based line in the file, when the error has one. */
  line: number | null;
  message: string;
  code?: DatasetErrorCode;
  /** 1-based row (record), when known. */
  row?: number | null;
  column?: string;
  /** What to do about it. */
  hint?: string;
}

/** The studio's summary of a prepared dataset. */
export interface DatasetStats {
  rows: number;
  trainRows: number;
  validationRows: number;
  tokens: number;
  targetTokens: number;
  meanTokens: number;
  /** The longest example as kept (≤ the maximum length): what the memory planner should size for. */
  maxTokens: number;
  truncatedRows: number;
  skippedRows: number;
}

/** A preview row with its real place in the file (the studio must number rows by these, not by position). */
export interface PreviewRow {
  row: number;
  line: number | null;
  /** Every cell as text (rendered as text, never HTML), cut at 300 characters. */
  cells: Record<string, string>;
}

/** One token as the model sees it. */
export interface TokenView {
  id: number;
  /** The characters of the rendered text this token covers (a special token's own text; decoded when offsets are unknown). */
  text: string;
  /** Character range in RowView.text; absent when the tokenizer's offsets are unknown; start = end for BOS/EOS not in the text. */
  start?: number;
  end?: number;
  /** Trained (a loss target) — causal LM. */
  trained: boolean;
  /** Token type id (classification: 0 first text, 1 second). */
  type?: number;
}

/** What the model sees for one row: the rendered text, every token, which are trained. */
export interface RowView extends RowRef {
  objective: Objective;
  /** The text as rendered (chat template or prompt template), up to the last kept token; for classification, the decoded input. */
  text: string;
  /** Characters of the rendered text past the last kept token, left out of `text` (the model never sees them). */
  textCut?: number;
  /** Tokens kept (≤ the maximum length), with EOS when appended. */
  tokens: TokenView[];
  /** Tokens before truncation. */
  fullLength: number;
  truncated: boolean;
  trainedTokens: number;
  /** Classification: the label as the row holds it (and its class id once every label is known). */
  label?: { raw: RawLabel; ids?: number[]; names?: string[] };
  /** The row could not be rendered: why. */
  error?: DatasetErrorJson;
}

export interface SplitSummary {
  mode: 'none' | 'fraction' | 'file';
  fraction?: number;
  seed: number;
  /** Classification: each class held out in proportion. */
  stratified: boolean;
  trainExamples: number;
  validationExamples: number;
  trainTokens: number;
  validationTokens: number;
  /** Why there is no validation set, when one was asked for. */
  note?: string;
}

export interface DuplicateReport {
  /** Validation examples whose tokens equal a training example's. */
  count: number;
  /** Training examples that repeat an earlier training example. */
  withinTrain: number;
  /** Up to 5 pairs. */
  examples: { train: RowRef; validation: RowRef }[];
}

export interface ClassReport {
  task: ClassificationTask;
  /** Class names by id (empty for regression). */
  names: string[];
  numLabels: number;
  /** Examples per class id. */
  trainCounts: number[];
  validationCounts?: number[];
  /** Regression: range and mean of the targets. */
  range?: { min: number; max: number; mean: number };
}

export interface DatasetReport {
  file: { name: string; bytes: number; format: DataFormat | null };
  ok: boolean;
  objective: Objective;
  columns: string[];
  detection: Detection | null;
  mapping: ColumnMapping | null;
  /** 'given' (the caller's choice), 'detected'; null when none could be used. */
  mappingSource: 'given' | 'detected' | null;
  maxLength: number;
  preview: PreviewRow[];
  /** The training file's pass (every row, before the split). */
  stats: SplitStats | null;
  /** A separate validation file's pass. */
  validationStats: SplitStats | null;
  split: SplitSummary | null;
  duplicates: DuplicateReport | null;
  classes: ClassReport | null;
  /** What the model sees: the rows asked for (default: the first 3 and the longest). */
  samples: RowView[];
  warnings: string[];
  /** Why the dataset cannot be used (empty when ok), or the bad rows met (listed with their lines). */
  errors: DatasetIssue[];
}

/** The studio's Dataset screen. */
export interface DatasetInfo {
  name: string;
  bytes: number;
  format: string;
  columns: string[];
  mapping: ColumnMapping | null;
  /** Whether the mapping was detected with certainty (otherwise the user should confirm it). */
  mappingSure: boolean;
  /** Other plausible mappings for the picker. */
  candidates: ColumnMapping[];
  /** The same, with the rows each fits, why, and its CLI flags. */
  candidateDetails: Candidate[];
  kind: SchemaKind | null;
  detection: string;
  /** Up to 20 rows, every cell as text (rendered as text, never HTML). Number them by previewRows[i].row / .line. */
  preview: Record<string, string>[];
  previewRows: PreviewRow[];
  stats: DatasetStats | null;
  /** Why the dataset cannot be used (empty when it can; rows skipped under onBadRows 'skip' are in report.errors). */
  errors: DatasetIssue[];
  /** Everything else (split, duplicates, classes, samples, warnings, skipped rows). */
  report: DatasetReport;
}

export function issueOf(e: DatasetErrorJson | { message: string }): DatasetIssue {
  const j = e as Partial<DatasetErrorJson> & { message: string };
  return { line: j.line ?? null, message: j.message, code: j.code, row: j.row ?? null, column: j.column, hint: j.hint };
}

/** The studio's summary of a report. */
export function summaryStats(r: DatasetReport): DatasetStats | null {
  if (!r.stats) return null;
  const s = r.stats;
  const split = r.split;
  const trainRows = split?.trainExamples ?? s.examples;
  const validationRows = split?.validationExamples ?? 0;
  const tokens = split ? split.trainTokens + split.validationTokens : s.tokens;
  const examples = trainRows + validationRows;
  return {
    rows: s.rows + (r.validationStats?.rows ?? 0),
    trainRows,
    validationRows,
    tokens,
    targetTokens: s.targetTokens + (r.validationStats?.targetTokens ?? 0),
    meanTokens: examples ? tokens / examples : 0,
    maxTokens: Math.max(s.longest?.tokens ?? 0, r.validationStats?.longest?.tokens ?? 0),
    truncatedRows: s.truncated + (r.validationStats?.truncated ?? 0),
    skippedRows: s.rejected + (r.validationStats?.rejected ?? 0),
  };
}

/** The studio's view of a report. */
export function toDatasetInfo(r: DatasetReport): DatasetInfo {
  const d = r.detection;
  return {
    name: r.file.name,
    bytes: r.file.bytes,
    format: r.file.format ?? (r.file.name.split('.').slice(1).join('.') || 'unknown'),
    columns: r.columns,
    mapping: r.mapping,
    mappingSure: r.mappingSource === 'given' || !!d?.sure,
    candidates: d?.candidates ?? [],
    candidateDetails: d?.candidateDetails ?? [],
    kind: r.mapping?.kind ?? null,
    detection: d ? (d.hint ? `${d.reason}; ${d.hint}` : d.reason) : '',
    preview: r.preview.map((p) => p.cells),
    previewRows: r.preview,
    stats: summaryStats(r),
    errors: r.ok ? [] : r.errors,
    report: r,
  };
}
