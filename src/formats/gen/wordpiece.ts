/**
 * A small BERT-style (uncased) WordPiece tokenizer built deterministically from a corpus, saved as
 * Hugging Face saves bert-base-uncased's: tokenizer.json (BertNormalizer lowercasing, BertPreTokenizer,
 * WordPiece with "##" continuations, the TemplateProcessing post-processor `[CLS] A [SEP]` /
 * `[CLS] A [SEP] B [SEP]` with token types 0…0 1…1, WordPiece decoder), tokenizer_config.json
 * naming BertTokenizer (so transformers.js builds a BertTokenizer), special_tokens_map.json and vocab.txt.
 *
 * The vocabulary: the five specials, every character of the corpus and its "##" form (so any word
 * of those characters tokenizes without [UNK]), then the corpus's words by frequency (ties by
 * spelling), then frequent word endings as continuations.
 */

export const BERT_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

export interface WordPieceOptions {
  corpus: string;
  /** Total vocabulary size, specials included (default 1024). */
  vocabSize?: number;
  modelMaxLength?: number;
}

export interface GeneratedWordPiece {
  vocab: string[];
  files: Record<'tokenizer.json' | 'tokenizer_config.json' | 'special_tokens_map.json' | 'vocab.txt', string>;
}

/** Words as BertPreTokenizer splits them: runs of letters and digits, and each punctuation character alone. */
export function bertWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
}

export function generateWordPiece(options: WordPieceOptions): GeneratedWordPiece {
  const vocabSize = options.vocabSize ?? 1024;
  const words = bertWords(options.corpus);
  const vocab: string[] = [...BERT_SPECIAL_TOKENS];
  const seen = new Set<string>(vocab);
  const push = (t: string) => {
    if (!seen.has(t) && vocab.length < vocabSize) {
      seen.add(t);
      vocab.push(t);
    }
  };
  const chars = [...new Set(words.join(''))].sort();
  for (const c of chars) push(c);
  for (const c of chars) if (/[\p{L}\p{N}]/u.test(c)) push(`##${c}`);
  const freq = new Map<string, number>();
  for (const w of words) if (w.length > 1) freq.set(w, (freq.get(w) ?? 0) + 1);
  const byCount = (a: [string, number], b: [string, number]) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  for (const [w] of [...freq.entries()].sort(byCount)) push(w);
  const suffixes = new Map<string, number>();
  for (const [w, n] of freq) for (let k = 2; k <= 4 && k < w.length; k++) suffixes.set(w.slice(-k), (suffixes.get(w.slice(-k)) ?? 0) + n);
  for (const [s] of [...suffixes.entries()].sort(byCount)) push(`##${s}`);

  const id = (t: string) => vocab.indexOf(t);
  const added = (t: string) => ({ id: id(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: BERT_SPECIAL_TOKENS.map(added),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  };
  const tokenizerConfig = {
    added_tokens_decoder: Object.fromEntries(BERT_SPECIAL_TOKENS.map((t) => [String(id(t)), { content: t, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }])),
    clean_up_tokenization_spaces: true,
    cls_token: '[CLS]',
    do_lower_case: true,
    mask_token: '[MASK]',
    model_max_length: options.modelMaxLength ?? 512,
    pad_token: '[PAD]',
    sep_token: '[SEP]',
    strip_accents: null,
    tokenize_chinese_chars: true,
    tokenizer_class: 'BertTokenizer',
    unk_token: '[UNK]',
  };
  const specialTokensMap = { cls_token: '[CLS]', mask_token: '[MASK]', pad_token: '[PAD]', sep_token: '[SEP]', unk_token: '[UNK]' };
  return {
    vocab,
    files: {
      'tokenizer.json': JSON.stringify(tokenizerJson, null, 2) + '\n',
      'tokenizer_config.json': JSON.stringify(tokenizerConfig, null, 2) + '\n',
      'special_tokens_map.json': JSON.stringify(specialTokensMap, null, 2) + '\n',
      'vocab.txt': vocab.join('\n') + '\n',
    },
  };
}
