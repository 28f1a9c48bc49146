import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryFiles } from '../../../src/formats/modelFolder';
import type { Normalized } from '../../../src/data/normalize';
import { loadTokenizer, prepareTokenizer, renderExample, renderExampleByPieces, type Tokenizer } from '../../../src/data/tokenize';
import { ByteLevelEncoder, MAX_PIECE_CHARS, type CoreTokenizer } from '../../../src/data/tokenizers/encoder';
import { ChatRenderer } from '../../../src/data/tokenizers/chat';
import { DEMO_MODEL_DIR, demoTokenizer } from './tokenizer';

/** Llama 3's pre-tokenizer pattern (a Split before a ByteLevel without regex), as its tokenizer.json spells it. */
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The demo tokenizer re-dressed as other byte-level families: Llama 3 (Split + BOS template) and Qwen 2 (Split + NFC). */
async function variant(kind: 'llama3' | 'qwen2'): Promise<Tokenizer> {
  const json = JSON.parse(await readFile(join(DEMO_MODEL_DIR, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(await readFile(join(DEMO_MODEL_DIR, 'tokenizer_config.json'), 'utf8'));
  json.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: LLAMA3_PATTERN }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
  if (kind === 'qwen2') json.normalizer = { type: 'NFC' };
  if (kind === 'llama3') {
    json.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|im_start|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|im_start|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|im_start|>': { id: '<|im_start|>', ids: [1], tokens: ['<|im_start|>'] } },
    };
  }
  const files = new Map([
    ['tokenizer.json', JSON.stringify(json)],
    ['tokenizer_config.json', JSON.stringify({ ...config, tokenizer_class: kind === 'llama3' ? 'PreTrainedTokenizerFast' : 'Qwen2Tokenizer' })],
  ]);
  return loadTokenizer(memoryFiles(files, kind));
}

const TEXTS = [
  'Hello, world!',
  "It's 2026: 1234567 apples\n\n\tcost $3.50 (each)...  ok?\r\nnaïve café — 東京 😀👍🏽",
  '   leading and trailing spaces   ',
  '\n\n\nnewlines first',
  'a<|im_end|>b<|im_start|>assistant\nspecial tokens inside text',
  'x'.repeat(1000),
  'Cafe\u0301 (not NFC) and e\u0301',
  'lone surrogate \ud800 here',
  '',
];

/** The character ranges must cover exactly the bytes each token stands for. */
function checkOffsets(core: CoreTokenizer, text: string, ids: Int32Array, starts: Uint32Array, ends: Uint32Array): void {
  const enc = new TextEncoder();
  // Group tokens that share characters (a character split between two byte-level tokens belongs to the later one).
  let groupStart = 0;
  for (let t = 0; t < ids.length; t++) {
    expect(starts[t]).toBeLessThanOrEqual(ends[t]);
    if (t > 0) expect(starts[t]).toBeGreaterThanOrEqual(ends[t - 1]);
    if (starts[t] === ends[t] && t + 1 < ids.length) continue;
    const group = Array.from(ids.subarray(groupStart, t + 1));
    const bytes = group.flatMap((id) => {
      const tokText = core.id_to_token(id)!;
      if (core.added_tokens_map.has(tokText)) return Array.from(enc.encode(tokText));
      return Array.from(tokText, (ch) => BYTE_OF.get(ch)!);
    });
    const slice = text.slice(starts[groupStart], ends[t]);
    expect(bytes, `tokens ${groupStart}..${t} vs ${JSON.stringify(slice)}`).toEqual(Array.from(enc.encode(slice)));
    groupStart = t + 1;
  }
}
const BYTE_OF = (() => {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const m = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) m.set(keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++), b);
  return m;
})();

describe('ByteLevelEncoder', () => {
  for (const kind of ['demo', 'llama3', 'qwen2'] as const) {
    it(`${kind}: the same ids as tokenizers.js, with offsets that cover each token's bytes`, async () => {
      const tok = kind === 'demo' ? await demoTokenizer() : await variant(kind);
      const core = (tok as unknown as { _tokenizer: CoreTokenizer })._tokenizer;
      const p = prepareTokenizer(tok);
      expect(p.encoder.kind).toBe('byte-level');
      for (const text of TEXTS) {
        for (const addSpecialTokens of [false, true]) {
          const want = core.encode(text, { add_special_tokens: addSpecialTokens }).ids;
          const got = p.encoder.encode(text, { addSpecialTokens });
          expect(Array.from(got.ids), JSON.stringify(text)).toEqual(want);
          expect(got.total).toBe(want.length);
          expect(got.tail).toEqual([want.at(-2) ?? -1, want.at(-1) ?? -1]);
          const exact = text.normalize('NFC') === text || kind !== 'qwen2';
          if (!addSpecialTokens && exact) checkOffsets(core, text, got.ids, got.starts!, got.ends!);
        }
      }
      if (kind === 'llama3') expect(p.encoder.encode('hi', { addSpecialTokens: true }).ids[0]).toBe(1); // BOS from TemplateProcessing
    });
  }
  it('a limit keeps the first ids and still counts them all', async () => {
    const p = prepareTokenizer(await demoTokenizer());
    const all = p.encoder.encode('word '.repeat(100), { addSpecialTokens: false });
    const cut = p.encoder.encode('word '.repeat(100), { addSpecialTokens: false, limit: 7 });
    expect(Array.from(cut.ids)).toEqual(Array.from(all.ids.subarray(0, 7)));
    expect(cut.total).toBe(all.total);
    expect(cut.tail).toEqual(all.tail);
  });
  it('a 1 MiB word is cut into 16 Ki-character pieces before BPE, and says so', async () => {
    const p = prepareTokenizer(await demoTokenizer());
    const word = 'ab'.repeat(2 ** 19);
    const e = p.encoder.encode(word, { addSpecialTokens: false, limit: 10 });
    expect(e.longWordsSplit).toBe(1);
    const piece = p.encoder.encode(word.slice(0, MAX_PIECE_CHARS), { addSpecialTokens: false });
    expect(e.total).toBe(piece.total * (word.length / MAX_PIECE_CHARS));
  });
  it('is not used for a tokenizer it does not understand (the generic encoder is)', async () => {
    const json = JSON.parse(await readFile(join(DEMO_MODEL_DIR, 'tokenizer.json'), 'utf8'));
    json.normalizer = { type: 'Lowercase' };
    const tok = await loadTokenizer(memoryFiles(new Map([['tokenizer.json', JSON.stringify(json)], ['tokenizer_config.json', '{}']]), 'lower'));
    const core = (tok as unknown as { _tokenizer: CoreTokenizer })._tokenizer;
    expect(ByteLevelEncoder.tryCreate(core, json)).toBeUndefined();
    expect(prepareTokenizer(tok).encoder.kind).toBe('generic');
  });
});

const WORDS = 'the model learns from every example you give it so choose them with care data quality matters'.split(' ');
/** Deterministic chat rows of 1–3 turns, some with a system message (the benchmark's shape). */
function chatRows(n: number): Normalized[] {
  return Array.from({ length: n }, (_, i) => {
    let s = (i * 2654435761) >>> 0;
    const words = (k: number) => {
      const o: string[] = [];
      for (let j = 0; j < k; j++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        o.push(s % 11 === 0 ? String(s % 997) : WORDS[s % WORDS.length]);
      }
      return o.join(' ');
    };
    const messages: { role: 'system' | 'user' | 'assistant'; content: string }[] = i % 2 ? [{ role: 'system', content: 'You are helpful.' }] : [];
    for (let t = 0; t <= i % 3; t++) messages.push({ role: 'user', content: `${words(3 + (i % 7))}?` }, { role: 'assistant', content: ` ${words(5 + (i % 11))}.\n` });
    return { kind: 'chat', messages, trainFrom: i % 4 === 3 ? 2 : 0 };
  });
}

describe('one render, one encode: the same ids and masks as the reference path', () => {
  const where = { file: 't.jsonl', line: 1, row: 1 };
  const cases: [string, Normalized, Parameters<typeof renderExample>[2]][] = [
    ['alpaca pair', { kind: 'pair', prompt: '### Instruction:\nAdd 2 and 3\n\n### Response:\n', response: 'The sum is 5.' }, { maxLength: 512 }],
    ['label pair', { kind: 'pair', prompt: 'Great film!\nLabel:', response: ' positive' }, { maxLength: 512 }],
    ['text', { kind: 'text', text: 'Once upon a time, 12345 tokens.' }, { maxLength: 512 }],
    ['truncated text', { kind: 'text', text: 'word '.repeat(300) }, { maxLength: 40 }],
    ['pair as chat', { kind: 'pair', prompt: 'x', instruction: 'Add 2 and 3', response: '5', system: 'Be exact.' }, { maxLength: 512, pairFormat: 'chat' }],
    ['chat, train all', chatRows(3)[2], { maxLength: 512, trainOn: 'all' }],
    ['chat, truncated mid-answer', chatRows(3)[2], { maxLength: 30 }],
  ];
  for (const [name, ex, opts] of cases) {
    it(name, async () => {
      for (const tok of [await demoTokenizer(), await variant('llama3'), await variant('qwen2')]) {
        const a = renderExample(tok, ex, opts, where);
        const b = renderExampleByPieces(tok, ex, opts, where);
        expect(Array.from(a.example.ids)).toEqual(Array.from(b.example.ids));
        expect(Array.from(a.example.lossMask)).toEqual(Array.from(b.example.lossMask));
        expect([a.fullLength, a.truncated]).toEqual([b.fullLength, b.truncated]);
      }
    });
  }
  it('300 generated conversations (1–3 turns, system or not, trainFrom 0 or 2)', async () => {
    const tok = await demoTokenizer();
    for (const ex of chatRows(300)) {
      const a = renderExample(tok, ex, { maxLength: 2048 }, where);
      const b = renderExampleByPieces(tok, ex, { maxLength: 2048 }, where);
      expect(Array.from(a.example.ids)).toEqual(Array.from(b.example.ids));
      expect(Array.from(a.example.lossMask)).toEqual(Array.from(b.example.lossMask));
    }
  });
  it('renders a conversation once: no apply_chat_template call per row', async () => {
    const base = await demoTokenizer();
    let calls = 0;
    const counting = Object.create(base) as typeof base;
    counting.apply_chat_template = ((m: never, o: never) => (calls++, base.apply_chat_template(m, o))) as typeof base.apply_chat_template;
    expect(prepareTokenizer(counting).chat()).toBeInstanceOf(ChatRenderer);
    const before = calls;
    for (const ex of chatRows(20)) renderExample(counting, ex, { maxLength: 2048 }, where);
    expect(calls - before).toBe(0);
    calls = 0;
    for (const ex of chatRows(20)) renderExampleByPieces(counting, ex, { maxLength: 2048 }, where);
    expect(calls).toBeGreaterThanOrEqual(60); // 2 × turns + 1 per row
  });
  it('content holding the marker characters falls back to prefix renders, with the same result', async () => {
    const tok = await demoTokenizer();
    const ex: Normalized = { kind: 'chat', trainFrom: 0, messages: [{ role: 'user', content: 'private \uE000 use' }, { role: 'assistant', content: 'ok \uE001' }] };
    const a = renderExample(tok, ex, { maxLength: 512 }, where);
    const b = renderExampleByPieces(tok, ex, { maxLength: 512 }, where);
    expect(Array.from(a.example.lossMask)).toEqual(Array.from(b.example.lossMask));
  });
  it('where a piece boundary is not a token boundary, the whole text is encoded as the model will see it', async () => {
    // "Answer: " + "yes": encoded apart, the space is its own token; encoded once, " yes" is one token (as TRL does it).
    const tok = await demoTokenizer();
    const ex: Normalized = { kind: 'pair', prompt: 'Question: is it?\nAnswer: ', response: 'yes' };
    const a = renderExample(tok, ex, { maxLength: 512, view: true }, where);
    const b = renderExampleByPieces(tok, ex, { maxLength: 512 }, where);
    expect(Array.from(a.example.ids).slice(0, -1)).toEqual(tok.encode('Question: is it?\nAnswer: yes', { add_special_tokens: true }));
    expect(Array.from(a.example.ids)).not.toEqual(Array.from(b.example.ids));
    // The token that straddles the boundary (" y…") holds the response's first character: it is trained.
    const { starts, ends } = a.view!;
    const at = Array.from(starts!).findIndex((st, t) => st < ex.prompt.length && ends![t] > ex.prompt.length);
    expect(at).toBeGreaterThan(0);
    expect(a.example.lossMask[at]).toBe(1);
    expect(a.example.lossMask[at - 1]).toBe(0);
  });
});

describe('templates beyond ChatML', () => {
  const where = { file: 't.jsonl', line: 1, row: 1 };
  const withTemplate = async (template: string) => {
    const base = await demoTokenizer();
    const t = Object.create(base) as typeof base & { chat_template: string };
    t.chat_template = template;
    return t;
  };
  const conversation: Normalized = {
    kind: 'chat',
    trainFrom: 0,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: '  What is 2+2?  ' },
      { role: 'assistant', content: ' 4 ' },
      { role: 'user', content: 'And 3+3?' },
      { role: 'assistant', content: '6' },
    ],
  };
  it('a pre-pass loop over the reversed messages, `continue`, trimmed content and a nested loop: one render, same result', async () => {
    const tok = await withTemplate(
      "{%- set ns = namespace(last=0) %}{%- for m in messages[::-1] %}{%- if m.role == 'user' and ns.last == 0 %}{%- set ns.last = loop.index %}{%- endif %}{%- endfor %}" +
        "{%- for m in messages %}{%- if m.role == 'system' %}{%- continue %}{%- endif %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}{% for t in ['x', 'y'] %}{% endfor %}<|im_end|>\n{%- endfor %}" +
        '{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}',
    );
    expect(prepareTokenizer(tok).chat()).toBeInstanceOf(ChatRenderer);
    const a = renderExample(tok, conversation, { maxLength: 512 }, where);
    const b = renderExampleByPieces(tok, conversation, { maxLength: 512 }, where);
    expect(Array.from(a.example.ids)).toEqual(Array.from(b.example.ids));
    expect(Array.from(a.example.lossMask)).toEqual(Array.from(b.example.lossMask));
    expect(a.example.lossMask.reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
  });
  it('a template that prints whole message objects is not instrumented (the hidden fields would show): prefix renders, same result', async () => {
    const tok = await withTemplate("{% for m in messages %}{{ m | tojson }}\n{% endfor %}{% if add_generation_prompt %}{{ '{\"role\": \"assistant\", \"content\": ' }}{% endif %}");
    expect(prepareTokenizer(tok).chat()).toMatchObject({ reason: expect.stringMatching(/markers change the rendered text|generation prompt/) });
    const ex: Normalized = { kind: 'chat', trainFrom: 0, messages: conversation.messages.slice(1) };
    let a: unknown;
    let b: unknown;
    try {
      a = renderExample(tok, ex, { maxLength: 512 }, where).example;
    } catch (e) {
      a = (e as Error).message;
    }
    try {
      b = renderExampleByPieces(tok, ex, { maxLength: 512 }, where).example;
    } catch (e) {
      b = (e as Error).message;
    }
    expect(a).toEqual(b);
  });
});
