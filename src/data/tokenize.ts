/**
 * Rendering normalized examples to token ids with the base model's own tokenizer (@huggingface/transformers):
 * chat through the tokenizer's chat template, pairs through their default template (templates.ts), a loss mask
 * that trains only responses by default, EOS appended, truncation to a maximum length.
 */
import { AutoTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import type { Example } from './batches';
import { DatasetError, type DatasetErrorWhere } from './errors';
import type { ChatMessage, Normalized } from './normalize';

/** The parts of a transformers.js tokenizer this module uses. */
export type Tokenizer = Pick<PreTrainedTokenizer, 'encode' | 'apply_chat_template'> & {
  eos_token_id?: number | null;
  pad_token_id?: number | null;
  chat_template?: unknown;
};

/**
 * Loads a tokenizer offline from a model folder: a filesystem path in Node ("public/models/demo") or a URL in a
 * worker ("https://host/models/demo" or "/models/demo" resolved against `baseUrl`). Nothing is fetched from the hub.
 */
export async function loadTokenizer(location: string, baseUrl?: string): Promise<PreTrainedTokenizer> {
  let where = location.replace(/\/+$/, '');
  if (baseUrl && !/^[a-z]+:\/\//i.test(where)) where = new URL(where, baseUrl).href;
  const slash = where.lastIndexOf('/');
  const parent = slash >= 0 ? where.slice(0, slash + 1) : './';
  const id = slash >= 0 ? where.slice(slash + 1) : where;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = parent;
  env.useBrowserCache = false;
  env.useFSCache = false;
  try {
    return await AutoTokenizer.from_pretrained(id, { local_files_only: true });
  } catch (e) {
    throw new DatasetError('template', `cannot load the tokenizer from ${where} (tokenizer.json and tokenizer_config.json expected): ${(e as Error).message}`, {
      file: `${where}/tokenizer.json`,
    });
  }
}

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
  /** Length before truncation. */
  fullLength: number;
  truncated: boolean;
}

interface Piece {
  ids: number[];
  train: boolean;
}

function encode(tok: Tokenizer, text: string, specials: boolean): number[] {
  return text ? (tok.encode(text, { add_special_tokens: specials }) as number[]) : [];
}

function chatText(tok: Tokenizer, messages: ChatMessage[], addGenerationPrompt: boolean, where: DatasetErrorWhere): string {
  try {
    return tok.apply_chat_template(messages as unknown as { role: string; content: string }[], {
      tokenize: false,
      add_generation_prompt: addGenerationPrompt,
    }) as string;
  } catch (e) {
    // Templates refuse some conversations themselves (raise_exception), e.g. a system turn or roles that do not alternate.
    throw new DatasetError('template', `the model's chat template refused this conversation: ${(e as Error).message}`, where);
  }
}

/**
 * A conversation as pieces: for each assistant turn k the text is split at the generation prompt, so the
 * assistant's own tokens (and the template's end-of-turn marker) are the trained part. Requires the template to
 * render a conversation's prefix as a prefix of its text, which every common template (ChatML, Llama 3, Gemma) does.
 */
function chatPieces(tok: Tokenizer, messages: ChatMessage[], trainFrom: number, where: DatasetErrorWhere): Piece[] {
  const pieces: Piece[] = [];
  let done = ''; // text rendered so far
  // Only assistant turns need boundaries: 2 renders per assistant turn and 1 for the whole conversation.
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
    pieces.push({ ids: encode(tok, prompt.slice(done.length), false), train: false });
    pieces.push({ ids: encode(tok, full.slice(prompt.length), false), train: k >= trainFrom });
    done = full;
  }
  const all = chatText(tok, messages, false, where);
  if (!all.startsWith(done)) throw new DatasetError('template', 'the chat template renders the whole conversation differently from its turns', where);
  if (all.length > done.length) pieces.push({ ids: encode(tok, all.slice(done.length), false), train: false });
  return pieces;
}

function hasChatTemplate(tok: Tokenizer): boolean {
  return !!(tok as { chat_template?: unknown }).chat_template;
}

export function renderExample(tok: Tokenizer, ex: Normalized, opts: RenderOptions, where: DatasetErrorWhere): Rendered {
  const trainAll = opts.trainOn === 'all';
  let pieces: Piece[];
  if (ex.kind === 'chat' || (ex.kind === 'pair' && opts.pairFormat === 'chat')) {
    if (!hasChatTemplate(tok)) throw new DatasetError('template', 'the tokenizer has no chat_template, so chat rows cannot be rendered', where);
    const messages: ChatMessage[] =
      ex.kind === 'chat'
        ? ex.messages
        : [...(ex.system ? [{ role: 'system' as const, content: ex.system }] : []), { role: 'user', content: ex.instruction ?? ex.prompt }, { role: 'assistant', content: ex.response }];
    pieces = trainAll
      ? [{ ids: encode(tok, chatText(tok, messages, false, where), false), train: true }] // no turn boundaries needed
      : chatPieces(tok, messages, ex.kind === 'chat' ? ex.trainFrom : 0, where);
  } else if (ex.kind === 'pair') {
    pieces = [
      { ids: encode(tok, ex.prompt, true), train: false },
      { ids: encode(tok, ex.response, false), train: true },
    ];
  } else {
    pieces = [{ ids: encode(tok, ex.text, true), train: true }];
  }

  let total = 0;
  for (const p of pieces) total += p.ids.length;
  const eos = tok.eos_token_id ?? undefined;
  // EOS ends every example unless the template already closed it with EOS (optionally followed by a newline).
  const flat: number[] = [];
  const mask: number[] = [];
  for (const p of pieces)
    for (const id of p.ids) {
      flat.push(id);
      mask.push(trainAll || p.train ? 1 : 0);
    }
  if (eos !== undefined) {
    const last = flat[flat.length - 1];
    const closed = last === eos || (flat.length >= 2 && flat[flat.length - 2] === eos && isNewlineToken(tok, last));
    if (!closed) {
      flat.push(eos);
      mask.push(trainAll || pieces[pieces.length - 1].train ? 1 : 0);
    }
  }
  total = flat.length;
  const L = Math.min(total, opts.maxLength);
  const ids = Int32Array.from(flat.slice(0, L));
  const lossMask = Uint8Array.from(mask.slice(0, L));
  // Position 0 is never a target (nothing precedes it).
  let targets = 0;
  for (let t = 1; t < L; t++) targets += lossMask[t];
  if (targets === 0) {
    throw new DatasetError(
      'no-target-tokens',
      total > opts.maxLength
        ? `no response tokens left after truncation to ${opts.maxLength} tokens (the prompt alone is ${countPrompt(mask)} tokens)`
        : 'the rendered example has no tokens to train on',
      where,
    );
  }
  return { example: { ids, lossMask }, fullLength: total, truncated: total > opts.maxLength };
}

function countPrompt(mask: number[]): number {
  const i = mask.indexOf(1);
  return i < 0 ? mask.length : i;
}

const newlineCache = new WeakMap<object, number>();
function isNewlineToken(tok: Tokenizer, id: number): boolean {
  let nl = newlineCache.get(tok);
  if (nl === undefined) {
    const ids = tok.encode('\n', { add_special_tokens: false }) as number[];
    nl = ids.length === 1 ? ids[0] : -1;
    newlineCache.set(tok, nl);
  }
  return id === nl;
}
