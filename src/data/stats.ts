/** Statistics of one file's pass: rows, tokens, a length histogram, truncated and rejected rows with reasons, the longest row. */
import type { DatasetError, DatasetErrorCode, DatasetErrorJson } from './errors';

export interface LengthHistogram {
  /** Bin i counts lengths in [edges[i], edges[i+1]); the last bin counts lengths ≥ its lower edge (over maxLength). */
  edges: number[];
  counts: number[];
}

/** Where a row is in its file. */
export interface RowRef {
  file: string;
  row: number;
  line?: number;
}

export interface SplitStats {
  /** Rows read from the file, good and bad. */
  rows: number;
  /** Rows rendered into examples. */
  examples: number;
  /** Tokens in the examples (after truncation). */
  tokens: number;
  /** Tokens that are training targets (causal LM; 0 for classification). */
  targetTokens: number;
  /** Examples cut to the maximum length. */
  truncated: number;
  /** Rows rejected, total and by reason. */
  rejected: number;
  rejectedByReason: Partial<Record<DatasetErrorCode, number>>;
  /** The first rejected rows (up to 20), for the UI to list, with their real line and row numbers. */
  errors: DatasetErrorJson[];
  /** Lengths before truncation. */
  histogram: LengthHistogram;
  /** Lengths before truncation (min, mean, max). */
  minLength: number;
  maxLength: number;
  meanLength: number;
  /** The longest example in tokens: before truncation (`fullLength`) and as kept (`tokens` ≤ the maximum length). */
  longest: (RowRef & { fullLength: number; tokens: number }) | null;
  /** Rows with a "word" longer than 16 Ki characters, cut before BPE (see tokenizers/encoder.ts). */
  longWordRows: number;
}

export class StatsCollector {
  private s: SplitStats;
  private sumLen = 0;
  private readonly binWidth: number;

  constructor(
    readonly maxLength: number,
    readonly bins = 16,
    readonly keepErrors = 20,
  ) {
    this.binWidth = Math.max(1, Math.ceil(maxLength / bins));
    const edges = Array.from({ length: bins + 1 }, (_, i) => i * this.binWidth);
    this.s = {
      rows: 0,
      examples: 0,
      tokens: 0,
      targetTokens: 0,
      truncated: 0,
      rejected: 0,
      rejectedByReason: {},
      errors: [],
      histogram: { edges, counts: new Array(bins + 1).fill(0) },
      minLength: 0,
      maxLength: 0,
      meanLength: 0,
      longest: null,
      longWordRows: 0,
    };
  }

  row(): void {
    this.s.rows++;
  }

  /** Returns true when this example is the longest so far. */
  example(fullLength: number, tokens: number, targets: number, truncated: boolean, where?: RowRef, longWords = 0): boolean {
    const s = this.s;
    s.examples++;
    s.tokens += tokens;
    s.targetTokens += targets;
    if (truncated) s.truncated++;
    if (longWords > 0) s.longWordRows++;
    this.sumLen += fullLength;
    s.minLength = s.examples === 1 ? fullLength : Math.min(s.minLength, fullLength);
    const longest = s.examples === 1 || fullLength > s.maxLength;
    s.maxLength = Math.max(s.maxLength, fullLength);
    if (longest && where) s.longest = { ...where, fullLength, tokens };
    const bin = fullLength > this.maxLength ? this.bins : Math.min(this.bins - 1, Math.floor(fullLength / this.binWidth));
    s.histogram.counts[bin]++;
    return longest;
  }

  reject(e: DatasetError): void {
    this.s.rejected++;
    this.s.rejectedByReason[e.code] = (this.s.rejectedByReason[e.code] ?? 0) + 1;
    if (this.s.errors.length < this.keepErrors) this.s.errors.push(e.toJSON());
  }

  result(): SplitStats {
    return { ...this.s, meanLength: this.s.examples ? this.sumLen / this.s.examples : 0 };
  }
}
