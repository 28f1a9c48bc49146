/**
 * Rendering normalized examples to token ids with the base model's own tokenizer (@huggingface/transformers):
 * chat through the tokenizer's chat template, pairs through their default template (templates.ts), a loss mask
 * that trains only responses by default, EOS appended, truncation to a maximum length.
 *
 * Each row is rendered to text ONCE, with the character spans that are trained, and encoded ONCE; a token is
 * trained when it covers a trained character (tokens come with their character offsets, see tokenizers/encoder.ts).
 * For a tokenizer whose offsets are not known the text is cut at the span boundaries and the pieces are encoded one
 * by one, as the first version of this module did for every tokenizer (`renderExampleByPieces` keeps that version
 * whole, as the reference the tests and the benchmark compare against).
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import type { Example } from './batches';
import { DatasetError, type DatasetErrorWhere } from './errors';
import type { ChatMessage, Normalized } from './normalize';
import { ChatRenderer, chatSpansByPrefixes, type Span } from './tokenizers/chat';
import { ByteLevelEncoder, GenericEncoder, type CoreTokenizer, type TextEncoderLike } from './tokenizers/encoder';

export { loadTokenizer, type LoadedTokenizer } from './tokenizers/load';
export type { Span } from './tokenizers/chat';

/** The parts of a transformers.js tokenizer this module uses. */
export type Tokenizer = Pick<PreTrainedTokenizer, 'encode' | 'apply_chat_template'> & {
  eos_token_id?: number | null;
  pad_token_id?: number | null;
  chat_template?: unknown;
};

export interface RenderOptions {
  /** Longest example in tokens (EOS included); longer ones are cut and counted as truncated. */
  maxLength: number;
  /** 'response' (default) trains only responses / assistant turns; 'all' trains every token. */
  trainOn?: 'response' | 'all';
  /**
   * How prompt/response pairs (alpaca, prompt/completion, text + label) are rendered: 'template' (default) uses
   * the documented templates of templates.ts; 'chat' turns them into a user/assistant exchange through the
   * tokenizer's chat template (for instruct models).
   */
  pairFormat?: 'template' | 'chat';
}

export interface Rendered {
  example: Example;
  /** Length before truncation (EOS included). */
  fullLength: number;
  truncated: boolean;
  /** Pre-tokens longer than 16 Ki characters that were cut before BPE (see tokenizers/encoder.ts). */
  longWordsSplit: number;
  /** With `view`: the rendered text and each kept token's character range in it (start = end for BOS/EOS the text does not hold). */
  view?: { text: string; starts?: Uint32Array; ends?: Uint32Array };
}

/** What this module derives once per tokenizer: the encoder, the chat renderer, EOS and the newline token. */
export interface PreparedTokenizer {
  tok: Tokenizer;
  encoder: TextEncoderLike;
  /** Encodes text pieces when offsets are unknown (the reference path). */
  generic: GenericEncoder;
  /** Undefined until a chat row needs it. */
  chat(): ChatRenderer | { reason: string };
  eos: number | undefined;
  newline: number;
}

const prepared = new WeakMap<object, PreparedTokenizer>();

/** The prepared form of a tokenizer (cached per tokenizer object). */
export function prepareTokenizer(tok: Tokenizer): PreparedTokenizer {
  let p = prepared.get(tok);
  if (p) return p;
  const t = tok as Tokenizer & { _tokenizer?: CoreTokenizer; _tokenizerJSON?: Record<string, unknown> };
  const core: Pick<CoreTokenizer, 'encode'> = t._tokenizer ?? {
    encode: (text, o) => ({ ids: tok.encode(text, { add_special_tokens: o?.add_special_tokens }) as number[], tokens: [] }),
  };
  const generic = new GenericEncoder(core);
  const fast = t._tokenizer && t._tokenizerJSON ? ByteLevelEncoder.tryCreate(t._tokenizer, t._tokenizerJSON) : undefined;
  let chat: ChatRenderer | { reason: string } | undefined;
  const nl = tok.encode('\n', { add_special_tokens: false }) as number[];
  p = {
    tok,
    encoder: fast ?? generic,
    generic,
    chat: () => (chat ??= ChatRenderer.create(tok as never)),
    eos: tok.eos_token_id ?? undefined,
    newline: nl.length === 1 ? nl[0] : -1,
  };
  prepared.set(tok, p);
  return p;
}

function hasChatTemplate(tok: Tokenizer): boolean {
  return !!(tok as { chat_template?: unknown }).chat_template;
}

function plainChat(tok: Tokenizer, where: DatasetErrorWhere): (messages: ChatMessage[], gen: boolean) => string {
  return (messages, gen) => {
    try {
      return tok.apply_chat_template(messages as unknown as { role: string; content: string }[], { tokenize: false, add_generation_prompt: gen }) as string;
    } catch (e) {
      // Templates refuse some conversations themselves (raise_exception), e.g. a system turn or roles that do not alternate.
      throw new DatasetError('template', `the model's chat template refused this conversation: ${(e as Error).message}`, where, 'fix the conversation, or choose another model');
    }
  };
}

/** A normalized example as text, with its trained character spans, and whether the tokenizer adds its specials. */
export interface RenderedText {
  text: string;
  /** Sorted, non-overlapping trained spans. */
  spans: Span[];
  addSpecialTokens: boolean;
}

function pairMessages(ex: Extract<Normalized, { kind: 'pair' }>): ChatMessage[] {
  return [
    ...(ex.system ? [{ role: 'system' as const, content: ex.system }] : []),
    { role: 'user', content: ex.instruction ?? ex.prompt },
    { role: 'assistant', content: ex.response },
  ];
}

/** Renders an example's text once and finds its trained spans (one template render for chat, prefix renders as the fallback). */
export function renderText(p: PreparedTokenizer, ex: Normalized, opts: Pick<RenderOptions, 'trainOn' | 'pairFormat'>, where: DatasetErrorWhere): RenderedText {
  const tok = p.tok;
  if (ex.kind === 'chat' || (ex.kind === 'pair' && opts.pairFormat === 'chat')) {
    if (!hasChatTemplate(tok)) {
      throw new DatasetError('template', 'the tokenizer has no chat_template, so chat rows cannot be rendered', where, "choose an instruct model, or use pairFormat: 'template'");
    }
    const messages = ex.kind === 'chat' ? ex.messages : pairMessages(ex);
    const trainFrom = ex.kind === 'chat' ? ex.trainFrom : 0;
    const plain = plainChat(tok, where);
    if (opts.trainOn === 'all') {
      const text = plain(messages, false);
      return { text, spans: [{ start: 0, end: text.length }], addSpecialTokens: false };
    }
    const renderer = p.chat();
    if (renderer instanceof ChatRenderer) {
      let r: ReturnType<ChatRenderer['render']>;
      try {
        r = renderer.render(messages);
      } catch (e) {
        plain(messages, false); // the template's own refusal, as a typed row error
        throw e;
      }
      if (!('reason' in r)) {
        const spans = renderer.assistantSpans(r, messages, trainFrom);
        if (!('reason' in spans)) return { text: r.text, spans, addSpecialTokens: false };
      }
    }
    const byPrefixes = chatSpansByPrefixes(messages, plain, trainFrom);
    if ('reason' in byPrefixes) throw new DatasetError('template', byPrefixes.reason, where, "train every token (trainOn: 'all'), or choose a model whose template extends conversations");
    return { text: byPrefixes.text, spans: byPrefixes.spans, addSpecialTokens: false };
  }
  if (ex.kind === 'pair') {
    const text = ex.prompt + ex.response;
    return { text, spans: [{ start: ex.prompt.length, end: text.length }], addSpecialTokens: true };
  }
  return { text: ex.text, spans: [{ start: 0, end: ex.text.length }], addSpecialTokens: true };
}

/** Whether a token covering [s, e) is trained; a token of no width (BOS/EOS added by the post-processor) is trained when it follows trained text. */
function makeTrainedTest(spans: Span[]): (s: number, e: number) => boolean {
  let j = 0;
  return (s, e) => {
    while (j < spans.length && (spans[j].end < s || (spans[j].end === s && s < e) || spans[j].start >= spans[j].end)) j++;
    for (let k = j; k < spans.length && spans[k].start <= e; k++) {
      const { start, end } = spans[k];
      if (start < end && (s < e ? start < e && end > s : start <= s && s <= end)) return true;
    }
    return false;
  };
}

/** Ids, loss mask and full length of a rendered text, before EOS and truncation. */
interface Tokens {
  ids: ArrayLike<number>;
  mask: Uint8Array;
  /** Tokens of the whole text (the ids may be cut to a limit). */
  total: number;
  tail: [number, number];
  longWordsSplit: number;
  starts?: Uint32Array;
  ends?: Uint32Array;
}

function tokenizeText(p: PreparedTokenizer, r: RenderedText, limit: number): Tokens {
  if (p.encoder.hasOffsets) {
    const e = p.encoder.encode(r.text, { addSpecialTokens: r.addSpecialTokens, limit, offsets: true });
    const trained = makeTrainedTest(r.spans);
    const mask = new Uint8Array(e.ids.length);
    for (let t = 0; t < e.ids.length; t++) mask[t] = trained(e.starts![t], e.ends![t]) ? 1 : 0;
    return { ids: e.ids, mask, total: e.total, tail: e.tail, longWordsSplit: e.longWordsSplit, starts: e.starts, ends: e.ends };
  }
  // No offsets: cut the text at the span boundaries and encode the pieces one by one (specials with the first).
  const cuts = [0];
  for (const s of r.spans) cuts.push(s.start, s.end);
  cuts.push(r.text.length);
  const ids: number[] = [];
  const maskList: number[] = [];
  let total = 0;
  let split = 0;
  let tail: [number, number] = [-1, -1];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [a, b] = [cuts[i], cuts[i + 1]];
    if (b <= a && !(i === 0 && r.addSpecialTokens)) continue;
    const e = p.generic.encode(r.text.slice(a, b), { addSpecialTokens: r.addSpecialTokens && i === 0, limit: Math.max(0, limit - ids.length) });
    const train = i % 2 === 1 ? 1 : 0;
    for (const id of e.ids) {
      ids.push(id);
      maskList.push(train);
    }
    if (e.total > 0) tail = e.total === 1 ? [tail[1], e.tail[1]] : e.tail;
    total += e.total;
    split += e.longWordsSplit;
  }
  return { ids, mask: Uint8Array.from(maskList), total, tail, longWordsSplit: split };
}

/** Renders one example: text once, tokens once, mask from spans, EOS, truncation. */
export function renderExample(tok: Tokenizer, ex: Normalized, opts: RenderOptions & { view?: boolean }, where: DatasetErrorWhere): Rendered {
  const p = prepareTokenizer(tok);
  const r = renderText(p, ex, opts, where);
  if (opts.trainOn === 'all') r.spans = [{ start: 0, end: r.text.length }];
  const t = tokenizeText(p, r, opts.maxLength);
  const eos = p.eos;
  // EOS ends every example unless the text already ends with EOS (optionally followed by a newline, as ChatML's <|im_end|>\n).
  let appendEos = false;
  if (eos !== undefined) {
    const [before, last] = t.tail;
    const closed = last === eos || (t.total >= 2 && before === eos && last === p.newline && p.newline >= 0);
    appendEos = !closed;
  }
  const fullLength = t.total + (appendEos ? 1 : 0);
  const L = Math.min(fullLength, opts.maxLength);
  const ids = new Int32Array(L);
  const lossMask = new Uint8Array(L);
  const kept = Math.min(t.ids.length, L);
  for (let i = 0; i < kept; i++) {
    ids[i] = t.ids[i];
    lossMask[i] = t.mask[i];
  }
  if (appendEos && kept < L) {
    ids[kept] = eos!;
    const lastSpan = r.spans[r.spans.length - 1];
    lossMask[kept] = lastSpan && lastSpan.end === r.text.length && lastSpan.end > lastSpan.start ? 1 : 0;
  }
  // Position 0 is never a target (nothing precedes it).
  let targets = 0;
  for (let i = 1; i < L; i++) targets += lossMask[i];
  if (targets === 0) {
    const firstTrained = t.mask.indexOf(1);
    throw new DatasetError(
      'no-target-tokens',
      fullLength > opts.maxLength
        ? `no response tokens left after truncation to ${opts.maxLength} tokens (the prompt alone is ${firstTrained < 0 ? `at least ${t.ids.length}` : firstTrained} tokens)`
        : 'the rendered example has no tokens to train on',
      where,
      fullLength > opts.maxLength ? 'raise the maximum length, or shorten the prompt' : 'give the row a response to learn',
    );
  }
  const out: Rendered = { example: { ids, lossMask }, fullLength, truncated: fullLength > opts.maxLength, longWordsSplit: t.longWordsSplit };
  if (opts.view) out.view = { text: r.text, starts: t.starts?.subarray(0, kept), ends: t.ends?.subarray(0, kept) };
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The reference path: the first version of this module, kept whole. Chat is rendered 2 × assistant turns + 1 times
// and each piece encoded on its own. renderExample must give the same ids and masks wherever the pieces' boundaries
// are token boundaries of the whole text (tests/unit/data/tokenize.test.ts), and is measured against it in bench/data.ts.

interface Piece {
  ids: number[];
  train: boolean;
}

function encodePiece(tok: Tokenizer, text: string, specials: boolean): number[] {
  return text ? (tok.encode(text, { add_special_tokens: specials }) as number[]) : [];
}

function chatText(tok: Tokenizer, messages: ChatMessage[], addGenerationPrompt: boolean, where: DatasetErrorWhere): string {
  return plainChat(tok, where)(messages, addGenerationPrompt);
}

/** The original chat masking: for each assistant turn, render the conversation before it (with the generation prompt) and through it. */
function chatPieces(tok: Tokenizer, messages: ChatMessage[], trainFrom: number, where: DatasetErrorWhere): Piece[] {
  const pieces: Piece[] = [];
  let done = '';
  for (let k = 0; k < messages.length; k++) {
    if (messages[k].role !== 'assistant') continue;
    const prompt = chatText(tok, messages.slice(0, k), true, where);
    const full = chatText(tok, messages.slice(0, k + 1), false, where);
    if (!prompt.startsWith(done) || !full.startsWith(prompt)) {
      throw new DatasetError(
        'template',
        `the chat template does not render assistant message ${k + 1} as an extension of the conversation before it, so turns cannot be masked (use trainOn: 'all')`,
        where,
      );
    }
    pieces.push({ ids: encodePiece(tok, prompt.slice(done.length), false), train: false });
    pieces.push({ ids: encodePiece(tok, full.slice(prompt.length), false), train: k >= trainFrom });
    done = full;
  }
  const all = chatText(tok, messages, false, where);
  if (!all.startsWith(done)) throw new DatasetError('template', 'the chat template renders the whole conversation differently from its turns', where);
  if (all.length > done.length) pieces.push({ ids: encodePiece(tok, all.slice(done.length), false), train: false });
  return pieces;
}

/** The reference renderer (2 × turns + 1 template renders, pieces encoded separately). */
export function renderExampleByPieces(tok: Tokenizer, ex: Normalized, opts: RenderOptions, where: DatasetErrorWhere): Rendered {
  const trainAll = opts.trainOn === 'all';
  let pieces: Piece[];
  if (ex.kind === 'chat' || (ex.kind === 'pair' && opts.pairFormat === 'chat')) {
    if (!hasChatTemplate(tok)) throw new DatasetError('template', 'the tokenizer has no chat_template, so chat rows cannot be rendered', where);
    const messages = ex.kind === 'chat' ? ex.messages : pairMessages(ex);
    pieces = trainAll
      ? [{ ids: encodePiece(tok, chatText(tok, messages, false, where), false), train: true }]
      : chatPieces(tok, messages, ex.kind === 'chat' ? ex.trainFrom : 0, where);
  } else if (ex.kind === 'pair') {
    pieces = [
      { ids: encodePiece(tok, ex.prompt, true), train: false },
      { ids: encodePiece(tok, ex.response, false), train: true },
    ];
  } else {
    pieces = [{ ids: encodePiece(tok, ex.text, true), train: true }];
  }
  const eos = tok.eos_token_id ?? undefined;
  const flat: number[] = [];
  const mask: number[] = [];
  for (const p of pieces)
    for (const id of p.ids) {
      flat.push(id);
      mask.push(trainAll || p.train ? 1 : 0);
    }
  if (eos !== undefined) {
    const last = flat[flat.length - 1];
    const nl = tok.encode('\n', { add_special_tokens: false }) as number[];
    const closed = last === eos || (flat.length >= 2 && flat[flat.length - 2] === eos && nl.length === 1 && last === nl[0]);
    if (!closed) {
      flat.push(eos);
      mask.push(trainAll || pieces[pieces.length - 1].train ? 1 : 0);
    }
  }
  const total = flat.length;
  const L = Math.min(total, opts.maxLength);
  const ids = Int32Array.from(flat.slice(0, L));
  const lossMask = Uint8Array.from(mask.slice(0, L));
  let targets = 0;
  for (let t = 1; t < L; t++) targets += lossMask[t];
  if (targets === 0) {
    const i = mask.indexOf(1);
    throw new DatasetError(
      'no-target-tokens',
      total > opts.maxLength ? `no response tokens left after truncation to ${opts.maxLength} tokens (the prompt alone is ${i < 0 ? mask.length : i} tokens)` : 'the rendered example has no tokens to train on',
      where,
    );
  }
  return { example: { ids, lossMask }, fullLength: total, truncated: total > opts.maxLength, longWordsSplit: 0 };
}
