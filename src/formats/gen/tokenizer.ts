/**
 * A real, small byte-level BPE tokenizer trained deterministically on a built-in corpus, saved as
 * Hugging Face `tokenizers` saves a GPT-2-style tokenizer (tokenizer.json) plus a
 * tokenizer_config.json with a ChatML chat template like SmolLM2-Instruct's.
 *
 * Training is plain BPE: pre-tokenize with the GPT-2 regex that the ByteLevel pre-tokenizer uses,
 * map bytes to the printable GPT-2 alphabet, then repeatedly merge the most frequent adjacent pair
 * (ties broken by the pair's text, so the result never depends on Map iteration order).
 */
import { DEMO_CORPUS } from './corpus';

/** The pattern of the ByteLevel pre-tokenizer (GPT-2), as @huggingface/tokenizers applies it. */
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's byte → printable character table. */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return table;
}

export interface TokenizerOptions {
  /** Total vocabulary size, special tokens included (default 512). */
  vocabSize?: number;
  corpus?: string;
  /** Special tokens, in id order from 0 (default: <|endoftext|>, <|im_start|>, <|im_end|>). */
  specialTokens?: string[];
  modelMaxLength?: number;
}

export interface GeneratedTokenizer {
  vocab: Map<string, number>;
  merges: [string, string][];
  specialTokens: string[];
  files: { 'tokenizer.json': string; 'tokenizer_config.json': string; 'special_tokens_map.json': string };
}

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Learns merges until they have produced `newTokens` distinct new tokens (or no pair repeats). */
export function trainByteLevelBpe(corpus: string, newTokens: number): [string, string][] {
  const table = bytesToUnicode();
  const enc = new TextEncoder();
  const counts = new Map<string, number>();
  for (const piece of corpus.match(GPT2_PATTERN) ?? []) {
    const mapped = Array.from(enc.encode(piece), (b) => table[b]).join('');
    counts.set(mapped, (counts.get(mapped) ?? 0) + 1);
  }
  const words = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([w, c]) => ({ symbols: Array.from(w), count: c }));
  const merges: [string, string][] = [];
  const produced = new Set<string>(table);
  let fresh = 0;
  while (fresh < newTokens) {
    const pairCounts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.symbols.length; i++) {
        const key = w.symbols[i] + '\u0000' + w.symbols[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + w.count);
      }
    }
    let best: string | null = null;
    let bestCount = 1; // a pair seen once is not worth a token
    for (const [key, c] of pairCounts) {
      if (c > bestCount || (c === bestCount && best !== null && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (best === null) break;
    const [a, b] = best.split('\u0000') as [string, string];
    merges.push([a, b]);
    const merged = a + b;
    if (!produced.has(merged)) {
      produced.add(merged);
      fresh++;
    }
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.symbols.length; i++) {
        if (i + 1 < w.symbols.length && w.symbols[i] === a && w.symbols[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(w.symbols[i]);
      }
      w.symbols = out;
    }
  }
  return merges;
}

function addedToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export function generateTokenizer(options: TokenizerOptions = {}): GeneratedTokenizer {
  const specialTokens = options.specialTokens ?? ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const vocabSize = options.vocabSize ?? 512;
  const base = specialTokens.length + 256;
  if (vocabSize < base) throw new RangeError(`vocabSize ${vocabSize} is below ${base} (special tokens + 256 bytes)`);
  const merges = trainByteLevelBpe(options.corpus ?? DEMO_CORPUS, vocabSize - base);
  const vocab = new Map<string, number>();
  specialTokens.forEach((t, i) => vocab.set(t, i));
  for (const ch of bytesToUnicode()) vocab.set(ch, vocab.size);
  for (const [a, b] of merges) {
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
  }
  if (vocab.size !== vocabSize) {
    throw new RangeError(`the corpus yields only ${vocab.size} tokens; vocabSize ${vocabSize} needs more text`);
  }

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((t, i) => addedToken(i, t)),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  const [eos, bos, imEnd] = [specialTokens[0], specialTokens[1] ?? specialTokens[0], specialTokens[2] ?? specialTokens[0]];
  const tokenizerConfig = {
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(specialTokens.map((t, i) => [String(i), { ...addedToken(i, t), id: undefined }])),
    additional_special_tokens: specialTokens.slice(1),
    bos_token: bos,
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: imEnd,
    model_max_length: options.modelMaxLength ?? 2048,
    pad_token: imEnd,
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: eos,
    vocab_size: vocabSize,
  };
  const specialMap = {
    additional_special_tokens: specialTokens.slice(1),
    bos_token: bos,
    eos_token: imEnd,
    pad_token: imEnd,
    unk_token: eos,
  };
  return {
    vocab,
    merges,
    specialTokens,
    files: {
      'tokenizer.json': JSON.stringify(tokenizerJson, null, 2) + '\n',
      'tokenizer_config.json': JSON.stringify(tokenizerConfig, null, 2) + '\n',
      'special_tokens_map.json': JSON.stringify(specialMap, null, 2) + '\n',
    },
  };
}
