import { describe, expect, it } from 'vitest';
import { classifyRow, detectSchema } from '../../../src/data/detect';
import { DatasetError } from '../../../src/data/errors';
import { normalizeRow } from '../../../src/data/normalize';
import type { ColumnMapping } from '../../../src/data/schema';
import { ALPACA_PREAMBLE, ALPACA_PREAMBLE_INPUT, alpacaPrompt } from '../../../src/data/templates';

const where = { file: 'f.jsonl', line: 7, row: 3 };

describe('schema detection', () => {
  const cases: [string, Record<string, unknown>, ColumnMapping][] = [
    ['alpaca', { instruction: 'i', input: '', output: 'o' }, { kind: 'alpaca', instruction: 'instruction', input: 'input', output: 'output' }],
    ['alpaca + system (LLaMA-Factory)', { instruction: 'i', output: 'o', system: 's' }, { kind: 'alpaca', instruction: 'instruction', output: 'output', system: 'system' }],
    ['dolly (context/response)', { instruction: 'i', context: 'c', response: 'r' }, { kind: 'alpaca', instruction: 'instruction', input: 'context', output: 'response' }],
    ['OpenAI/TRL messages', { messages: [{ role: 'user', content: 'hi' }] }, { kind: 'chat', messages: 'messages', role: 'role', content: 'content' }],
    ['ShareGPT conversations', { conversations: [{ from: 'human', value: 'hi' }] }, { kind: 'chat', messages: 'conversations', role: 'from', content: 'value' }],
    ['prompt/completion', { prompt: 'p', completion: 'c' }, { kind: 'prompt_completion', prompt: 'prompt', completion: 'completion' }],
    ['TRL conversational prompt/completion', { prompt: [{ role: 'user', content: 'p' }], completion: [{ role: 'assistant', content: 'c' }] }, { kind: 'prompt_completion', prompt: 'prompt', completion: 'completion' }],
    ['text', { text: 'hello' }, { kind: 'text', text: 'text' }],
    ['text + label', { text: 'great film', label: 1 }, { kind: 'text_label', text: 'text', label: 'label' }],
    ['sentence + label', { sentence: 'meh', label: 'neg' }, { kind: 'text_label', text: 'sentence', label: 'label' }],
  ];
  for (const [name, row, mapping] of cases) {
    it(`${name} is detected surely`, () => {
      expect(classifyRow(row)).toEqual(mapping);
      const d = detectSchema([row, row, row]);
      expect(d.sure).toBe(true);
      expect(d.mapping).toEqual(mapping);
      expect(d.candidates[0]).toEqual(mapping);
    });
  }
  it('merges optional alpaca columns present in only some rows', () => {
    const d = detectSchema([{ instruction: 'a', output: 'b' }, { instruction: 'a', input: 'x', output: 'b' }]);
    expect(d.sure).toBe(true);
    expect(d.mapping).toEqual({ kind: 'alpaca', instruction: 'instruction', input: 'input', output: 'output' });
  });
  it('mixed schemas are unsure and say where each kind starts', () => {
    const d = detectSchema([{ instruction: 'a', output: 'b' }, { instruction: 'a', output: 'b' }, { messages: [{ role: 'user', content: 'x' }] }]);
    expect(d.sure).toBe(false);
    expect(d.mapping?.kind).toBe('alpaca');
    expect(d.rowKinds).toEqual({ alpaca: 2, chat: 1 });
    expect(d.reason).toMatch(/mixed schemas.*1 like chat \(first at row 3\)/);
  });
  it('unknown columns are unsure with column-mapping candidates', () => {
    const d = detectSchema([{ question: 'q', reply: 'a' }]);
    expect(d.sure).toBe(false);
    expect(d.mapping).toBeUndefined();
    expect(d.columns).toEqual(['question', 'reply']);
    expect(d.candidates).toContainEqual({ kind: 'prompt_completion', prompt: 'question', completion: 'reply' });
    expect(d.reason).toContain('choose a column mapping');
  });
  it('rows missing a column make detection unsure', () => {
    const d = detectSchema([{ instruction: 'a', output: 'b' }, { instruction: 'a' }]);
    expect(d.sure).toBe(false);
    expect(d.reason).toMatch(/1 of 2/);
  });
});

describe('normalize', () => {
  it('alpaca renders the Stanford template with and without input, system replacing the preamble', () => {
    const m: ColumnMapping = { kind: 'alpaca', instruction: 'instruction', input: 'input', output: 'output', system: 'system' };
    expect(normalizeRow({ instruction: 'Do X', input: '', output: 'Done' }, m, where)).toMatchObject({
      kind: 'pair',
      prompt: `${ALPACA_PREAMBLE}\n\n### Instruction:\nDo X\n\n### Response:\n`,
      response: 'Done',
    });
    expect(normalizeRow({ instruction: 'Do X', input: 'on Y', output: 'Done' }, m, where)).toMatchObject({
      prompt: `${ALPACA_PREAMBLE_INPUT}\n\n### Instruction:\nDo X\n\n### Input:\non Y\n\n### Response:\n`,
    });
    expect(alpacaPrompt('Do X', undefined, 'You are terse.')).toBe('You are terse.\n\n### Instruction:\nDo X\n\n### Response:\n');
  });
  it('ShareGPT roles map to chat roles', () => {
    const m: ColumnMapping = { kind: 'chat', messages: 'conversations', role: 'from', content: 'value' };
    const n = normalizeRow(
      { conversations: [{ from: 'system', value: 's' }, { from: 'human', value: 'h' }, { from: 'gpt', value: 'g' }, { from: 'observation', value: 'o' }, { from: 'gpt', value: 'g2' }] },
      m,
      where,
    );
    expect(n).toEqual({
      kind: 'chat',
      trainFrom: 0,
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'h' },
        { role: 'assistant', content: 'g' },
        { role: 'tool', content: 'o' },
        { role: 'assistant', content: 'g2' },
      ],
    });
  });
  it('OpenAI text content parts are joined', () => {
    const m: ColumnMapping = { kind: 'chat', messages: 'messages', role: 'role', content: 'content' };
    const n = normalizeRow({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, { role: 'assistant', content: 'c' }] }, m, where);
    expect(n.kind === 'chat' && n.messages[0].content).toBe('ab');
  });
  it('conversational prompt/completion trains only the completion messages', () => {
    const m: ColumnMapping = { kind: 'prompt_completion', prompt: 'prompt', completion: 'completion' };
    const n = normalizeRow({ prompt: [{ role: 'user', content: 'q' }], completion: [{ role: 'assistant', content: 'a' }] }, m, where);
    expect(n).toEqual({ kind: 'chat', trainFrom: 1, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] });
  });
  it('text + label renders "text\\nLabel:" and " label"; numbers become text', () => {
    const n = normalizeRow({ text: 'great', label: 1 }, { kind: 'text_label', text: 'text', label: 'label' }, where);
    expect(n).toMatchObject({ kind: 'pair', prompt: 'great\nLabel:', response: ' 1' });
  });
  it('a user-chosen mapping reads arbitrary columns', () => {
    const n = normalizeRow({ question: 'q?', reply: 'r.' }, { kind: 'prompt_completion', prompt: 'question', completion: 'reply' }, where);
    expect(n).toEqual({ kind: 'pair', prompt: 'q?', response: 'r.', instruction: 'q?' });
  });
  const bad: [string, Record<string, unknown>, ColumnMapping, string, RegExp][] = [
    ['missing column', { instruction: 'x' }, { kind: 'alpaca', instruction: 'instruction', output: 'output' }, 'missing-column', /missing column "output" \(row has: instruction\)/],
    ['row of another schema', { messages: [] }, { kind: 'alpaca', instruction: 'instruction', output: 'output' }, 'mixed-schema', /looks like chat/],
    ['empty output', { instruction: 'x', output: '' }, { kind: 'alpaca', instruction: 'instruction', output: 'output' }, 'empty-response', /empty/],
    ['empty text', { text: ' \n' }, { kind: 'text', text: 'text' }, 'empty-text', /empty/],
    ['object as text', { text: { a: 1 } }, { kind: 'text', text: 'text' }, 'wrong-type', /should be text, got object/],
    ['empty conversation', { messages: [] }, { kind: 'chat', messages: 'messages', role: 'role', content: 'content' }, 'empty-response', /empty conversation/],
    ['empty assistant turn', { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: '' }] }, { kind: 'chat', messages: 'messages', role: 'role', content: 'content' }, 'empty-response', /assistant message 2 is empty/],
    ['message without role', { messages: [{ content: 'a' }] }, { kind: 'chat', messages: 'messages', role: 'role', content: 'content' }, 'missing-column', /messages\[0\] has no "role"/],
    ['half conversational', { prompt: [{ role: 'user', content: 'a' }], completion: 'b' }, { kind: 'prompt_completion', prompt: 'prompt', completion: 'completion' }, 'wrong-type', /both/],
  ];
  for (const [name, row, m, code, msg] of bad) {
    it(`${name} → ${code}`, () => {
      let err: unknown;
      try {
        normalizeRow(row, m, where);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DatasetError);
      const e = err as DatasetError;
      expect(e.code).toBe(code);
      expect(e.message).toMatch(msg);
      expect([e.file, e.line, e.row]).toEqual(['f.jsonl', 7, 3]);
      expect(e.message.startsWith('f.jsonl:7 (row 3): ')).toBe(true);
    });
  }
});
