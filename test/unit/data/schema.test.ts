import { describe, expect, it } from 'vitest';
import { classifyRow, detectSchema } from '../../../src/data/detect';
import { DatasetError } from '../../../src/data/errors';
import { normalizeRow } from '../../../src/data/normalize';
import { parseColumnsFlag, type ColumnMapping } from '../../../src/data/schema';
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
    expect(d.reason).toMatch(/mixed schemas.*1 like chat \(first at previewed row 3\)/);
  });
  it('unknown columns are unsure with column-mapping candidates', () => {
    const d = detectSchema([{ question: 'q', reply: 'a' }]);
    expect(d.sure).toBe(false);
    expect(d.mapping).toBeUndefined();
    expect(d.columns).toEqual(['question', 'reply']);
    expect(d.candidates).toContainEqual({ kind: 'prompt_completion', prompt: 'question', completion: 'reply' });
    expect(d.reason).toContain('match no known schema');
    expect(d.hint).toContain('choose a mapping');
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
    ['object as text', { text: { a: 1 } }, { kind: 'text', text: 'text' }, 'wrong-type', /should be text, got an object/],
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
      expect(e.message.startsWith('f.jsonl:7 (row 3')).toBe(true);
    });
  }
});

describe('two schemas in one row are refused, with both named', () => {
  const ambiguous: [string, Record<string, unknown>, string[]][] = [
    ['question + answer + boilerplate text', { question: 'What is 2+2?', answer: '4', text: 'Answer the question below.' }, ['alpaca (instruction: question, output: answer)', 'text (text)']],
    ['instruction + output + text', { instruction: 'i', output: 'o', text: 'Below is an instruction…' }, ['alpaca (instruction: instruction, output: output)', 'text (text)']],
    ['messages + a rendered text', { messages: [{ role: 'user', content: 'hi' }], text: '<|im_start|>user…' }, ['chat (messages[].role / content)', 'text (text)']],
    ['prompt/completion + text', { prompt: 'p', completion: 'c', text: 't' }, ['prompt/completion (prompt → completion)', 'text (text)']],
    ['two text columns', { text: 'a', content: 'b' }, ['text (text)', 'text (content)']],
  ];
  for (const [name, row, both] of ambiguous) {
    it(name, () => {
      const d = detectSchema([row, row]);
      expect(d.ambiguous).toBe(true);
      expect(d.sure).toBe(false);
      expect(d.mapping).toBeUndefined();
      for (const b of both) expect(d.reason).toContain(b);
      expect(d.candidateDetails.slice(0, 2).map((c) => c.label)).toEqual(both);
      // What the caller can do: a picker entry and a CLI flag per reading.
      for (const c of d.candidateDetails.slice(0, 2)) {
        expect(c.flags).toMatch(/^--schema \w+ --columns /);
        expect(parseColumnsFlag(c.flags.replace(/^--schema (\w+) --columns (\S+)$/, '$2'), c.flags.split(' ')[1])).toEqual(c.mapping);
      }
      expect(d.hint).toContain(d.candidateDetails[0].flags);
    });
  }
  it('a richer schema is not ambiguous with the one it contains (text + label over text)', () => {
    expect(detectSchema([{ text: 'great', label: 'pos' }]).mapping).toEqual({ kind: 'text_label', text: 'text', label: 'label' });
    expect(detectSchema([{ instruction: 'i', input: 'x', output: 'o' }]).ambiguous).toBe(false);
  });
  it('question + answer alone reads as Alpaca with the question as instruction', () => {
    const d = detectSchema([{ question: 'q?', answer: 'a', context: 'c' }]);
    expect([d.sure, d.mapping]).toEqual([true, { kind: 'alpaca', instruction: 'question', output: 'answer', input: 'context' }]);
  });
});

describe('classification data', () => {
  const cases: [string, Record<string, unknown>, ColumnMapping, string][] = [
    ['SST-2 (sentence, label id)', { sentence: 'a gem', label: 1 }, { kind: 'classification', text: 'sentence', label: 'label' }, 'single_label'],
    ['MRPC (sentence1, sentence2)', { sentence1: 'a', sentence2: 'b', label: 0 }, { kind: 'classification', text: 'sentence1', textPair: 'sentence2', label: 'label' }, 'single_label'],
    ['QNLI (question, sentence)', { question: 'q?', sentence: 's', label: 'entailment' }, { kind: 'classification', text: 'question', textPair: 'sentence', label: 'label' }, 'single_label'],
    ['MNLI (premise, hypothesis)', { premise: 'p', hypothesis: 'h', label: 2 }, { kind: 'classification', text: 'premise', textPair: 'hypothesis', label: 'label' }, 'single_label'],
    ['STS-B (regression)', { sentence1: 'a', sentence2: 'b', label: 3.8 }, { kind: 'classification', text: 'sentence1', textPair: 'sentence2', label: 'label' }, 'regression'],
    ['multi-label lists', { text: 't', labels: ['sports', 'politics'] }, { kind: 'classification', text: 'text', label: 'labels' }, 'multi_label'],
  ];
  for (const [name, row, mapping, task] of cases) {
    it(`${name}: detected for an encoder, task ${task}`, () => {
      const d = detectSchema([row, { ...row }], { objective: 'classification' });
      expect(d.mapping).toEqual(mapping);
      expect(d.sure).toBe(true);
      expect(d.task).toBe(task);
    });
  }
  it('for a causal LM, text + label is the label template; a pair stays classification (loading refuses it there)', () => {
    expect(detectSchema([{ text: 't', label: 1 }]).mapping?.kind).toBe('text_label');
    expect(detectSchema([{ sentence1: 'a', sentence2: 'b', label: 0 }]).mapping?.kind).toBe('classification');
  });
  it('a classification row normalizes to its text, pair and raw label', () => {
    const m: ColumnMapping = { kind: 'classification', text: 'sentence1', textPair: 'sentence2', label: 'label' };
    expect(normalizeRow({ sentence1: 'a', sentence2: 'b', label: ' pos ' }, m, where)).toEqual({ kind: 'classify', text: 'a', textPair: 'b', label: 'pos' });
    expect(normalizeRow({ sentence1: 'a', sentence2: 'b', label: [1, 'x'] }, m, where)).toMatchObject({ label: [1, 'x'] });
    expect(() => normalizeRow({ sentence1: 'a', sentence2: 'b', label: { x: 1 } }, m, where)).toThrow(/label column "label" should be a name, a number or a list, got an object/);
    expect(() => normalizeRow({ sentence1: 'a', sentence2: 'b', label: Infinity }, m, where)).toThrow(/not finite/);
  });
});

describe('numbers where text is expected', () => {
  const m: ColumnMapping = { kind: 'alpaca', instruction: 'instruction', output: 'output' };
  it('"output": 1e999 is an error naming the column and the way to read numbers on purpose', () => {
    const row = JSON.parse('{"instruction": "Give a big number", "output": 1e999}');
    let err: DatasetError | undefined;
    try {
      normalizeRow(row, m, where);
    } catch (e) {
      err = e as DatasetError;
    }
    expect(err).toMatchObject({ code: 'wrong-type', column: 'output', line: 7 });
    expect(err!.message.startsWith('f.jsonl:7 (row 3): column "output" should be text')).toBe(true); // the column is named once
    expect(err!.message).toMatch(/should be text, got a number \(Infinity: .*1e999/);
    expect(err!.message).toMatch(/numbersAsText: \["output"\]; CLI: --numbers-as-text output/);
    // Read on purpose, a finite number is its text; a non-finite one is still refused.
    expect(normalizeRow({ instruction: 'x', output: 42 }, { ...m, numbersAsText: ['output'] }, where)).toMatchObject({ response: '42' });
    expect(() => normalizeRow(row, { ...m, numbersAsText: ['output'] }, where)).toThrow(/not finite/);
  });
  it('booleans, objects and numbers in message content are errors too', () => {
    expect(() => normalizeRow({ text: true }, { kind: 'text', text: 'text' }, where)).toThrow(/should be text, got a boolean/);
    const chat: ColumnMapping = { kind: 'chat', messages: 'messages', role: 'role', content: 'content' };
    expect(() => normalizeRow({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 7 }] }, chat, where)).toThrow(/messages\[1\]\.content should be text, got a number \(7\)/);
  });
});

describe('mapping flags (CLI)', () => {
  it('--columns prompt=question,response=answer reads as prompt/completion; with --schema alpaca as the Alpaca template', () => {
    expect(parseColumnsFlag('prompt=question,response=answer')).toEqual({ kind: 'prompt_completion', prompt: 'question', completion: 'answer' });
    expect(parseColumnsFlag('prompt=question,response=answer', 'alpaca')).toEqual({ kind: 'alpaca', instruction: 'question', output: 'answer' });
    expect(parseColumnsFlag('text=review,label=stars', 'classification', { task: 'regression' })).toEqual({ kind: 'classification', text: 'review', label: 'stars', task: 'regression' });
    expect(parseColumnsFlag('text=a,text_pair=b,label=y')).toEqual({ kind: 'classification', text: 'a', textPair: 'b', label: 'y' });
    expect(parseColumnsFlag('instruction=q,output=a', undefined, { numbersAsText: ['a'] })).toEqual({ kind: 'alpaca', instruction: 'q', output: 'a', numbersAsText: ['a'] });
  });
  it('bad flags say what is expected', () => {
    expect(() => parseColumnsFlag('question')).toThrow(/not role=column/);
    expect(() => parseColumnsFlag('instruction=q')).toThrow(/alpaca needs output=COLUMN/);
    expect(() => parseColumnsFlag('text=a', 'nope')).toThrow(/expected one of/);
    expect(() => parseColumnsFlag('label=y,foo=z', 'text_label')).toThrow(/"foo" is not a role of text_label/);
  });
});
