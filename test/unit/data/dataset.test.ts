import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../../src/data/batches';
import { analyzeDataset, loadDataset, previewDataset } from '../../../src/data/dataset';
import { DatasetError, DatasetErrorList } from '../../../src/data/errors';
import { fromPath } from '../../../src/data/nodeSource';
import { fromText } from '../../../src/data/source';
import { demoTokenizer } from './tokenizer';

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const alpaca = (i: number) => ({ instruction: `Repeat the number ${i}`, input: i % 3 ? '' : `context ${i}`, output: `${i} ${i} ${i}` });
const chat = (i: number) => ({
  messages: [
    { role: 'user', content: `Hello number ${i}` },
    { role: 'assistant', content: `Hello back ${'!'.repeat(i % 5)}` },
  ],
});

describe('loadDataset', () => {
  it('alpaca JSONL end to end: detection, statistics, and batches the engine can take', async () => {
    const tok = await demoTokenizer();
    const src = fromText('train.jsonl', jsonl(Array.from({ length: 40 }, (_, i) => alpaca(i))));
    const d = await loadDataset(src, tok, { maxLength: 512 });
    expect(d.mapping).toEqual({ kind: 'alpaca', instruction: 'instruction', input: 'input', output: 'output' });
    expect(d.train.length).toBe(40);
    expect(d.validation).toBeUndefined();
    const s = d.stats;
    expect([s.rows, s.examples, s.rejected, s.truncated]).toEqual([40, 40, 0, 0]);
    expect(s.tokens).toBe(d.train.tokens);
    expect(s.targetTokens).toBeGreaterThan(0);
    expect(s.targetTokens).toBeLessThan(s.tokens / 2);
    expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(40);
    expect(s.histogram.edges[0]).toBe(0);
    expect(s.minLength).toBeLessThanOrEqual(s.meanLength);
    expect(s.meanLength).toBeLessThanOrEqual(s.maxLength);
    const b = new Batcher(d.train, { batchSize: 4, seqLen: 512, padId: tok.pad_token_id ?? 0, seed: 1, packing: true });
    const batch = b.next()!;
    expect(batch.targetTokens).toBeGreaterThan(0);
    expect(batch.inputIds.length).toBe(4 * 512);
  });

  it('counts truncated rows and fills the overflow bin of the histogram', async () => {
    const tok = await demoTokenizer();
    const rows = [{ text: 'short' }, { text: 'long text '.repeat(50) }, { text: 'also short' }];
    const d = await loadDataset(fromText('t.jsonl', jsonl(rows)), tok, { maxLength: 32 });
    expect(d.stats.truncated).toBe(1);
    expect(d.stats.histogram.counts.at(-1)).toBe(1);
    expect(d.stats.maxLength).toBeGreaterThan(32);
    expect(d.train.lengthOf(1)).toBe(32);
  });

  it('stops after 20 bad rows and lists them', async () => {
    const tok = await demoTokenizer();
    const rows: unknown[] = [];
    for (let i = 0; i < 60; i++) rows.push(i % 2 ? alpaca(i) : { instruction: `x${i}`, output: '' });
    const err = await loadDataset(fromText('bad.jsonl', jsonl(rows)), tok, { maxLength: 512 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetErrorList);
    const list = err as DatasetErrorList;
    expect(list.stoppedEarly).toBe(true);
    expect(list.errors.length).toBe(20);
    expect(list.errors.map((e) => e.line)).toEqual(Array.from({ length: 20 }, (_, k) => 2 * k + 1));
    expect(list.message).toMatch(/^stopped after 20 bad rows/);
    expect(list.message).toContain('bad.jsonl:39 (row 39): column "output" (response) is empty');
  });

  it('maxErrors sets where reading stops', async () => {
    const tok = await demoTokenizer();
    const text = jsonl(Array.from({ length: 10 }, (_, i) => ({ instruction: `x${i}` })));
    const err = (await loadDataset(fromText('m.jsonl', text), tok, { maxLength: 512, maxErrors: 3, mapping: { kind: 'alpaca', instruction: 'instruction', output: 'output' } }).catch((e: unknown) => e)) as DatasetErrorList;
    expect(err).toBeInstanceOf(DatasetErrorList);
    expect([err.errors.length, err.stoppedEarly]).toEqual([3, true]);
  });

  it('fails on fewer bad rows too, listing each, unless told to skip', async () => {
    const tok = await demoTokenizer();
    const rows = [alpaca(1), { instruction: 'x' }, alpaca(2), 'not json', alpaca(3)];
    const text = rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');
    const err = await loadDataset(fromText('few.jsonl', text), tok, { maxLength: 512 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetErrorList);
    expect((err as DatasetErrorList).stoppedEarly).toBe(false);
    expect((err as DatasetErrorList).errors.map((e) => [e.code, e.line])).toEqual([
      ['missing-column', 2],
      ['invalid-json', 4],
    ]);
    const d = await loadDataset(fromText('few.jsonl', text), tok, { maxLength: 512, onError: 'skip' });
    expect(d.train.length).toBe(3);
    expect(d.stats.rejected).toBe(2);
    expect(d.stats.rejectedByReason).toEqual({ 'missing-column': 1, 'invalid-json': 1 });
    expect(d.stats.errors.map((e) => e.line)).toEqual([2, 4]);
    expect(d.stats.rows).toBe(5);
  });

  it('a file whose rows are all bad is refused even when skipping', async () => {
    const tok = await demoTokenizer();
    await expect(loadDataset(fromText('all-bad.jsonl', '{"instruction":"x","output":""}\n'), tok, { maxLength: 64, onError: 'skip' })).rejects.toMatchObject({ code: 'no-rows' });
  });

  it('ShareGPT chat in a gzip JSON array; the second file is the validation set', async () => {
    const tok = await demoTokenizer();
    const share = (i: number) => ({ conversations: [{ from: 'human', value: `q${i}` }, { from: 'gpt', value: `a${i}` }] });
    const train = { name: 'chat.json.gz', text: JSON.stringify(Array.from({ length: 10 }, (_, i) => share(i))) };
    const gz = gzipSync(new TextEncoder().encode(train.text));
    const { fromBytes } = await import('../../../src/data/source');
    const d = await loadDataset(fromBytes(train.name, gz), tok, { maxLength: 64, validation: { source: fromText('val.jsonl', jsonl([share(100), share(101)])) } });
    expect(d.mapping).toEqual({ kind: 'chat', messages: 'conversations', role: 'from', content: 'value' });
    expect(d.train.length).toBe(10);
    expect(d.validation?.length).toBe(2);
    expect(d.validationStats?.examples).toBe(2);
    const ex = d.validation!.get(1);
    expect(tok.decode(Array.from(ex.ids), { skip_special_tokens: false })).toBe('<|im_start|>user\nq101<|im_end|>\n<|im_start|>assistant\na101<|im_end|>\n');
  });

  it('a validation fraction is deterministic by seed and disjoint from training', async () => {
    const tok = await demoTokenizer();
    const src = () => fromText('c.jsonl', jsonl(Array.from({ length: 200 }, (_, i) => chat(i))));
    const a = await loadDataset(src(), tok, { maxLength: 64, validation: { fraction: 0.1 }, seed: 5 });
    const b = await loadDataset(src(), tok, { maxLength: 64, validation: { fraction: 0.1 }, seed: 5 });
    const c = await loadDataset(src(), tok, { maxLength: 64, validation: { fraction: 0.1 }, seed: 6 });
    const ids = (s: typeof a.train) => Array.from({ length: s.length }, (_, i) => tok.decode(Array.from(s.get(i).ids)));
    expect(ids(a.validation!)).toEqual(ids(b.validation!));
    expect(ids(a.validation!)).not.toEqual(ids(c.validation!));
    expect(a.train.length + a.validation!.length).toBe(200);
    expect(a.validation!.length).toBeGreaterThan(8);
    expect(a.validation!.length).toBeLessThan(40);
    const trainSet = new Set(ids(a.train));
    expect(ids(a.validation!).some((v) => trainSet.has(v))).toBe(false);
  });

  it('a user-chosen column mapping reads a CSV that detection cannot place', async () => {
    const tok = await demoTokenizer();
    const csv = 'question,reply\nWhat is 2+2?,4\n"Say ""hi""",hi\n';
    await expect(loadDataset(fromText('qa.csv', csv), tok, { maxLength: 64 })).rejects.toMatchObject({ code: 'schema-unknown' });
    const d = await loadDataset(fromText('qa.csv', csv), tok, { maxLength: 512, mapping: { kind: 'alpaca', instruction: 'question', output: 'reply' } });
    expect(d.train.length).toBe(2);
    expect(tok.decode(Array.from(d.train.get(1).ids))).toContain('### Instruction:\nSay "hi"\n\n### Response:\nhi');
  });

  it('reads a path in Node, reports progress and honours an AbortSignal', async () => {
    const tok = await demoTokenizer();
    const dir = await mkdtemp(join(tmpdir(), 'data-'));
    try {
      const p = join(dir, 'many.jsonl');
      await writeFile(p, jsonl(Array.from({ length: 500 }, (_, i) => ({ text: `document ${i}` }))));
      const seen: number[] = [];
      const bytes: number[] = [];
      const source = await fromPath(p);
      const stats = await analyzeDataset(source, tok, {
        maxLength: 64,
        progressEvery: 100,
        onProgress: (x) => {
          seen.push(x.rows);
          bytes.push(x.bytes);
          expect(x.totalBytes).toBe(source.size);
        },
      });
      expect(stats.examples).toBe(500);
      expect(seen).toEqual([100, 200, 300, 400, 500, 500]);
      expect(bytes.at(-1)).toBe(source.size);
      expect(bytes.every((b, i) => b > 0 && (i === 0 || b >= bytes[i - 1]))).toBe(true);
      const ac = new AbortController();
      ac.abort();
      await expect(analyzeDataset(await fromPath(p), tok, { maxLength: 64, signal: ac.signal })).rejects.toThrow(/abort/i);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('previewDataset', () => {
  it('returns the first rows, the detection and row errors, reading no further', async () => {
    const text = jsonl(Array.from({ length: 10 }, (_, i) => alpaca(i))) + '{broken\n' + jsonl(Array.from({ length: 1000 }, (_, i) => alpaca(i)));
    const p = await previewDataset(fromText('p.jsonl', text), { previewRows: 12 });
    expect(p.format).toBe('jsonl');
    expect(p.rows.length).toBe(11);
    expect(p.errors.map((e) => [e.code, e.line])).toEqual([['invalid-json', 11]]);
    expect(p.detection.sure).toBe(true);
    expect(p.detection.mapping?.kind).toBe('alpaca');
  });
  it('DatasetError survives structured cloning as plain data', () => {
    const e = new DatasetError('invalid-utf8', 'bad byte', { file: 'f', line: 2, byteOffset: 9 });
    expect(structuredClone(e.toJSON())).toEqual({ code: 'invalid-utf8', reason: 'bad byte', message: 'f:2 (byte 9): bad byte', file: 'f', line: 2, row: undefined, byteOffset: 9 });
  });
});

describe('detection behind many bad rows', () => {
  it('skipping finds the good rows after 3000 bad ones without holding them', async () => {
    const tok = await demoTokenizer();
    const text = '{bad\n'.repeat(3000) + jsonl(Array.from({ length: 5 }, (_, i) => ({ text: `good ${i}` })));
    const d = await loadDataset(fromText('late.jsonl', text), tok, { maxLength: 64, onError: 'skip' });
    expect(d.train.length).toBe(5);
    expect(d.stats.rejected).toBe(3000);
    expect(d.stats.rejectedByReason).toEqual({ 'invalid-json': 3000 });
  });
});
