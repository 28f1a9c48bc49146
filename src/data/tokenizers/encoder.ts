/**
 * Encoding text once, with the character range of every token: what masking (which characters are trained →
 * which tokens) and the "what the model sees" view need, and what tokenizers.js does not return.
 *
 * Two encoders behind one interface:
 *
 * - `ByteLevelEncoder`, for byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen 2/3: every decoder in DESIGN.md §3). It
 *   walks tokenizers.js's own pipeline (the same added-token splitter, normalizer, pre-tokenizer regex, BPE model and
 *   post-processor objects), with two changes: a cache from a raw pre-token to its ids (a word met before costs one
 *   Map lookup instead of a byte mapping and a BPE run), and offsets (each pre-token's position is known, and a
 *   byte-level token covers exactly as many bytes as its vocabulary string has characters). It checks itself against
 *   `Tokenizer.encode` on a probe text when built and is not used when they differ.
 * - `GenericEncoder`, for any other tokenizer: `Tokenizer.encode`, without offsets (callers that need them fall back).
 *
 * Memory is bounded for any text: pre-tokens are produced one at a time, and a pre-token longer than
 * `MAX_PIECE_CHARS` (a 16 Ki-character "word": base64, a run of one letter) is cut into pieces of that size before
 * BPE. tokenizers.js would run BPE over the whole word, which takes ~250 bytes of heap per character (a 10 MB word
 * needed 2.3 GB); the cut changes at most a token or two at each cut, and each cut is counted (`longWordsSplit`).
 *
 * Letters: N tokens of one text.
 */

/** The parts of a tokenizers.js `Tokenizer` (transformers.js keeps one as `tokenizer._tokenizer`) used here. */
export interface CoreTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean; text_pair?: string | null; return_token_type_ids?: boolean | null }): {
    ids: number[];
    tokens: string[];
    token_type_ids?: number[];
  };
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  normalizer: ((text: string) => string) | null;
  pre_tokenizer: unknown;
  post_processor: ((tokens: string[], pair: string[] | null, addSpecial: boolean) => { tokens: string[]; token_type_ids?: number[] }) | null;
  model: {
    vocab: string[];
    tokens_to_ids: Map<string, number>;
    unk_token_id?: number;
    fuse_unk?: boolean;
    (tokens: string[]): string[];
  };
  added_tokens_map: Map<string, { id: number; content: string; lstrip: boolean; rstrip: boolean }>;
  added_tokens?: { content: string; normalized: boolean }[];
  splitter_unnormalized: { split(text: string): string[] };
  splitter_normalized: { split(text: string): string[] };
  remove_space?: boolean;
  do_lowercase_and_remove_accent?: boolean;
  config: Record<string, unknown>;
}

/** Tokens of one text. Offsets are UTF-16 indices into the encoded text; a token added by the post-processor (BOS) has start = end. */
export interface Encoded {
  /** [N] the first `limit` ids (all of them without a limit). */
  ids: Int32Array;
  /** [N] character offsets of each kept token, when the encoder knows them. */
  starts?: Uint32Array;
  ends?: Uint32Array;
  /** Tokens of the whole text (≥ ids.length when a limit cut it). */
  total: number;
  /** The last two ids of the whole text ([second to last, last]; -1 where there are fewer), kept past any limit. */
  tail: [number, number];
  /** Pre-tokens longer than MAX_PIECE_CHARS that were cut before BPE. */
  longWordsSplit: number;
}

export interface EncodeOptions {
  /** Add the post-processor's special tokens (BOS/EOS, [CLS]/[SEP]). */
  addSpecialTokens: boolean;
  /** Keep only the first `limit` ids and offsets; the rest are only counted. */
  limit?: number;
  /** Compute offsets (ByteLevelEncoder only). */
  offsets?: boolean;
}

export interface TextEncoderLike {
  readonly kind: 'byte-level' | 'generic';
  readonly hasOffsets: boolean;
  encode(text: string, opts: EncodeOptions): Encoded;
}

/** Longest pre-token given to BPE in one piece. */
export const MAX_PIECE_CHARS = 16 * 1024;
/** Longest text encoded in one `Tokenizer.encode` call by the generic encoder (it is cut at spaces). */
export const GENERIC_CHUNK_CHARS = 64 * 1024;
/** Pre-tokens up to this length are cached (tokenizers.js caches BPE results of words under 256 characters too). */
const MAX_CACHED_PIECE = 256;
const MAX_CACHE_ENTRIES = 200_000;

/** A growable list of ids and offsets that stops storing at `limit` and keeps counting. */
class Sink {
  ids: Int32Array;
  starts: Uint32Array | undefined;
  ends: Uint32Array | undefined;
  n = 0;
  longWordsSplit = 0;
  last = -1;
  beforeLast = -1;
  constructor(
    readonly limit: number,
    readonly offsets: boolean,
  ) {
    const cap = Math.min(limit, 1024);
    this.ids = new Int32Array(cap);
    this.starts = offsets ? new Uint32Array(cap) : undefined;
    this.ends = offsets ? new Uint32Array(cap) : undefined;
  }
  private grow(): void {
    const cap = Math.min(this.limit, this.ids.length * 2);
    const ids = new Int32Array(cap);
    ids.set(this.ids);
    this.ids = ids;
    if (this.starts && this.ends) {
      const s = new Uint32Array(cap);
      s.set(this.starts);
      this.starts = s;
      const e = new Uint32Array(cap);
      e.set(this.ends);
      this.ends = e;
    }
  }
  push(id: number, start: number, end: number): void {
    this.beforeLast = this.last;
    this.last = id;
    const i = this.n++;
    if (i >= this.limit) return;
    if (i >= this.ids.length) this.grow();
    this.ids[i] = id;
    if (this.starts) {
      this.starts[i] = start;
      this.ends![i] = end;
    }
  }
  result(): Encoded {
    const kept = Math.min(this.n, this.limit);
    return {
      ids: this.ids.subarray(0, kept),
      starts: this.starts?.subarray(0, kept),
      ends: this.ends?.subarray(0, kept),
      total: this.n,
      tail: [this.beforeLast, this.last],
      longWordsSplit: this.longWordsSplit,
    };
  }
}

/** Where to cut a long text for the generic encoder: the last space before a non-space within the window, else the window's end (not inside a surrogate pair). */
function cutPoint(text: string, from: number, max: number): { at: number; forced: boolean } {
  const end = from + max;
  if (end >= text.length) return { at: text.length, forced: false };
  for (let i = end; i > from + (max >> 1); i--) {
    if (text.charCodeAt(i) === 32 && text.charCodeAt(i - 1) !== 32) return { at: i, forced: false };
  }
  const c = text.charCodeAt(end - 1);
  return { at: c >= 0xd800 && c <= 0xdbff ? end - 1 : end, forced: true };
}

/** `Tokenizer.encode` for any tokenizer: no offsets; long texts cut at spaces so memory stays bounded. */
export class GenericEncoder implements TextEncoderLike {
  readonly kind = 'generic' as const;
  readonly hasOffsets = false;
  constructor(private readonly core: Pick<CoreTokenizer, 'encode'>) {}

  encode(text: string, opts: EncodeOptions): Encoded {
    const sink = new Sink(opts.limit ?? Number.MAX_SAFE_INTEGER, false);
    if (text.length <= GENERIC_CHUNK_CHARS) {
      for (const id of this.core.encode(text, { add_special_tokens: opts.addSpecialTokens }).ids) sink.push(id, 0, 0);
      return sink.result();
    }
    // NOTE: special tokens of the post-processor are added around the whole text, not around each chunk.
    const prefixSuffix = opts.addSpecialTokens ? specialsAround(this.core) : { prefix: [], suffix: [] };
    for (const id of prefixSuffix.prefix) sink.push(id, 0, 0);
    for (let pos = 0; pos < text.length; ) {
      const cut = cutPoint(text, pos, GENERIC_CHUNK_CHARS);
      if (cut.forced) sink.longWordsSplit++;
      for (const id of this.core.encode(text.slice(pos, cut.at), { add_special_tokens: false }).ids) sink.push(id, 0, 0);
      pos = cut.at;
    }
    for (const id of prefixSuffix.suffix) sink.push(id, 0, 0);
    return sink.result();
  }
}

/** The ids the post-processor puts before and after a single sequence (found by running it on a placeholder token). */
export function specialsAround(core: Pick<CoreTokenizer, 'encode'> & Partial<Pick<CoreTokenizer, 'post_processor' | 'token_to_id'>>): { prefix: number[]; suffix: number[] } {
  const pp = core.post_processor;
  if (!pp || !core.token_to_id) {
    // Without access to the post-processor: the difference between encoding with and without specials around a letter.
    const withSpecials = core.encode('a', { add_special_tokens: true }).ids;
    const bare = core.encode('a', { add_special_tokens: false }).ids;
    const at = indexOfRun(withSpecials, bare);
    return at < 0 ? { prefix: [], suffix: [] } : { prefix: withSpecials.slice(0, at), suffix: withSpecials.slice(at + bare.length) };
  }
  const PLACEHOLDER = '\uE000placeholder\uE000';
  const out = pp([PLACEHOLDER], null, true).tokens;
  const at = out.indexOf(PLACEHOLDER);
  const toId = (t: string) => core.token_to_id!(t) ?? -1;
  return { prefix: out.slice(0, at).map(toId), suffix: out.slice(at + 1).map(toId) };
}

function indexOfRun(hay: number[], needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** GPT-2's byte → printable character table (the one tokenizers.js's ByteLevel pre-tokenizer uses). */
function byteToChar(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) table[b] = keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  return table;
}
const BYTE_CHARS = byteToChar();

interface PreTokenizerPlan {
  /** The pre-token regex (a private copy of tokenizers.js's compiled one). */
  pattern: RegExp;
  /** 'match': pieces are the matches (ByteLevel with use_regex, Split with invert); 'isolate': matches and the text between them (Split). */
  mode: 'match' | 'isolate';
}

/** Recognizes the pre-tokenizer shapes of byte-level BPE tokenizers; anything else → undefined (generic encoder). */
function planPreTokenizer(config: unknown, compiled: unknown): PreTokenizerPlan | undefined {
  const c = config as { type?: string; use_regex?: boolean; add_prefix_space?: boolean; pretokenizers?: unknown[]; invert?: boolean; behavior?: string } | null;
  if (!c) return undefined;
  const obj = compiled as { pattern?: RegExp; tokenizers?: { pattern?: RegExp }[] } | null;
  if (c.type === 'ByteLevel') {
    if (c.add_prefix_space || c.use_regex === false || !(obj?.pattern instanceof RegExp)) return undefined;
    return { pattern: new RegExp(obj.pattern.source, obj.pattern.flags), mode: 'match' };
  }
  if (c.type === 'Sequence' && Array.isArray(c.pretokenizers) && c.pretokenizers.length === 2) {
    const [split, bl] = c.pretokenizers as { type?: string; use_regex?: boolean; add_prefix_space?: boolean; invert?: boolean; behavior?: string }[];
    const p = obj?.tokenizers?.[0]?.pattern;
    if (split?.type !== 'Split' || bl?.type !== 'ByteLevel' || bl.use_regex !== false || bl.add_prefix_space || !(p instanceof RegExp)) return undefined;
    if (split.behavior?.toLowerCase() === 'removed' && !split.invert) return undefined;
    return { pattern: new RegExp(p.source, p.flags.includes('g') ? p.flags : p.flags + 'g'), mode: split.invert ? 'match' : 'isolate' };
  }
  return undefined;
}

/** A probe that exercises every branch: words, numbers, punctuation runs, whitespace runs, newlines, non-Latin text, emoji, a long word. */
export const ENCODER_PROBE =
  "Hello, world!  It's 2026: 12345 apples\n\n\tcost $3.50 (each)...  ok?\r\nnaïve café — 東京 😀👍🏽 x\u00a0y  \n  end" +
  ' supercalifragilisticexpialidocious'.repeat(3) +
  ' ' +
  'z'.repeat(300);

/**
 * Byte-level BPE through tokenizers.js's own objects, with a pre-token cache and offsets. Build with
 * `ByteLevelEncoder.tryCreate`, which returns undefined for other tokenizers or when the self-check fails.
 */
export class ByteLevelEncoder implements TextEncoderLike {
  readonly kind = 'byte-level' as const;
  readonly hasOffsets = true;
  private readonly cache = new Map<string, Int32Array>();
  private readonly prefix: number[];
  private readonly suffix: number[];
  private readonly encoder = new TextEncoder();
  /** Bytes covered by each vocabulary token (its byte-level string's length), -1 where unknown. */
  private readonly bytesOf: Int32Array;

  private readonly splitUnnormalized: (text: string) => string[];
  private readonly splitNormalized: (text: string) => string[];

  private constructor(
    private readonly core: CoreTokenizer,
    private readonly plan: PreTokenizerPlan,
  ) {
    // The added-token splitters as one regex each (tokenizers.js walks a trie character by character).
    const unnormalized: string[] = [];
    const normalized: string[] = [];
    for (const t of core.added_tokens ?? []) {
      if (t.normalized && core.normalizer) normalized.push(core.normalizer(t.content));
      else unnormalized.push(t.content);
    }
    this.splitUnnormalized = core.added_tokens ? regexSplitter(unnormalized) : (t) => core.splitter_unnormalized.split(t);
    this.splitNormalized = core.added_tokens ? regexSplitter(normalized) : (t) => core.splitter_normalized.split(t);
    const s = specialsAround(core);
    this.prefix = s.prefix;
    this.suffix = s.suffix;
    const vocab = core.model.vocab;
    this.bytesOf = new Int32Array(vocab.length);
    for (let i = 0; i < vocab.length; i++) this.bytesOf[i] = typeof vocab[i] === 'string' ? vocab[i].length : -1;
  }

  static tryCreate(core: CoreTokenizer, tokenizerJson: Record<string, unknown>): ByteLevelEncoder | undefined {
    const model = tokenizerJson.model as { type?: string; byte_fallback?: boolean; continuing_subword_prefix?: unknown; end_of_word_suffix?: unknown } | undefined;
    const normalizer = tokenizerJson.normalizer as { type?: string } | null | undefined;
    const decoder = tokenizerJson.decoder as { type?: string } | null | undefined;
    if (model?.type !== 'BPE' || model.byte_fallback || model.continuing_subword_prefix || model.end_of_word_suffix) return undefined;
    if (normalizer && normalizer.type !== 'NFC') return undefined;
    if (decoder?.type !== 'ByteLevel') return undefined;
    if (core.remove_space === true || core.do_lowercase_and_remove_accent || core.model.fuse_unk) return undefined;
    const plan = planPreTokenizer(tokenizerJson.pre_tokenizer, core.pre_tokenizer);
    if (!plan) return undefined;
    const enc = new ByteLevelEncoder(core, plan);
    for (const addSpecialTokens of [false, true]) {
      const want = core.encode(ENCODER_PROBE, { add_special_tokens: addSpecialTokens }).ids;
      const got = enc.encode(ENCODER_PROBE, { addSpecialTokens }).ids;
      if (want.length !== got.length || want.some((id, i) => id !== got[i])) return undefined;
    }
    enc.cache.clear();
    return enc;
  }

  encode(text: string, opts: EncodeOptions): Encoded {
    const sink = new Sink(opts.limit ?? Number.MAX_SAFE_INTEGER, opts.offsets ?? true);
    if (opts.addSpecialTokens) for (const id of this.prefix) sink.push(id, 0, 0);
    this.encodeText(text, sink);
    if (opts.addSpecialTokens) for (const id of this.suffix) sink.push(id, text.length, text.length);
    return sink.result();
  }

  /** Mirrors tokenizers.js `Tokenizer.encode_text`, section by section, tracking where each section starts. */
  private encodeText(text: string, sink: Sink): void {
    const core = this.core;
    const sections = this.splitUnnormalized(text);
    const starts: number[] = new Array(sections.length);
    for (let i = 0, pos = 0; i < sections.length; i++) {
      starts[i] = pos;
      pos += sections[i].length;
    }
    for (let i = 0; i < sections.length; i++) {
      const added = core.added_tokens_map.get(sections[i]);
      if (!added) continue;
      if (added.lstrip && i > 0) sections[i - 1] = sections[i - 1].trimEnd();
      if (added.rstrip && i < sections.length - 1) {
        const before = sections[i + 1].length;
        sections[i + 1] = sections[i + 1].trimStart();
        starts[i + 1] += before - sections[i + 1].length;
      }
    }
    for (let i = 0; i < sections.length; i++) {
      const section = sections[i];
      if (section.length === 0) continue;
      const added = core.added_tokens_map.get(section);
      if (added) {
        sink.push(added.id, starts[i], starts[i] + section.length);
        continue;
      }
      let normalized = section;
      let exact = true;
      if (core.normalizer) {
        normalized = core.normalizer(section);
        exact = normalized === section;
      }
      if (normalized.length === 0) continue;
      const subs = this.splitNormalized(normalized);
      let pos = starts[i];
      for (const sub of subs) {
        if (sub.length === 0) continue;
        const a = core.added_tokens_map.get(sub);
        if (a) sink.push(a.id, pos, pos + sub.length);
        else this.encodeWords(sub, pos, sink, exact ? pos : -1, exact ? pos + sub.length : -1);
        pos += sub.length;
      }
    }
  }

  /**
   * Pre-tokenizes one section and encodes its pieces. `base` is the section's offset in the text; when the normalizer
   * changed the section (`lo` = -1) every token gets the whole section as its range.
   */
  private encodeWords(s: string, base: number, sink: Sink, lo: number, hi: number): void {
    const re = this.plan.pattern;
    if (s.length <= 65536) {
      // Usual case: the pattern covers every character, so the matches alone (one array, no match objects) tile the text.
      const pieces = s.match(re);
      if (pieces) {
        let total = 0;
        for (let i = 0; i < pieces.length; i++) total += pieces[i].length;
        if (total === s.length) {
          for (let i = 0, at = base; i < pieces.length; i++) {
            this.encodePiece(pieces[i], at, sink, lo, hi);
            at += pieces[i].length;
          }
          return;
        }
      }
    }
    re.lastIndex = 0;
    let prev = 0;
    const isolate = this.plan.mode === 'isolate';
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      const piece = m[0];
      if (piece.length === 0) {
        re.lastIndex++;
        continue;
      }
      if (isolate && m.index > prev) this.encodePiece(s.slice(prev, m.index), base + prev, sink, lo, hi);
      this.encodePiece(piece, base + m.index, sink, lo, hi);
      prev = m.index + piece.length;
    }
    if (isolate && prev < s.length) this.encodePiece(s.slice(prev), base + prev, sink, lo, hi);
  }

  private encodePiece(piece: string, at: number, sink: Sink, lo: number, hi: number): void {
    if (piece.length > MAX_PIECE_CHARS) {
      sink.longWordsSplit++;
      for (let p = 0; p < piece.length; ) {
        let end = Math.min(piece.length, p + MAX_PIECE_CHARS);
        const c = piece.charCodeAt(end - 1);
        if (end < piece.length && c >= 0xd800 && c <= 0xdbff) end--;
        this.encodePiece(piece.slice(p, end), at + p, sink, lo, hi);
        p = end;
      }
      return;
    }
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = this.bpe(piece);
      if (piece.length <= MAX_CACHED_PIECE) {
        if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
        this.cache.set(piece, ids);
      }
    }
    if (!sink.offsets || sink.n >= sink.limit) {
      for (let k = 0; k < ids.length; k++) sink.push(ids[k], 0, 0);
      return;
    }
    if (lo < 0) {
      for (let k = 0; k < ids.length; k++) sink.push(ids[k], 0, 0);
      return;
    }
    if (ids.length === 1) {
      sink.push(ids[0], at, at + piece.length);
      return;
    }
    // Byte lengths → character offsets inside the piece: a character split between tokens belongs to the token where it ends.
    let char = 0;
    let bytesDone = 0;
    let charBytesEnd = 0; // bytes up to the end of character `char`
    for (let k = 0; k < ids.length; k++) {
      const start = char;
      bytesDone += this.bytesOf[ids[k]];
      while (char < piece.length && charBytesEnd + utf8Width(piece, char) <= bytesDone) {
        charBytesEnd += utf8Width(piece, char);
        char += isHighSurrogateAt(piece, char) ? 2 : 1;
      }
      sink.push(ids[k], at + start, at + char);
    }
  }

  /** BPE of one raw piece through the tokenizers.js model, ids looked up as `Tokenizer.encode` does. */
  private bpe(piece: string): Int32Array {
    const bytes = this.encoder.encode(piece);
    let mapped = '';
    for (let i = 0; i < bytes.length; i++) mapped += BYTE_CHARS[bytes[i]];
    const tokens = this.core.model([mapped]);
    const out = new Int32Array(tokens.length);
    const added = this.core.added_tokens_map;
    const vocab = this.core.model.tokens_to_ids;
    const unk = this.core.model.unk_token_id ?? -1;
    for (let i = 0; i < tokens.length; i++) out[i] = added.get(tokens[i])?.id ?? vocab.get(tokens[i]) ?? unk;
    return out;
  }
}

/**
 * Splits text around the given words, each kept as its own piece, as tokenizers.js's DictionarySplitter does: scanning
 * left to right, at the first position where a word starts, the longest word wins. An alternation sorted longest
 * first finds the same leftmost-longest matches.
 */
function regexSplitter(words: string[]): (text: string) => string[] {
  const list = [...new Set(words.filter((w) => w.length > 0))].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => (text.length ? [text] : []);
  const re = new RegExp(list.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => {
    const out: string[] = [];
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(m[0]);
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  };
}

/** A surrogate pair starts at index i. */
function isHighSurrogateAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c > 0xdbff) return false;
  const d = s.charCodeAt(i + 1);
  return d >= 0xdc00 && d <= 0xdfff;
}

/** UTF-8 bytes of the character (code point) starting at index i. */
function utf8Width(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  return isHighSurrogateAt(s, i) ? 4 : 3; // a lone surrogate becomes U+FFFD (3 bytes), as TextEncoder writes it
}
