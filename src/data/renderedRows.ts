/**
 * The rows of a run's dataset as the run trained on them, each with the row of the file it came from
 * and its source in a form other tools read (chat messages, a prompt and a completion, or text; a
 * classification row's text, text pair and label): what an export of the run (the PyTorch project)
 * writes next to the token ids and loss masks, or next to the token ids, token types and the label
 * the head trained on.
 *
 * The token ids and masks are the run's own: the rows of the file are rendered again through the
 * same normalize → render path and walked against the run's train and validation stores, so a row
 * is written only when it renders to exactly the example the run holds (an export can never drift
 * from what was trained). The stores are in file order, split by row; a row the run skipped (a bad
 * row under onError 'skip') is skipped here too. Classification rows are encoded again as the data
 * layer encodes them (encodeClassification) and walked against the run's ClassificationStores; their
 * labels are the stores' resolved ones (class ids, targets, multi-hot rows), never resolved again.
 */
import type { Example, TokenDataset } from './batches';
import { encodeClassification, type ClassificationExample, type ClassificationStore } from './classify';
import { DatasetError } from './errors';
import { normalizeRow, type ChatMessage, type Normalized, type RawLabel } from './normalize';
import { readRows } from './readers/index';
import type { ColumnMapping } from './schema';
import type { DataSource } from './source';
import { prepareTokenizer, renderExample, type RenderOptions, type Tokenizer } from './tokenize';

/** A row's content as it was rendered, in the field names TRL and Hugging Face datasets use. */
export type RowSource =
  /** Assistant turns at index ≥ trainFrom are trained (with trainOn 'response'). */
  | { kind: 'chat'; messages: ChatMessage[]; trainFrom: number }
  /** prompt + completion, concatenated as they are (the prompt already through its template, e.g. Alpaca's). */
  | { kind: 'pair'; prompt: string; completion: string }
  | { kind: 'text'; text: string };

export interface RenderedRow {
  kind: 'causal-lm';
  split: 'train' | 'validation';
  /** The row of its file (1-based, as DatasetError numbers rows). */
  row: number;
  source: RowSource;
  example: Example;
}

/** A classification row's content: the text (and the second text of a pair) and its label as the file holds it. */
export interface ClassificationSource {
  text: string;
  textPair: string | null;
  label: RawLabel;
}

/** A classification example of the run with its source and the label the head trained on. */
export interface ClassifiedRow {
  kind: 'classification';
  split: 'train' | 'validation';
  row: number;
  source: ClassificationSource;
  example: ClassificationExample;
  /** The store's resolved label: a class id (single-label), a target (regression), a multi-hot row (multi-label). */
  label: number | number[];
}

export class RenderedRowsError extends Error {
  constructor(message: string) {
    super(`RenderedRowsError: ${message}`);
    this.name = 'RenderedRowsError';
  }
}

/** The source of a normalized row, as renderExample renders it with these options. */
export function rowSource(n: Normalized, opts: Pick<RenderOptions, 'pairFormat'>): RowSource {
  if (n.kind === 'chat') return { kind: 'chat', messages: n.messages.map((m) => ({ role: m.role, content: m.content })), trainFrom: n.trainFrom };
  if (n.kind === 'text') return { kind: 'text', text: n.text };
  if (n.kind === 'classify') throw new RenderedRowsError('classification rows are not language-model rows: classifiedRows reads them');
  if (opts.pairFormat === 'chat') {
    const messages: ChatMessage[] = [...(n.system ? [{ role: 'system' as const, content: n.system }] : []), { role: 'user', content: n.instruction ?? n.prompt }, { role: 'assistant', content: n.response }];
    return { kind: 'chat', messages, trainFrom: 0 };
  }
  return { kind: 'pair', prompt: n.prompt, completion: n.response };
}

/** The normalized form of a source: rendering it gives the row's tokens again. */
export function sourceToNormalized(s: RowSource): Normalized {
  if (s.kind === 'chat') return { kind: 'chat', messages: s.messages, trainFrom: s.trainFrom };
  if (s.kind === 'pair') return { kind: 'pair', prompt: s.prompt, response: s.completion, instruction: s.prompt };
  return { kind: 'text', text: s.text };
}

function sameExample(a: Example, b: Example): boolean {
  if (a.ids.length !== b.ids.length) return false;
  for (let i = 0; i < a.ids.length; i++) if (a.ids[i] !== b.ids[i] || a.lossMask[i] !== b.lossMask[i]) return false;
  return true;
}

function sameClassification(a: ClassificationExample, b: ClassificationExample): boolean {
  if (a.ids.length !== b.ids.length) return false;
  for (let i = 0; i < a.ids.length; i++) if (a.ids[i] !== b.ids[i] || a.tokenTypeIds[i] !== b.tokenTypeIds[i]) return false;
  return true;
}

/** The run's examples, with the file row of each when the store knows it (0: unknown). */
export type RowDataset = TokenDataset & { rowOf?(i: number): number };

interface RowsInput {
  /** The training file, and the validation file when the run had one. */
  source: DataSource;
  validationSource?: DataSource;
  tokenizer: Tokenizer;
  mapping: ColumnMapping;
  signal?: AbortSignal;
}

export interface RenderedRowsOptions extends RowsInput {
  /** The options the run's examples were rendered with. */
  render: RenderOptions;
  /** The run's examples (a TokenStore also names the row of each). */
  train: RowDataset;
  validation: RowDataset | null;
}

export interface ClassifiedRowsOptions extends RowsInput {
  /** The max length the run's examples were encoded with. */
  maxLength: number;
  /** The run's classification examples, labels resolved. */
  train: ClassificationStore;
  validation: ClassificationStore | null;
}

/** One family of stores: how a file row becomes an example, and how stores hold and compare them. */
interface Walk<E, R> {
  encode(n: Normalized, where: { file: string; line?: number; row: number }): E;
  get(store: number, i: number): E;
  length(store: number): number;
  rowOf(store: number, i: number): number;
  same(a: E, b: E): boolean;
  row(split: 'train' | 'validation', store: number, i: number, row: number, n: Normalized, e: E): R;
}

/**
 * Every row of the files joined to the run's stores, in file order (train and validation interleaved
 * as in the file): the row number decides the store when the stores name rows, the tokens otherwise,
 * and the tokens must agree.
 */
async function* joinRows<E, R>(o: RowsInput, stores: { split: 'train' | 'validation' }[], w: Walk<E, R>): AsyncGenerator<R> {
  const walk = async function* (source: DataSource, which: number[]): AsyncGenerator<R> {
    const next = which.map(() => 0);
    for await (const item of readRows(source)) {
      o.signal?.throwIfAborted();
      if (!item.ok) continue;
      const where = { file: source.name, line: item.line, row: item.row };
      let normalized: Normalized;
      let example: E;
      try {
        normalized = normalizeRow(item.value, o.mapping, where);
        example = w.encode(normalized, where);
      } catch (e) {
        if (e instanceof DatasetError) continue; // the run skipped it too (or its load failed: then there are no stores)
        throw e;
      }
      // The stores name each example's row (TokenStore.rowOf) when they can: then the row decides the split, and
      // the tokens must agree; otherwise the tokens decide (equal tokens are the same training either way).
      const k = which.findIndex((s, j) => {
        if (next[j] >= w.length(s)) return false;
        const row = w.rowOf(s, next[j]);
        if (row) return row === item.row;
        return w.same(w.get(s, next[j]), example);
      });
      if (k >= 0 && !w.same(w.get(which[k], next[k]), example)) {
        throw new RenderedRowsError(`${source.name} row ${item.row}${item.line ? ` (line ${item.line})` : ''} renders to other tokens than the run's: the tokenizer or the render options differ from the run's`);
      }
      if (k < 0) {
        throw new RenderedRowsError(
          `${source.name} row ${item.row}${item.line ? ` (line ${item.line})` : ''} renders to tokens the run does not hold next: the file, the tokenizer or the render options differ from the run's`,
        );
      }
      yield w.row(stores[which[k]].split, which[k], next[k], item.row, normalized, example);
      next[k]++;
    }
    which.forEach((s, j) => {
      if (next[j] !== w.length(s)) throw new RenderedRowsError(`${source.name}: the run holds ${w.length(s)} ${stores[s].split} examples but the file renders ${next[j]} of them`);
    });
  };
  const hasValidation = stores.length > 1;
  if (o.validationSource) {
    yield* walk(o.source, [0]);
    if (hasValidation) yield* walk(o.validationSource, [1]);
  } else {
    yield* walk(o.source, hasValidation ? [0, 1] : [0]);
  }
}

/** Every example of a causal-LM run, in file order (train and validation interleaved as in the file), with its source. */
export function renderedRows(o: RenderedRowsOptions): AsyncGenerator<RenderedRow> {
  const data = [o.train, ...(o.validation ? [o.validation] : [])];
  return joinRows<Example, RenderedRow>(o, data.map((_, i) => ({ split: i === 0 ? 'train' : 'validation' })), {
    encode: (n, where) => renderExample(o.tokenizer, n, o.render, where).example,
    get: (s, i) => data[s].get(i),
    length: (s) => data[s].length,
    rowOf: (s, i) => data[s].rowOf?.(i) ?? 0,
    same: sameExample,
    row: (split, _s, _i, row, n, example) => ({ kind: 'causal-lm', split, row, source: rowSource(n, o.render), example }),
  });
}

/** Every example of a classification run, in file order, with its text, its label as written and the label the head trained on. */
export function classifiedRows(o: ClassifiedRowsOptions): AsyncGenerator<ClassifiedRow> {
  const data = [o.train, ...(o.validation ? [o.validation] : [])];
  for (const d of data) if (!d.labels) throw new RenderedRowsError('the run\'s classification examples have no resolved labels');
  const p = prepareTokenizer(o.tokenizer);
  return joinRows<ClassificationExample, ClassifiedRow>(o, data.map((_, i) => ({ split: i === 0 ? 'train' : 'validation' })), {
    encode: (n, where) => {
      if (n.kind !== 'classify') throw new DatasetError('option', 'not a classification row', where);
      const e = encodeClassification(p, n.text, n.textPair, o.maxLength);
      return { ids: e.ids, tokenTypeIds: e.tokenTypeIds };
    },
    get: (s, i) => data[s].get(i),
    length: (s) => data[s].length,
    rowOf: (s, i) => data[s].rowOf(i),
    same: sameClassification,
    row: (split, s, i, row, n, example) => {
      const c = n as Extract<Normalized, { kind: 'classify' }>;
      const L = data[s].labels!;
      const label = L.task === 'multi_label' ? Array.from(L.values.subarray(i * L.numLabels, (i + 1) * L.numLabels)) : L.values[i];
      return { kind: 'classification', split, row, source: { text: c.text, textPair: c.textPair ?? null, label: c.label }, example, label };
    },
  });
}
