import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { openSafetensors } from '../../src/formats/safetensors';
import { cliIo as io } from '../helpers/cliIo';
import { classifierOutput } from '../helpers/seqClsFolder';

const MODEL = 'public/models/demo-bert';
const DATA = 'public/samples/reviews-sentiment.jsonl';

describe('adapter-studio CLI on the demo encoder (the recipe: BERT, LoRA r 8 on query/value, a trained head, eval metrics)', () => {
  it('train with the defaults reaches eval_accuracy ≥ 0.9 and writes a SEQ_CLS adapter with the head under PEFT\'s keys; eval, inspect and merge read it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adapter-studio-bert-'));
    const out = join(dir, 'adapter');
    const t = io();
    const code = await main(['train', '--model', MODEL, '--data', DATA, '--out', out], t.io);
    expect(t.text.err.includes('error:') ? t.text.err : '').toBe('');
    expect(code).toBe(0);
    // What the run said about the task and the module names.
    expect(t.text.err).toMatch(/task: single_label_classification \(detected from the labels\), 3 labels: negative \(126\), neutral \(126\), positive \(126\)/);
    expect(t.text.err).toMatch(/q_proj → attention\.self\.query, v_proj → attention\.self\.value \(target_modules \["query","value"\]\)/);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json', 'config.json', 'metrics.jsonl', 'checkpoint.ascp']) expect(existsSync(join(out, f)), f).toBe(true);

    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const evals = lines.filter((l) => 'eval_accuracy' in l);
    expect(evals.map((e) => e.step)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 72]);
    for (const e of evals) expect(Object.keys(e)).toEqual(expect.arrayContaining(['eval_loss', 'eval_accuracy', 'eval_f1']));
    const final = evals.at(-1)!;
    console.log(`[encoder cli] eval_accuracy ${evals.map((e) => e.eval_accuracy.toFixed(3)).join(' → ')}`);
    expect(final.eval_accuracy).toBeGreaterThanOrEqual(0.9);
    expect(final.eval_f1).toBeGreaterThanOrEqual(0.9);
    const report = lines.at(-1)!;
    expect(Object.keys(report.eval_per_class)).toEqual(['negative', 'neutral', 'positive']);
    expect(report.eval_confusion.labels).toEqual(['negative', 'neutral', 'positive']);
    expect(report.eval_confusion.counts.flat().reduce((a: number, b: number) => a + b, 0)).toBe(42);
    expect(lines.filter((l) => 'loss' in l).map((l) => l.step)).toEqual([10, 20, 30, 40, 50, 60, 70, 72]);

    // PEFT SEQ_CLS files, key by key.
    const st = await openSafetensors(new Uint8Array(readFileSync(join(out, 'adapter_model.safetensors'))));
    const names = [...st.names].sort();
    const lora = (l: number, m: string, w: string) => `base_model.model.bert.encoder.layer.${l}.attention.self.${m}.lora_${w}.weight`;
    expect(names).toEqual([
      'base_model.model.classifier.bias', 'base_model.model.classifier.weight',
      lora(0, 'query', 'A'), lora(0, 'query', 'B'), lora(0, 'value', 'A'), lora(0, 'value', 'B'),
      lora(1, 'query', 'A'), lora(1, 'query', 'B'), lora(1, 'value', 'A'), lora(1, 'value', 'B'),
    ].sort());
    expect(st.info('base_model.model.classifier.weight').shape).toEqual([3, 64]);
    expect(st.info(lora(1, 'value', 'B')).shape).toEqual([64, 8]);
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ task_type: 'SEQ_CLS', modules_to_save: ['classifier', 'score'], target_modules: ['query', 'value'], r: 8, lora_alpha: 16, peft_type: 'LORA' });
    const labels = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(labels).toMatchObject({ architectures: ['BertForSequenceClassification'], id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' }, label2id: { negative: 0, neutral: 1, positive: 2 }, problem_type: 'single_label_classification' });

    const inspect = io();
    expect(await main(['inspect', out, '--model', MODEL], inspect.io)).toBe(0);
    expect(inspect.text.out).toMatch(/PEFT LoRA adapter \(SEQ_CLS\), r 8, alpha 16/);
    expect(inspect.text.out).toMatch(/labels \(config\.json\): single_label_classification, negative, neutral, positive/);
    expect(inspect.text.out).toMatch(/valid against public\/models\/demo-bert: yes \(4 adapted projections and 2 head tensors/);

    // The merged BertForSequenceClassification classifies as well as base + adapter.
    const merged = join(dir, 'merged');
    const m = io();
    expect(await main(['merge', '--model', MODEL, '--adapter', out, '--out', merged], m.io)).toBe(0);
    const im = io();
    expect(await main(['inspect', merged], im.io)).toBe(0);
    expect(im.text.out).toMatch(/bert encoder \(BertForSequenceClassification\)/);
    expect(im.text.out).toMatch(/classification head: stored \(3 labels: negative, neutral, positive, single_label_classification\)/);
    const withAdapter = io();
    expect(await main(['eval', '--model', MODEL, '--adapter', out, '--data', DATA], withAdapter.io)).toBe(0);
    const mergedEval = io();
    expect(await main(['eval', '--model', merged, '--data', DATA], mergedEval.io)).toBe(0);
    const a = JSON.parse(withAdapter.text.out);
    const b = JSON.parse(mergedEval.text.out);
    console.log(`[encoder cli] all 420 rows: adapter eval_accuracy ${a.eval_accuracy}, merged ${b.eval_accuracy}; eval_loss ${a.eval_loss} vs ${b.eval_loss}`);
    expect(a.eval_accuracy).toBeGreaterThanOrEqual(0.9);
    expect(b.eval_accuracy).toBe(a.eval_accuracy);
    expect(Math.abs(a.eval_loss - b.eval_loss)).toBeLessThan(1e-4);
  });

  it('evaluates a classifier as the PyTorch export\'s train.py writes it (PEFT SEQ_CLS layout, labels in config.json): the same metrics as a studio adapter', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'adapter-studio-bert-import-')), 'output');
    classifierOutput(root);
    const t = io();
    expect(await main(['eval', '--model', MODEL, '--adapter', root, '--data', DATA], t.io)).toBe(0);
    const m = JSON.parse(t.text.out);
    console.log(`[encoder cli] imported PyTorch classifier on all 420 rows: eval_loss ${m.eval_loss}, eval_accuracy ${m.eval_accuracy}, eval_f1 ${m.eval_f1}`);
    expect(Object.keys(m)).toEqual(expect.arrayContaining(['eval_loss', 'eval_accuracy', 'eval_f1']));
    expect(Number.isFinite(m.eval_loss)).toBe(true);
    expect(m.eval_accuracy).toBeGreaterThanOrEqual(0);
    expect(m.eval_accuracy).toBeLessThanOrEqual(1);
  });
});

