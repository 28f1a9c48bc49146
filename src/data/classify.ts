/**
 * Sequence classification data (PEFT task_type SEQ_CLS): a text or a text pair encoded as the encoder's tokenizer
 * encodes it (`[CLS] a [SEP] b [SEP]` for BERT, `<s> a </s></s> b </s>` for RoBERTa: its own post-processor places
 * the special tokens and the token type ids), truncated longest-first as Hugging Face does, and labels resolved once
 * every row is read: class names (sorted) or ids, regression floats, or multi-label lists.
 *
 * Letters: B rows per batch, T tokens (the batch's longest row), N examples, C classes.
 */
import { withRoom } from './growable';
import { DatasetError } from './errors';
import type { RawLabel } from './normalize';
import { epochPermutation } from './random';
import type { ClassificationTask } from './schema';
import type { PreparedTokenizer } from './tokenize';
import type { CoreTokenizer } from './tokenizers/encoder';

export interface ClassificationExample {
  /** [L] token ids with the tokenizer's special tokens. */
  ids: Int32Array;
  /** [L] 0 for the first text, 1 for the second (zeros when the tokenizer has no token types, as RoBERTa). */
  tokenTypeIds: Uint8Array;
}

export interface EncodedClassification extends ClassificationExample {
  /** Tokens before truncation (specials included). */
  fullLength: number;
  truncated: boolean;
  longWordsSplit: number;
}

/** Removes tokens from the longer of the two texts until both fit (Hugging Face's 'longest_first'; ties cut the pair). */
export function longestFirst(la: number, lb: number, budget: number): [number, number] {
  let excess = la + lb - budget;
  if (excess <= 0) return [la, lb];
  const d = la - lb;
  if (d > 0) {
    const r = Math.min(d, excess);
    la -= r;
    excess -= r;
  } else if (d < 0) {
    const r = Math.min(-d, excess);
    lb -= r;
    excess -= r;
  }
  lb -= Math.ceil(excess / 2);
  la -= Math.floor(excess / 2);
  return [Math.max(0, la), Math.max(0, lb)];
}

type PostProcess = (tokens: unknown[], pair: unknown[] | null, addSpecial: boolean) => { tokens: unknown[]; token_type_ids?: number[]; tokens_pair?: unknown[] };

/** Encodes a classification input with the tokenizer's own special tokens and token types. */
export function encodeClassification(p: PreparedTokenizer, text: string, textPair: string | undefined, maxLength: number): EncodedClassification {
  const tok = p.tok as PreparedTokenizer['tok'] & { _tokenizer?: CoreTokenizer; return_token_type_ids?: boolean };
  const core = tok._tokenizer;
  const post = core?.post_processor as unknown as PostProcess | null | undefined;
  if (!core) {
    // Not a transformers.js tokenizer (a test double): encode the pair as it encodes it and cut the end.
    const ids = tok.encode(text, { text_pair: textPair ?? null, add_special_tokens: true }) as number[];
    const L = Math.min(ids.length, maxLength);
    return { ids: Int32Array.from(ids.slice(0, L)), tokenTypeIds: new Uint8Array(L), fullLength: ids.length, truncated: ids.length > maxLength, longWordsSplit: 0 };
  }
  const pair = textPair !== undefined;
  const nSpecial = post ? post([], pair ? [] : null, true).tokens.length : 0;
  const budget = Math.max(0, maxLength - nSpecial);
  const a = p.encoder.encode(text, { addSpecialTokens: false, limit: budget, offsets: false });
  const b = pair ? p.encoder.encode(textPair!, { addSpecialTokens: false, limit: budget, offsets: false }) : undefined;
  const [la, lb] = longestFirst(a.total, b?.total ?? 0, budget);
  const partA = Array.from(a.ids.subarray(0, la));
  const partB = b ? Array.from(b.ids.subarray(0, lb)) : null;
  let tokens: unknown[];
  let types: number[] | undefined;
  if (post) {
    // The post-processor only concatenates: our ids pass through it untouched, and its special tokens come back as strings.
    const out = post(partA, partB, true);
    tokens = out.tokens;
    types = out.token_type_ids;
    if (out.tokens_pair && partB) {
      tokens = [...tokens, ...out.tokens_pair];
      types = [...new Array(out.tokens.length).fill(0), ...new Array(out.tokens_pair.length).fill(1)];
    }
  } else {
    tokens = [...partA, ...(partB ?? [])];
    types = [...new Array(partA.length).fill(0), ...new Array(partB?.length ?? 0).fill(1)];
  }
  const unk = core.model.unk_token_id ?? 0;
  const ids = Int32Array.from(tokens, (t) => (typeof t === 'number' ? t : (core.token_to_id(t as string) ?? unk)));
  const tokenTypeIds = new Uint8Array(ids.length);
  if (tok.return_token_type_ids && types) for (let i = 0; i < ids.length; i++) tokenTypeIds[i] = types[i] ?? 0;
  const fullLength = a.total + (b?.total ?? 0) + nSpecial;
  return { ids, tokenTypeIds, fullLength, truncated: fullLength > maxLength, longWordsSplit: a.longWordsSplit + (b?.longWordsSplit ?? 0) };
}

/** Labels of every example, resolved: what the classification head is trained on. */
export interface ResolvedLabels {
  task: ClassificationTask;
  /** C class names, index = class id (single- and multi-label); empty for regression. */
  names: string[];
  /** [N] class ids (single_label), [N] targets (regression), or [N*C] multi-hot rows (multi_label). */
  values: Int32Array | Float32Array;
  /** C: the classifier's output size (1 for regression). */
  numLabels: number;
}

/** How raw labels become ids: names sorted (as datasets' class_encode_column), integer ids taken as they are. */
export function resolveLabels(raw: RawLabel[], rowsOf: (i: number) => { file?: string; row: number; line?: number }, file: string, task?: ClassificationTask): ResolvedLabels {
  const n = raw.length;
  const isList = raw.map((l) => Array.isArray(l));
  // Most rows decide between lists and single labels; the others are then the errors.
  const lists = isList.filter(Boolean).length;
  const detected: ClassificationTask = lists > 0 && 2 * lists >= n ? 'multi_label' : detectScalarTask(raw.filter((_, i) => !isList[i]) as (string | number)[]);
  const t = task ?? detected;
  const bad = (i: number, reason: string, hint: string): never => {
    const w = rowsOf(i);
    throw new DatasetError('bad-label', reason, { file: w.file ?? file, row: w.row, line: w.line }, hint);
  };
  if (t === 'multi_label') {
    for (let i = 0; i < n; i++) if (!isList[i]) bad(i, `label ${JSON.stringify(raw[i])} is not a list, but other rows list several labels (multi-label)`, 'write every label as a list, e.g. ["sports"]');
    const names = classNames((raw as (string | number)[][]).flat());
    const index = new Map(names.map((nm, k) => [nm, k]));
    const values = new Float32Array(n * names.length);
    raw.forEach((l, i) => {
      for (const x of l as (string | number)[]) values[i * names.length + index.get(String(x))!] = 1;
    });
    return { task: t, names, values, numLabels: names.length };
  }
  for (let i = 0; i < n; i++) if (isList[i]) bad(i, `label ${JSON.stringify(raw[i])} is a list, but other rows have one label`, 'use lists in every row (multi-label) or one label per row');
  if (t === 'regression') {
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = toNumber(raw[i] as string | number);
      if (x === undefined) bad(i, `label ${JSON.stringify(raw[i])} is not a number, but the task is regression`, 'regression targets must be numbers');
      values[i] = x!;
    }
    return { task: t, names: [], values, numLabels: 1 };
  }
  const names = classNames(raw as (string | number)[]);
  const index = new Map(names.map((nm, k) => [nm, k]));
  const values = new Int32Array(n);
  for (let i = 0; i < n; i++) values[i] = index.get(String(raw[i]))!;
  return { task: t, names, values, numLabels: names.length };
}

function toNumber(x: string | number): number | undefined {
  if (typeof x === 'number') return x;
  if (x.trim() === '') return undefined;
  const v = Number(x);
  return Number.isFinite(v) ? v : undefined;
}

function detectScalarTask(raw: (string | number)[]): ClassificationTask {
  let numeric = true;
  let fractional = false;
  for (const l of raw) {
    const v = toNumber(l);
    if (v === undefined) {
      numeric = false;
      break;
    }
    if (!Number.isInteger(v)) fractional = true;
  }
  return numeric && fractional ? 'regression' : 'single_label';
}

/**
 * Class names in id order: when every label is a non-negative integer (0, 1, 2 or "0", "1"), the ids are those
 * integers (names "0".."max", gaps included, so id k stays class k); otherwise the distinct names sorted.
 */
function classNames(labels: (string | number)[]): string[] {
  const distinct = [...new Set(labels.map(String))];
  const ints = distinct.map((s) => (/^(0|[1-9]\d{0,5})$/.test(s) ? Number(s) : -1));
  if (distinct.length && ints.every((x) => x >= 0)) {
    const max = Math.max(...ints);
    return Array.from({ length: max + 1 }, (_, k) => String(k));
  }
  return distinct.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Examples per class, and a warning when the classes are far from balanced (or a class has no example). */
export function classCounts(labels: ResolvedLabels, indices?: ArrayLike<number>): { counts: number[]; warning?: string } {
  const C = labels.numLabels;
  if (labels.task === 'regression') return { counts: [] };
  const counts = new Array<number>(C).fill(0);
  const n = indices ? indices.length : labels.task === 'multi_label' ? labels.values.length / C : labels.values.length;
  for (let k = 0; k < n; k++) {
    const i = indices ? indices[k] : k;
    if (labels.task === 'single_label') counts[labels.values[i]]++;
    else for (let c = 0; c < C; c++) counts[c] += labels.values[i * C + c];
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const max = Math.max(...counts);
  const min = Math.min(...counts);
  const empty = counts.map((c, k) => (c === 0 ? labels.names[k] : null)).filter((x) => x !== null);
  let warning: string | undefined;
  if (empty.length) warning = `class${empty.length > 1 ? 'es' : ''} ${empty.map((e) => `"${e}"`).join(', ')} ha${empty.length > 1 ? 've' : 's'} no example: the head will still have an output for ${empty.length > 1 ? 'them' : 'it'}`;
  else if (C > 1 && max >= 10 * min) {
    const big = labels.names[counts.indexOf(max)];
    const small = labels.names[counts.indexOf(min)];
    warning = `classes are imbalanced: "${big}" has ${max} examples (${((100 * max) / total).toFixed(1)}%), "${small}" has ${min}; accuracy alone will mislead: watch per-class results, or rebalance`;
  }
  return { counts, warning };
}

/** Classification examples back to back (ids 16-bit when the vocabulary fits), with their source rows; labels attached after reading. */
export class ClassificationStore {
  private ids: Uint16Array | Int32Array;
  private types: Uint8Array;
  private offsets: Float64Array;
  private srcRows: Uint32Array;
  private srcLines: Uint32Array;
  private n = 0;
  private used = 0;
  labels: ResolvedLabels | undefined;

  constructor(readonly vocabSize = 2 ** 31) {
    this.ids = vocabSize <= 0x10000 ? new Uint16Array(4096) : new Int32Array(4096);
    this.types = new Uint8Array(4096);
    this.offsets = new Float64Array(1025);
    this.srcRows = new Uint32Array(1024);
    this.srcLines = new Uint32Array(1024);
  }

  get length(): number {
    return this.n;
  }
  get tokens(): number {
    return this.used;
  }

  push(ex: ClassificationExample, row = 0, line = 0): void {
    const L = ex.ids.length;
    this.ids = withRoom(this.ids, this.used + L, this.used);
    this.types = withRoom(this.types, this.used + L, this.used);
    this.offsets = withRoom(this.offsets, this.n + 2);
    this.srcRows = withRoom(this.srcRows, this.n + 1);
    this.srcLines = withRoom(this.srcLines, this.n + 1);
    this.ids.set(ex.ids, this.used);
    this.types.set(ex.tokenTypeIds, this.used);
    this.srcRows[this.n] = row;
    this.srcLines[this.n] = line;
    this.used += L;
    this.n++;
    this.offsets[this.n] = this.used;
  }

  get(i: number): ClassificationExample {
    const a = this.offsets[i];
    const b = this.offsets[i + 1];
    return { ids: Int32Array.from(this.ids.subarray(a, b)), tokenTypeIds: this.types.slice(a, b) };
  }
  lengthOf(i: number): number {
    return this.offsets[i + 1] - this.offsets[i];
  }
  /** The ids of example i without copying them. */
  idsView(i: number): Uint16Array | Int32Array {
    return this.ids.subarray(this.offsets[i], this.offsets[i + 1]);
  }
  rowOf(i: number): number {
    return this.srcRows[i];
  }
  lineOf(i: number): number | undefined {
    return this.srcLines[i] || undefined;
  }

  /** A new store holding the examples at `indices`, labels included. */
  subset(indices: ArrayLike<number>): ClassificationStore {
    const out = new ClassificationStore(this.vocabSize);
    for (let k = 0; k < indices.length; k++) out.push(this.get(indices[k]), this.srcRows[indices[k]], this.srcLines[indices[k]]);
    if (this.labels) {
      const { task, names, numLabels, values } = this.labels;
      const w = task === 'multi_label' ? numLabels : 1;
      const v = new (values.constructor as Int32ArrayConstructor | Float32ArrayConstructor)(indices.length * w);
      for (let k = 0; k < indices.length; k++) v.set(values.subarray(indices[k] * w, indices[k] * w + w), k * w);
      out.labels = { task, names, numLabels, values: v };
    }
    return out;
  }
}

/** One classification micro-batch, padded to its longest row. */
export interface ClassificationBatch {
  B: number;
  /** The longest row of this batch. */
  T: number;
  /** [B*T] */
  inputIds: Int32Array;
  /** [B*T] */
  tokenTypeIds: Int32Array;
  /** [B*T] 1 on tokens, 0 on padding. */
  attentionMask: Uint8Array;
  task: ClassificationTask;
  numLabels: number;
  /** [B] class ids (single_label), [B] targets (regression), [B*C] multi-hot (multi_label); rows past the data: -100 / NaN / 0. */
  labels: Int32Array | Float32Array;
  /** Rows holding an example (the last batch of an epoch may have fewer than B). */
  rows: number;
}

export interface ClassificationBatcherOptions {
  batchSize: number;
  padId: number;
  seed?: number;
  epochs?: number;
  shuffle?: boolean;
  cursor?: { epoch: number; index: number; seed: number };
}

/** Batches of classification examples, shuffled per epoch by seed, resumable from a cursor like Batcher. */
export class ClassificationBatcher {
  readonly B: number;
  private epoch: number;
  private index: number;
  private readonly seed: number;
  private readonly epochs: number;
  private perm: Uint32Array | undefined;
  private permEpoch = -1;

  constructor(
    private readonly data: ClassificationStore,
    private readonly opts: ClassificationBatcherOptions,
  ) {
    if (!data.labels) throw new Error('ClassificationBatcher: the store has no labels (resolve them first)');
    if (data.length === 0) throw new Error('ClassificationBatcher: the dataset has no examples');
    this.B = opts.batchSize;
    this.seed = opts.cursor?.seed ?? opts.seed ?? 0;
    this.epoch = opts.cursor?.epoch ?? 0;
    this.index = opts.cursor?.index ?? 0;
    this.epochs = opts.epochs ?? 1;
  }

  get cursor(): { epoch: number; index: number; seed: number } {
    return { epoch: this.epoch, index: this.index, seed: this.seed };
  }

  batchesInEpoch(): number {
    return Math.ceil(this.data.length / this.B);
  }

  next(): ClassificationBatch | null {
    if (this.index >= this.data.length) {
      this.epoch++;
      this.index = 0;
    }
    if (this.epoch >= this.epochs) return null;
    if (this.permEpoch !== this.epoch || !this.perm) {
      this.perm = epochPermutation(this.data.length, this.seed, this.epoch, this.opts.shuffle ?? true);
      this.permEpoch = this.epoch;
    }
    const take = Math.min(this.B, this.data.length - this.index);
    const members = Array.from({ length: take }, (_, k) => this.perm![this.index + k]);
    this.index += take;
    const B = this.B;
    const T = Math.max(1, ...members.map((i) => this.data.lengthOf(i)));
    const inputIds = new Int32Array(B * T).fill(this.opts.padId);
    const tokenTypeIds = new Int32Array(B * T);
    const attentionMask = new Uint8Array(B * T);
    const L = this.data.labels!;
    const w = L.task === 'multi_label' ? L.numLabels : 1;
    const labels = L.task === 'single_label' ? new Int32Array(B).fill(-100) : new Float32Array(B * w).fill(L.task === 'regression' ? NaN : 0);
    members.forEach((i, r) => {
      const ex = this.data.get(i);
      inputIds.set(ex.ids, r * T);
      for (let t = 0; t < ex.ids.length; t++) {
        tokenTypeIds[r * T + t] = ex.tokenTypeIds[t];
        attentionMask[r * T + t] = 1;
      }
      labels.set(L.values.subarray(i * w, i * w + w), r * w);
    });
    return { B, T, inputIds, tokenTypeIds, attentionMask, task: L.task, numLabels: L.numLabels, labels, rows: take };
  }
}
