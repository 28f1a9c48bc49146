/**
 * A Hugging Face byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json) as GGUF
 * metadata, the way convert_hf_to_gguf.py's _set_vocab_gpt2 and gguf-py's SpecialVocab write it:
 *
 *   tokenizer.ggml.model = "gpt2", tokenizer.ggml.pre = the pre-tokenizer's llama.cpp name,
 *   tokenizer.ggml.tokens (ids 0..vocab_size-1, byte-level strings as in tokenizer.json; ids the
 *   tokenizer lacks become "[PAD{id}]"), tokenizer.ggml.token_type (1 normal, 3 control for special
 *   added tokens or ones that look special such as "<|…|>", 4 user-defined for other added tokens,
 *   5 unused for padding), tokenizer.ggml.merges ("a b"), the special token ids, add_bos/add_eos
 *   and tokenizer.chat_template.
 *
 * The converter recognizes the pre-tokenizer by hashing how it tokenizes a test text; a fine-tuned
 * model keeps its base's tokenizer, so here the pre-tokenizer is recognized by its definition in
 * tokenizer.json (the GPT-2 regex, SmolLM's digits split, Qwen2's and Llama 3's regexes).
 */
import type { ModelSpec } from '../../hfConfig';
import { ExportError } from '../types';
import { kv, type GgufValue } from './format';

export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

type Json = Record<string, unknown>;

function isObj(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** llama.cpp's name (tokenizer.ggml.pre) for the pre-tokenizer of a tokenizer.json. */
export function ggufPreTokenizer(tokenizer: Json): string {
  const pre = tokenizer.pre_tokenizer;
  const describe = JSON.stringify(pre)?.slice(0, 300);
  const fail = (): never => {
    throw new ExportError(
      `tokenizer.json: pre-tokenizer ${describe} is not one llama.cpp names that this exporter recognizes (GPT-2 byte-level → "gpt-2", SmolLM → "smollm", Qwen2 → "qwen2", Llama 3 → "llama-bpe")`,
    );
  };
  if (!isObj(pre)) return fail();
  const byteLevel = (p: unknown, regex: boolean) => isObj(p) && p.type === 'ByteLevel' && (p.use_regex !== false) === regex;
  if (byteLevel(pre, true)) return 'gpt-2';
  if (pre.type !== 'Sequence' || !Array.isArray(pre.pretokenizers)) return fail();
  const seq = pre.pretokenizers as unknown[];
  if (seq.length === 2 && isObj(seq[0]) && seq[0].type === 'Digits' && seq[0].individual_digits === true && byteLevel(seq[1], true)) return 'smollm';
  if (seq.length === 2 && isObj(seq[0]) && seq[0].type === 'Split' && byteLevel(seq[1], false)) {
    const pattern = isObj(seq[0].pattern) ? seq[0].pattern.Regex : undefined;
    if (pattern === QWEN2_REGEX) return 'qwen2';
    if (pattern === LLAMA3_REGEX) return 'llama-bpe';
  }
  return fail();
}

/** convert_hf_to_gguf's does_token_look_special. */
export function looksSpecial(token: string): boolean {
  return (
    ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(token) ||
    (token.startsWith('<|') && token.endsWith('|>')) ||
    (token.startsWith('<｜') && token.endsWith('｜>')) ||
    (token.startsWith('<unused') && token.endsWith('>'))
  );
}

function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v.content === 'string') return v.content;
  return null;
}

export interface TokenizerMetadata {
  metadata: Map<string, GgufValue>;
  tokens: string[];
  /** Special token ids by kind (bos, eos, unk, sep, pad, cls, mask). */
  special: Partial<Record<'bos' | 'eos' | 'unk' | 'sep' | 'pad' | 'cls' | 'mask', number>>;
  chatTemplate: string | null;
}

/** The chat template: tokenizer_config.json's chat_template, or a chat_template.jinja file. */
export function chatTemplateOf(tokenizerConfig: Json, textFiles?: Map<string, string>): string | null {
  const t = tokenizerConfig.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const def = t.find((x) => isObj(x) && x.name === 'default');
    if (isObj(def) && typeof def.template === 'string') return def.template;
  }
  return textFiles?.get('chat_template.jinja') ?? null;
}

/** GGUF tokenizer metadata for a model's tokenizer files. */
export function tokenizerMetadata(spec: ModelSpec, textFiles: Map<string, string>): TokenizerMetadata {
  const tokText = textFiles.get('tokenizer.json');
  if (!tokText) throw new ExportError('tokenizer.json is required for a GGUF model (llama.cpp keeps the tokenizer inside the file)');
  const tokenizer = JSON.parse(tokText) as Json;
  const config = JSON.parse(textFiles.get('tokenizer_config.json') ?? '{}') as Json;
  const model = tokenizer.model;
  if (!isObj(model) || model.type !== 'BPE' || !isObj(model.vocab)) {
    throw new ExportError(`tokenizer.json: model type ${JSON.stringify(isObj(model) ? model.type : model)} is not a byte-level BPE (only BPE tokenizers are exported to GGUF)`);
  }
  const pre = ggufPreTokenizer(tokenizer);

  const byId = new Map<number, string>();
  for (const [tok, id] of Object.entries(model.vocab as Record<string, number>)) byId.set(id, tok);
  const added = new Map<number, { content: string; special: boolean }>();
  for (const a of (tokenizer.added_tokens as Json[] | undefined) ?? []) {
    if (typeof a.id === 'number' && typeof a.content === 'string') {
      added.set(a.id, { content: a.content, special: a.special === true });
      byId.set(a.id, a.content);
    }
  }
  let maxId = -1;
  for (const id of byId.keys()) if (id > maxId) maxId = id; // no spread: vocabularies reach 150k ids
  if (maxId >= spec.vocabSize) throw new ExportError(`tokenizer has token id ${maxId} but the model's vocab_size is ${spec.vocabSize}`);

  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < spec.vocabSize; i++) {
    const t = byId.get(i);
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(TOKEN_TYPE.UNUSED);
      continue;
    }
    const a = added.get(i);
    if (a) types.push(a.special || looksSpecial(t) ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED);
    else types.push(TOKEN_TYPE.NORMAL);
    tokens.push(t);
  }
  const merges = ((model.merges as unknown[]) ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));

  const idOf = (text: string | null): number | undefined => {
    if (text === null) return undefined;
    for (const [id, a] of added) if (a.content === text) return id;
    const v = (model.vocab as Record<string, number>)[text];
    return typeof v === 'number' ? v : undefined;
  };
  const special: TokenizerMetadata['special'] = {};
  for (const kind of ['bos', 'eos', 'unk', 'sep', 'pad', 'cls', 'mask'] as const) {
    const id = idOf(tokenText(config[`${kind}_token`]));
    if (id !== undefined) special[kind] = id;
  }
  // SpecialVocab falls back on config.json's ids.
  if (special.bos === undefined && spec.bosTokenId !== null) special.bos = spec.bosTokenId;
  if (special.eos === undefined && spec.eosTokenIds.length) special.eos = spec.eosTokenIds[0];
  if (special.pad === undefined && spec.padTokenId !== null) special.pad = spec.padTokenId;

  // add_bos: tokenizer_config's flag, else whether the post-processor template starts with BOS.
  // A byte-level post-processor adds nothing, so HF adds no BOS: say so explicitly rather than
  // leave llama.cpp's per-vocab default in charge.
  let addBos: boolean | null = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : null;
  const addEos: boolean | null = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : null;
  if (addBos === null) {
    const post = tokenizer.post_processor;
    const single = isObj(post) && post.type === 'TemplateProcessing' && Array.isArray(post.single) ? (post.single as Json[]) : null;
    const first = single?.[0];
    addBos = !!(first && isObj(first.SpecialToken) && special.bos !== undefined && idOf(String(first.SpecialToken.id)) === special.bos);
  }

  const chatTemplate = chatTemplateOf(config, textFiles);
  const metadata = new Map<string, GgufValue>();
  metadata.set('tokenizer.ggml.model', kv.str('gpt2'));
  metadata.set('tokenizer.ggml.pre', kv.str(pre));
  metadata.set('tokenizer.ggml.tokens', kv.strings(tokens));
  metadata.set('tokenizer.ggml.token_type', kv.i32s(types));
  metadata.set('tokenizer.ggml.merges', kv.strings(merges));
  const keyOf = { bos: 'bos_token_id', eos: 'eos_token_id', unk: 'unknown_token_id', sep: 'seperator_token_id', pad: 'padding_token_id', cls: 'cls_token_id', mask: 'mask_token_id' } as const;
  for (const [kind, key] of Object.entries(keyOf) as [keyof typeof keyOf, string][]) {
    const id = special[kind];
    if (id !== undefined) metadata.set(`tokenizer.ggml.${key}`, kv.u32(id));
  }
  metadata.set('tokenizer.ggml.add_bos_token', kv.bool(addBos));
  if (addEos !== null) metadata.set('tokenizer.ggml.add_eos_token', kv.bool(addEos));
  if (chatTemplate !== null) metadata.set('tokenizer.chat_template', kv.str(chatTemplate));
  return { metadata, tokens, special, chatTemplate };
}
