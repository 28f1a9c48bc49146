/**
 * The rows of a run's dataset as the run trained on them, each with the row of the file it came from
 * and its source in a form other tools read (chat messages, a prompt and a completion, or text): what
 * an export of the run (the PyTorch project) writes next to the token ids and loss masks.
 *
 * The token ids and masks are the run's own: the rows of the file are rendered again through the
 * same normalize → render path and walked against the run's train and validation stores, so a row
 * is written only when it renders to exactly the example the run holds (an export can never drift
 * from what was trained). The stores are in file order, split by row; a row the run skipped (a bad
 * row under onError 'skip') is skipped here too.
 */
import type { Example, TokenDataset } from './batches';
import { DatasetError } from './errors';
import { normalizeRow, type ChatMessage, type Normalized } from './normalize';
import { readRows } from './readers/index';
import type { ColumnMapping } from './schema';
import type { DataSource } from './source';
import { renderExample, type RenderOptions, type Tokenizer } from './tokenize';

/** A row's content as it was rendered, in the field names TRL and Hugging Face datasets use. */
export type RowSource =
  /** Assistant turns at index ≥ trainFrom are trained (with trainOn 'response'). */
  | { kind: 'chat'; messages: ChatMessage[]; trainFrom: number }
  /** prompt + completion, concatenated as they are (the prompt already through its template, e.g. Alpaca's). */
  | { kind: 'pair'; prompt: string; completion: string }
  | { kind: 'text'; text: string };

export interface RenderedRow {
  split: 'train' | 'validation';
  /** The row of its file (1-based, as DatasetError numbers rows). */
  row: number;
  source: RowSource;
  example: Example;
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
  if (n.kind === 'classify') throw new RenderedRowsError('classification rows are not language-model rows: they export with the encoder family');
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

/** The run's examples, with the file row of each when the store knows it (0: unknown). */
export type RowDataset = TokenDataset & { rowOf?(i: number): number };

export interface RenderedRowsOptions {
  /** The training file, and the validation file when the run had one. */
  source: DataSource;
  validationSource?: DataSource;
  tokenizer: Tokenizer;
  mapping: ColumnMapping;
  /** The options the run's examples were rendered with. */
  render: RenderOptions;
  /** The run's examples (a TokenStore also names the row of each). */
  train: RowDataset;
  validation: RowDataset | null;
  signal?: AbortSignal;
}

/** Every example of the run, in file order (train and validation interleaved as in the file), with its source. */
export async function* renderedRows(o: RenderedRowsOptions): AsyncGenerator<RenderedRow> {
  const validation = o.validation;
  const walk = async function* (source: DataSource, stores: { split: 'train' | 'validation'; data: RowDataset }[]): AsyncGenerator<RenderedRow> {
    const next = stores.map(() => 0);
    for await (const item of readRows(source)) {
      o.signal?.throwIfAborted();
      if (!item.ok) continue;
      const where = { file: source.name, line: item.line, row: item.row };
      let normalized: Normalized;
      let example: Example;
      try {
        normalized = normalizeRow(item.value, o.mapping, where);
        example = renderExample(o.tokenizer, normalized, o.render, where).example;
      } catch (e) {
        if (e instanceof DatasetError) continue; // the run skipped it too (or its load failed: then there are no stores)
        throw e;
      }
      // The stores name each example's row (TokenStore.rowOf) when they can: then the row decides the split, and
      // the tokens must agree; otherwise the tokens decide (equal tokens are the same training either way).
      const k = stores.findIndex((s, j) => {
        if (next[j] >= s.data.length) return false;
        const row = s.data.rowOf?.(next[j]);
        if (row) return row === item.row;
        return sameExample(s.data.get(next[j]), example);
      });
      if (k >= 0 && !sameExample(stores[k].data.get(next[k]), example)) {
        throw new RenderedRowsError(`${source.name} row ${item.row}${item.line ? ` (line ${item.line})` : ''} renders to other tokens than the run's: the tokenizer or the render options differ from the run's`);
      }
      if (k < 0) {
        throw new RenderedRowsError(
          `${source.name} row ${item.row}${item.line ? ` (line ${item.line})` : ''} renders to tokens the run does not hold next: the file, the tokenizer or the render options differ from the run's`,
        );
      }
      next[k]++;
      yield { split: stores[k].split, row: item.row, source: rowSource(normalized, o.render), example };
    }
    stores.forEach((s, j) => {
      if (next[j] !== s.data.length) throw new RenderedRowsError(`${source.name}: the run holds ${s.data.length} ${s.split} examples but the file renders ${next[j]} of them`);
    });
  };
  if (o.validationSource) {
    yield* walk(o.source, [{ split: 'train', data: o.train }]);
    if (validation) yield* walk(o.validationSource, [{ split: 'validation', data: validation }]);
  } else {
    yield* walk(o.source, [{ split: 'train', data: o.train }, ...(validation ? [{ split: 'validation' as const, data: validation }] : [])]);
  }
}
