import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { ClassificationBatcher, encodeClassification, longestFirst, resolveLabels } from '../../../src/data/classify';
import { loadDataset, prepareDataset } from '../../../src/data/dataset';
import { fromBytes, fromText } from '../../../src/data/source';
import { loadTokenizer, prepareTokenizer, type LoadedTokenizer } from '../../../src/data/tokenize';
import { generateRobertaTokenizer, generateWordPieceTokenizer } from '../../fixtures/data/tokenizers';
import { demoTokenizer } from './tokenizer';

let bert: Promise<LoadedTokenizer> | undefined;
let roberta: Promise<LoadedTokenizer> | undefined;
const tokenizers = () => ({ bert: (bert ??= loadTokenizer(generateWordPieceTokenizer())), roberta: (roberta ??= loadTokenizer(generateRobertaTokenizer())) });

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('encoding text pairs as the encoder does', () => {
  const a = 'The quick brown fox jumps over the lazy dog.';
  const b = 'Does the dog care? The fox runs on into the woods.';
  for (const name of ['bert', 'roberta'] as const) {
    it(`${name}: ids and token types equal the tokenizer's own (pair and single)`, async () => {
      const tok = await tokenizers()[name];
      const p = prepareTokenizer(tok);
      const call = tok as unknown as (t: string, o: Record<string, unknown>) => { input_ids: number[]; token_type_ids?: number[] };
      for (const pair of [b, undefined]) {
        const mine = encodeClassification(p, a, pair, 512);
        const theirs = call(a, { text_pair: pair ?? null, return_tensor: false });
        expect(Array.from(mine.ids)).toEqual(theirs.input_ids);
        expect(Array.from(mine.tokenTypeIds)).toEqual(theirs.token_type_ids ?? new Array(mine.ids.length).fill(0));
        expect(mine.truncated).toBe(false);
      }
      const text = tok.decode(Array.from(encodeClassification(p, a, b, 512).ids), { skip_special_tokens: false });
      if (name === 'bert') expect(text).toMatch(/^\[CLS\] the quick .* dog\. \[SEP\] does the dog .* \[SEP\]$/);
      else expect(text).toMatch(/^<s>The quick .*dog\.<\/s><\/s>Does the dog .*<\/s>$/);
    });
  }
  it('truncation is longest-first and keeps every special token', async () => {
    const p = prepareTokenizer(await tokenizers().bert);
    const cut = encodeClassification(p, a, b, 16);
    expect(cut.ids.length).toBe(16);
    expect(cut.truncated).toBe(true);
    const text = (await tokenizers().bert).decode(Array.from(cut.ids), { skip_special_tokens: false });
    expect(text.startsWith('[CLS]')).toBe(true);
    expect(text.match(/\[SEP\]/g)).toHaveLength(2);
    // Against Hugging Face's loop: remove one token at a time from the longer (the pair on ties).
    for (const [la, lb, budget] of [[10, 3, 8], [5, 5, 7], [9, 8, 6], [2, 3, 10], [100, 1, 1]]) {
      let [x, y] = [la, lb];
      while (x + y > budget) if (x > y) x--;
      else y--;
      expect(longestFirst(la, lb, budget)).toEqual([x, y]);
    }
  });
});

describe('labels', () => {
  const at = (i: number) => ({ row: i + 1, line: i + 2 });
  it('names are sorted into ids; integer ids stay ids (gaps kept); floats are regression; lists are multi-label', () => {
    expect(resolveLabels(['pos', 'neg', 'pos', 'neutral'], at, 'f')).toMatchObject({ task: 'single_label', names: ['neg', 'neutral', 'pos'], values: Int32Array.from([2, 0, 2, 1]) });
    expect(resolveLabels([0, 2, '2', 0], at, 'f')).toMatchObject({ task: 'single_label', names: ['0', '1', '2'], numLabels: 3, values: Int32Array.from([0, 2, 2, 0]) });
    expect(resolveLabels([0.5, 4.25, '3'], at, 'f')).toMatchObject({ task: 'regression', numLabels: 1, values: Float32Array.from([0.5, 4.25, 3]) });
    const multi = resolveLabels([['b', 'a'], [], ['c']], at, 'f');
    expect(multi).toMatchObject({ task: 'multi_label', names: ['a', 'b', 'c'], numLabels: 3 });
    expect(Array.from(multi.values)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 1]);
    expect(resolveLabels([1, 5, 3], at, 'f', 'regression')).toMatchObject({ task: 'regression' });
  });
  it('a list among single labels is a bad-label error naming the row and line', () => {
    expect(() => resolveLabels(['a', 'b', ['a']], at, 'f.jsonl')).toThrow(/f\.jsonl:4 \(row 3\): label \["a"\] is a list, but other rows have one label/);
    expect(() => resolveLabels([1.5, 'x'], at, 'f', 'regression')).toThrow(/label "x" is not a number/);
  });
});

describe('classification datasets end to end', () => {
  const reviews = [
    ['a wonderful warm film', 'positive'],
    ['dull and far too long', 'negative'],
    ['the best fox story in years', 'positive'],
    ['I want my evening back', 'negative'],
    ['quietly brilliant', 'positive'],
    ['nothing happens, slowly', 'negative'],
  ];
  const rows = Array.from({ length: 60 }, (_, i) => ({ text: `${reviews[i % 6][0]} (${i})`, label: reviews[i % 6][1] }));
  const csv = 'text,label\n' + rows.map((r) => `"${r.text}",${r.label}`).join('\n') + '\n';
  const tsv = 'text\tlabel\n' + rows.map((r) => `${r.text}\t${r.label}`).join('\n') + '\n';
  const parquet = new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: 'text', data: rows.map((r) => r.text), type: 'STRING' },
        { name: 'label', data: rows.map((r) => r.label), type: 'STRING' },
      ],
    }),
  );
  const sources = () => [
    fromText('r.csv', csv),
    fromText('r.tsv', tsv),
    fromText('r.jsonl', jsonl(rows)),
    fromText('r.json', JSON.stringify(rows)),
    fromBytes('r.parquet', parquet),
  ];
  it('text + label in CSV, TSV, JSONL, JSON and Parquet give the same examples and labels', async () => {
    const tok = await tokenizers().bert;
    const results = [];
    for (const src of sources()) {
      const d = await loadDataset(src, tok, { maxLength: 64, objective: 'classification' });
      expect(d.mapping).toEqual({ kind: 'classification', text: 'text', label: 'label' });
      const c = d.classification!;
      expect(c.labels).toEqual({ task: 'single_label', names: ['negative', 'positive'], numLabels: 2 });
      results.push(Array.from({ length: c.train.length }, (_, i) => [Array.from(c.train.get(i).ids), c.train.labels!.values[i]]));
      expect(d.report.classes).toMatchObject({ task: 'single_label', trainCounts: [30, 30] });
    }
    for (const r of results) expect(r).toEqual(results[0]);
  });

  it('a stratified split holds out each class in proportion, seeded', async () => {
    const tok = await tokenizers().roberta;
    const skewed = [...rows.slice(0, 50), ...Array.from({ length: 10 }, (_, i) => ({ text: `rare ${i}`, label: 'rare' }))];
    const d = await prepareDataset(fromText('s.jsonl', jsonl(skewed)), tok, { maxLength: 64, objective: 'classification', validation: { fraction: 0.2 }, seed: 7 });
    const cls = d.report.classes!;
    expect(cls.names).toEqual(['negative', 'positive', 'rare']);
    expect(cls.validationCounts).toEqual([5, 5, 2]);
    expect(cls.trainCounts).toEqual([20, 20, 8]);
    expect(d.report.split).toMatchObject({ stratified: true, validationExamples: 12, trainExamples: 48 });
    const again = await prepareDataset(fromText('s.jsonl', jsonl(skewed)), tok, { maxLength: 64, objective: 'classification', validation: { fraction: 0.2 }, seed: 7 });
    expect(Array.from({ length: 12 }, (_, i) => again.classification!.validation!.rowOf(i))).toEqual(Array.from({ length: 12 }, (_, i) => d.classification!.validation!.rowOf(i)));
  });

  it('imbalanced classes are warned about; a sample shows the label with its id', async () => {
    const tok = await tokenizers().bert;
    const lopsided = [...Array.from({ length: 40 }, (_, i) => ({ text: `the dog ${i}`, label: 'ok' })), { text: 'the fox', label: 'bad' }, { text: 'the fox too', label: 'bad' }];
    const d = await prepareDataset(fromText('l.jsonl', jsonl(lopsided)), tok, { maxLength: 32, objective: 'classification' });
    expect(d.report.warnings.join('\n')).toMatch(/classes are imbalanced: "ok" has 40 examples \(95\.2%\), "bad" has 2/);
    expect(d.report.samples[0]).toMatchObject({ objective: 'classification', label: { raw: 'ok', ids: [1], names: ['ok'] } });
    expect(d.report.samples[0].tokens.map((t) => t.text)).toEqual(['[CLS]', 'the', 'dog', '0', '[SEP]']);
  });

  it('sentence pairs with label ids, regression floats, multi-label lists', async () => {
    const tok = await tokenizers().bert;
    const pairs = Array.from({ length: 8 }, (_, i) => ({ sentence1: `the dog ${i}`, sentence2: `the fox ${i}`, label: i % 3 }));
    const p = await loadDataset(fromText('p.jsonl', jsonl(pairs)), tok, { maxLength: 32, objective: 'classification' });
    expect(p.classification!.labels).toEqual({ task: 'single_label', names: ['0', '1', '2'], numLabels: 3 });
    expect(Array.from(p.classification!.train.get(0).tokenTypeIds)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1]); // [CLS] the dog 0 [SEP] | the fox 0 [SEP]
    const sts = pairs.map((r, i) => ({ ...r, label: i * 0.5 }));
    const r = await loadDataset(fromText('r.jsonl', jsonl(sts)), tok, { maxLength: 32, objective: 'classification' });
    expect(r.classification!.labels.task).toBe('regression');
    expect(r.report.classes!.range).toEqual({ min: 0, max: 3.5, mean: 1.75 });
    const multi = Array.from({ length: 6 }, (_, i) => ({ text: `story ${i}`, labels: i % 2 ? ['sports'] : ['sports', 'politics'] }));
    const m = await loadDataset(fromText('m.jsonl', jsonl(multi)), tok, { maxLength: 32, objective: 'classification' });
    expect(m.classification!.labels).toEqual({ task: 'multi_label', names: ['politics', 'sports'], numLabels: 2 });
    expect(m.report.classes!.trainCounts).toEqual([3, 6]);
  });

  it('batches pad to the longest row of the batch, with an attention mask; the cursor resumes', async () => {
    const tok = await tokenizers().bert;
    const d = await loadDataset(fromText('b.jsonl', jsonl(rows.slice(0, 10))), tok, { maxLength: 64, objective: 'classification' });
    const store = d.classification!.train;
    const batcher = new ClassificationBatcher(store, { batchSize: 4, padId: 0, seed: 1, epochs: 2 });
    const b = batcher.next()!;
    const lengths = Array.from({ length: 4 }, (_, r) => b.attentionMask.subarray(r * b.T, (r + 1) * b.T).reduce((x, y) => x + y, 0));
    expect(b.T).toBe(Math.max(...lengths));
    for (let r = 0; r < 4; r++) for (let t = lengths[r]; t < b.T; t++) expect(b.inputIds[r * b.T + t]).toBe(0);
    expect(b.labels).toBeInstanceOf(Int32Array);
    expect(b.rows).toBe(4);
    const rest = [batcher.next()!, batcher.next()!];
    expect(rest[1].rows).toBe(2); // 10 = 4 + 4 + 2
    expect(Array.from(rest[1].labels.subarray(2))).toEqual([-100, -100]);
    const resumed = new ClassificationBatcher(store, { batchSize: 4, padId: 0, epochs: 2, cursor: batcher.cursor });
    expect(resumed.next()).toEqual(batcher.next());
  });

  it('a causal LM refuses classification pairs, an encoder refuses chat rows, each saying what to do', async () => {
    const tok = await demoTokenizer();
    const pairs = jsonl([{ sentence1: 'a', sentence2: 'b', label: 0 }]);
    await expect(loadDataset(fromText('p.jsonl', pairs), tok, { maxLength: 32 })).rejects.toMatchObject({ code: 'option', message: expect.stringMatching(/choose an encoder model/) });
    const chatRows = jsonl([{ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] }]);
    await expect(loadDataset(fromText('c.jsonl', chatRows), await tokenizers().bert, { maxLength: 32, objective: 'classification' })).rejects.toMatchObject({
      code: 'option',
      message: expect.stringMatching(/--schema classification --columns text=…,label=…/),
    });
  });
});
