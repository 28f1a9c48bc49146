import { describe, expect, it } from 'vitest';
import { explainRows, loadDataset, prepareDataset } from '../../../src/data/dataset';
import { DatasetErrorList } from '../../../src/data/errors';
import { fromText } from '../../../src/data/source';
import { demoTokenizer } from './tokenizer';

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const chat = (i: number) => ({
  messages: [
    { role: 'user', content: `Hello number ${i}` },
    { role: 'assistant', content: `Hello back ${'!'.repeat(i % 5)}` },
  ],
});

describe('prepareDataset: the report the studio and the CLI show', () => {
  it('numbers preview rows and bad rows by their real row and line, not by position', async () => {
    const tok = await demoTokenizer();
    // Blank lines and a bad row before good ones: positions and lines differ.
    const text = `\n\n${JSON.stringify(chat(1))}\n{broken\n\n${JSON.stringify(chat(2))}\n${JSON.stringify({ messages: [{ role: 'user', content: 'no reply' }] })}\n${JSON.stringify(chat(3))}\n`;
    const d = await prepareDataset(fromText('c.jsonl', text), tok, { maxLength: 128, onBadRows: 'skip' });
    expect(d.report.ok).toBe(true);
    // Row 4 reads fine (it is in the preview) but has no assistant turn (it is a bad row).
    expect(d.info.previewRows.map((r) => [r.row, r.line])).toEqual([
      [1, 3],
      [3, 6],
      [4, 7],
      [5, 8],
    ]);
    expect(d.report.errors.map((e) => [e.code, e.row, e.line])).toEqual([
      ['invalid-json', 2, 4],
      ['empty-response', 4, 7],
    ]);
    expect(d.info.errors).toEqual([]); // skipped rows do not block; the UI lists report.errors
    expect(d.report.warnings.join('\n')).toMatch(/2 bad rows skipped \(1 invalid-json, 1 empty-response\)/);
    expect(d.train?.length).toBe(3);
    expect([d.train!.rowOf(0), d.train!.lineOf(0), d.train!.rowOf(2), d.train!.lineOf(2)]).toEqual([1, 3, 5, 8]);
  });

  it('under onBadRows "stop" the file is refused and every bad row is listed with its line', async () => {
    const tok = await demoTokenizer();
    const text = jsonl([chat(1), { messages: 'x' }, chat(2)]);
    const d = await prepareDataset(fromText('s.jsonl', text), tok, { maxLength: 128 });
    expect(d.report.ok).toBe(false);
    expect(d.train).toBeNull();
    expect(d.info.errors).toMatchObject([{ code: 'wrong-type', line: 2, row: 2, hint: expect.stringMatching(/role/) }]);
    await expect(loadDataset(fromText('s.jsonl', text), tok, { maxLength: 128 })).rejects.toBeInstanceOf(DatasetErrorList);
  });

  it('a file matching two schemas is refused with both named, the preview kept, and a way to choose', async () => {
    const tok = await demoTokenizer();
    const rows = Array.from({ length: 5 }, (_, i) => ({ question: `What is ${i}+${i}?`, answer: String(2 * i), text: 'Answer the question.' }));
    const d = await prepareDataset(fromText('qa.jsonl', jsonl(rows)), tok, { maxLength: 128 });
    expect(d.report.ok).toBe(false);
    expect(d.info.errors[0]).toMatchObject({ code: 'schema-ambiguous' });
    expect(d.info.errors[0].message).toMatch(/alpaca \(instruction: question, output: answer\) and text \(text\)/);
    expect(d.info.errors[0].hint).toMatch(/--schema alpaca --columns instruction=question,output=answer/);
    expect(d.info.preview).toHaveLength(5);
    expect(d.info.candidates.slice(0, 2).map((m) => m.kind)).toEqual(['alpaca', 'text']);
    // The caller chooses: the questions and answers train, the boilerplate does not.
    const chosen = await prepareDataset(fromText('qa.jsonl', jsonl(rows)), tok, { maxLength: 128, mapping: d.info.candidates[0] });
    expect(chosen.report.ok).toBe(true);
    expect(chosen.info.mappingSure).toBe(true);
    expect(chosen.report.samples[0].text).toContain('### Instruction:\nWhat is 0+0?');
    expect(chosen.report.samples[0].text).not.toContain('Answer the question.');
  });

  it('shows what the model sees: rendered text, tokens with their characters, trained flags', async () => {
    const tok = await demoTokenizer();
    const d = await prepareDataset(fromText('c.jsonl', jsonl([chat(1), chat(2), chat(3), chat(4)])), tok, { maxLength: 128, explain: [2] });
    const [v] = d.report.samples.filter((s) => s.row === 2);
    expect(v.text).toBe('<|im_start|>user\nHello number 2<|im_end|>\n<|im_start|>assistant\nHello back !!<|im_end|>\n');
    expect(v.tokens.map((t) => t.text).join('')).toBe(v.text);
    const trained = v.tokens.filter((t) => t.trained).map((t) => t.text).join('');
    expect(trained).toBe('Hello back !!<|im_end|>\n');
    for (const t of v.tokens) expect(v.text.slice(t.start, t.end)).toBe(t.text);
    expect(v.trainedTokens).toBe(v.tokens.filter((t) => t.trained).length);
    expect(v.fullLength).toBe(v.tokens.length);
  });

  it('the longest row in tokens, and truncation counts, are reported (and shown)', async () => {
    const tok = await demoTokenizer();
    const rows = [{ text: 'short' }, { text: 'long text '.repeat(80) }, { text: 'also short' }, { text: 'long text '.repeat(40) }];
    const d = await prepareDataset(fromText('t.jsonl', jsonl(rows)), tok, { maxLength: 64, explain: [] });
    const s = d.report.stats!;
    expect(s.longest).toMatchObject({ row: 2, line: 2, tokens: 64 });
    expect(s.longest!.fullLength).toBeGreaterThan(150);
    expect(s.truncated).toBe(2);
    expect(d.info.stats!.maxTokens).toBe(64);
    expect(d.info.stats!.truncatedRows).toBe(2);
    expect(d.report.samples.map((x) => x.row)).toEqual([2]);
    expect(d.report.samples[0]).toMatchObject({ truncated: true, fullLength: s.longest!.fullLength });
    // Only what the model sees is in the report: the text stops at the last kept token.
    const v = d.report.samples[0];
    expect(v.text.length + v.textCut!).toBe('long text '.repeat(80).length);
    expect(v.text).toBe(v.tokens.map((t) => t.text).join(''));
    expect(d.report.warnings.join('\n')).toMatch(/2 rows are longer than 64 tokens and cut \(the longest: \d+ tokens, row 2\)/);
  });

  it('explainRows renders any row asked, by row or by line, reading no further', async () => {
    const tok = await demoTokenizer();
    const text = '\n' + jsonl([chat(1), chat(2), { messages: 'oops' }, chat(4)]) + '{never read\n'.repeat(100);
    const views = await explainRows(fromText('c.jsonl', text), tok, { rows: [2], lines: [4] }, { maxLength: 128 });
    expect(views.map((v) => [v.row, v.line, v.error?.code])).toEqual([
      [2, 3, undefined],
      [3, 4, 'wrong-type'],
    ]);
    expect(views[0].tokens.some((t) => t.trained)).toBe(true);
  });

  it('a validation fraction is seeded; duplicates between train and validation are counted and shown', async () => {
    const tok = await demoTokenizer();
    // Rows 1..100 are distinct; rows 101..120 repeat rows 1..20.
    const rows = [...Array.from({ length: 100 }, (_, i) => chat(i * 7 + 1000)), ...Array.from({ length: 20 }, (_, i) => chat(i * 7 + 1000))];
    const d = await prepareDataset(fromText('dup.jsonl', jsonl(rows)), tok, { maxLength: 128, validation: { fraction: 0.2 }, seed: 3 });
    const split = d.report.split!;
    expect(split.mode).toBe('fraction');
    expect(split.trainExamples + split.validationExamples).toBe(120);
    const dup = d.report.duplicates!;
    expect(dup.count).toBeGreaterThan(0);
    // Each reported pair really is the same row content, 100 rows apart.
    for (const e of dup.examples) expect(Math.abs(e.train.row - e.validation.row)).toBe(100);
    expect(dup.withinTrain).toBeGreaterThanOrEqual(0);
    expect(d.report.warnings.join('\n')).toMatch(/validation examples? also appears? in training/);
    const again = await prepareDataset(fromText('dup.jsonl', jsonl(rows)), tok, { maxLength: 128, validation: { fraction: 0.2 }, seed: 3 });
    expect(again.report.split).toEqual(split);
  });

  it('a separate validation file, and too few rows for a split', async () => {
    const tok = await demoTokenizer();
    const d = await prepareDataset(fromText('t.jsonl', jsonl([chat(1), chat(2)])), tok, { maxLength: 128, validation: { source: fromText('v.jsonl', jsonl([chat(1), chat(9)])) } });
    expect(d.report.split).toMatchObject({ mode: 'file', trainExamples: 2, validationExamples: 2 });
    expect(d.report.duplicates).toMatchObject({ count: 1, examples: [{ train: { file: 't.jsonl', row: 1 }, validation: { file: 'v.jsonl', row: 1 } }] });
    const small = await prepareDataset(fromText('s.jsonl', jsonl([chat(1), chat(2), chat(3)])), tok, { maxLength: 128, validation: { fraction: 0.1, minRows: 20 } });
    expect(small.report.split).toMatchObject({ validationExamples: 0, trainExamples: 3, note: expect.stringMatching(/no validation split: 3 examples/) });
    expect(small.validation).toBeNull();
  });

  it('without a tokenizer it previews and detects only, reading no further than the preview', async () => {
    const text = jsonl(Array.from({ length: 30 }, (_, i) => chat(i))) + '{broken\n'.repeat(1000);
    const d = await prepareDataset(fromText('c.jsonl', text), null, { maxLength: 128 });
    expect(d.report.ok).toBe(true);
    expect(d.info.stats).toBeNull();
    expect(d.info.kind).toBe('chat');
    expect(d.info.preview).toHaveLength(20);
  });

  it('the report is plain data (survives structured cloning)', async () => {
    const tok = await demoTokenizer();
    const d = await prepareDataset(fromText('c.jsonl', jsonl([chat(1), chat(2)])), tok, { maxLength: 128 });
    expect(structuredClone(d.info)).toEqual(d.info);
  });
});
