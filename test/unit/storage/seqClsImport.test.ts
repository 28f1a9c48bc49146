/**
 * Back into the library, for a classifier: the folder the PyTorch export's train.py writes for a
 * classification run — a SEQ_CLS adapter exactly as PEFT 0.18's save_pretrained writes it (LoRA keys
 * under the encoder's module paths, the head PeftModelForSequenceClassification trains in full under
 * its modules_to_save keys, adapter_config.json with every field PEFT adds, modules_to_save
 * ["classifier", "score"], README.md), config.json with the labels (Transformers' save_pretrained of
 * the model config), trainer_state.json whose evaluations carry compute_metrics' eval_accuracy and
 * eval_f1, a checkpoint, and adapter_studio_run.json — imports as a folder and as a zip with its log,
 * its last evaluation's metrics and its labels, loads against the demo encoder with its task, and the
 * CLI inspects it and continues it.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { zipSync } from 'fflate';
import { readAdapterZip, validateAdapterFiles, IMPORT_FILE } from '../../../src/storage/adapterZip';
import { parseEncoderConfig } from '../../../src/formats/encoderConfig';
import { parseTrainerState, summarizeTrainerState } from '../../../src/formats/trainerState';
import { importAdapter } from '../../../src/engine/model/adapterFiles';
import { main } from '../../../src/cli/main';
import { cliIo as io } from '../../helpers/cliIo';
import { C, LABELS, LOG, MODEL, R, classifierOutput, labelsConfig, peftWeights, trainerState } from '../../helpers/seqClsFolder';

function folderEntries(root: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(`output/${relative(root, p)}`, new Uint8Array(readFileSync(p)));
    }
  };
  walk(root);
  return out;
}

describe("importing a classifier as PEFT's save_pretrained and the Trainer write it (SEQ_CLS, modules_to_save)", () => {
  const root = mkdtempSync(join(tmpdir(), 'pytorch-import-classifier-'));
  classifierOutput(root);
  const encoder = parseEncoderConfig(readFileSync(join(MODEL, 'config.json'), 'utf8'));

  it('keeps the last evaluation\'s metrics of trainer_state.json (compute_metrics\' eval_accuracy, eval_f1), not its timings', () => {
    const s = summarizeTrainerState(parseTrainerState(trainerState(10, LOG)));
    expect(s.finalEval).toEqual({ eval_accuracy: 0.9286, eval_f1: 0.928, eval_loss: 0.41 });
    expect(s.validationCurve).toEqual([[0, 1.0986], [5, 0.95], [10, 0.41]]);
    expect(summarizeTrainerState(parseTrainerState(trainerState(4, LOG.slice(1, 3)))).finalEval).toBeNull();
  });

  for (const how of ['a folder', 'the files a folder pick keeps', 'a zip'] as const) {
    it(`imports ${how}: the final adapter with its labels, its log and metrics, the run's settings`, async () => {
      let entries = folderEntries(root);
      if (how !== 'a folder') entries = new Map([...entries].filter(([k]) => IMPORT_FILE.test(k)));
      const v = how === 'a zip' ? await readAdapterZip(zipSync(Object.fromEntries(entries)), 'output.zip') : await validateAdapterFiles(entries);
      expect(v.folder).toBe('output');
      expect(v.config).toEqual({ baseModel: 'model', r: R, alpha: 8, dropout: 0.1, targets: ['q_proj', 'v_proj'], useRslora: false });
      expect(v.tensors).toBe(10);
      expect(v.files.labelsConfig).toBe(labelsConfig());
      expect(v.training).toMatchObject({ file: 'output/trainer_state.json', steps: 10, finalLoss: 0.66, finalValidationLoss: 0.41, trainSeconds: 3.5 });
      expect(v.training!.finalEval).toEqual({ eval_accuracy: 0.9286, eval_f1: 0.928, eval_loss: 0.41 });
      expect(v.run!.settings!.train.encoderDropout).toBe(false);
      expect(v.run!.dataset).toMatchObject({ name: 'reviews-sentiment.jsonl', rows: 420, kind: 'classification' });
      expect(v.run!.baseModel).toBe('adapter-studio/demo-bert');
      // It loads against the demo encoder with its head's task from config.json: the playground's, evaluation's and "continue"'s path.
      const imported = await importAdapter({ encoder, task: null }, { 'adapter_model.safetensors': v.files.adapterModel, 'adapter_config.json': v.files.adapterConfig, 'config.json': v.files.labelsConfig });
      expect(imported.task).toEqual({ problemType: 'single_label_classification', labels: LABELS });
      expect(imported.settings).toMatchObject({ r: R, alpha: 8, targets: ['q_proj', 'v_proj'] });
      // LoRA pairs of 2 layers × 2 modules, then the head (classifier weight and bias) PEFT trained in full.
      expect(imported.params.length).toBe(2 * 2 * (R * C + C * R) + 3 * C + 3);
    });
  }

  it('a stopped launch imports from its last checkpoint, labels included', async () => {
    const entries = folderEntries(root);
    for (const k of [...entries.keys()]) if (!k.includes('checkpoint-')) entries.delete(k);
    const v = await validateAdapterFiles(entries);
    expect(v.folder).toBe('output/checkpoint-5');
    expect(v.files.labelsConfig).toBe(labelsConfig());
    expect(v.training!.finalEval).toEqual({ eval_accuracy: 0.5714, eval_f1: 0.5, eval_loss: 0.95 });
  });

  it('refuses a head whose size is not the labels\' (a head for 2 outputs, 3 labels in config.json)', async () => {
    const entries = folderEntries(root);
    entries.set('output/adapter_model.safetensors', peftWeights(0.03, 2));
    const v = await validateAdapterFiles(entries);
    await expect(importAdapter({ encoder, task: null }, { 'adapter_model.safetensors': v.files.adapterModel, 'adapter_config.json': v.files.adapterConfig, 'config.json': v.files.labelsConfig })).rejects.toThrow(/label|head|output/);
  });

  it('the CLI inspects it against the demo encoder and continues it: export --init-adapter carries the labels and the steps', async () => {
    const t = io();
    expect(await main(['inspect', root, '--model', MODEL], t.io)).toBe(0);
    expect(t.text.out).toMatch(/PEFT LoRA adapter \(SEQ_CLS\), r 4, alpha 8/);
    expect(t.text.out).toMatch(/labels \(config\.json\): single_label_classification, negative, neutral, positive/);
    expect(t.text.out).toMatch(/valid against public\/models\/demo-bert: yes/);
    const dest = join(mkdtempSync(join(tmpdir(), 'pytorch-continue-classifier-')), 'run');
    const e = io();
    expect(await main(['export', '--format', 'pytorch', '--model', MODEL, '--data', 'public/samples/reviews-sentiment.jsonl', '--out', dest, '--init-adapter', root, '--batch-size', '8'], e.io)).toBe(0);
    const run = JSON.parse(readFileSync(join(dest, 'run.json'), 'utf8'));
    expect(run.init_adapter).toEqual({ path: 'init_adapter', name: relative(join(root, '..'), root), steps: 10 });
    expect(run.settings.lora).toMatchObject({ r: R, alpha: 8, dropout: 0.1, targets: ['q_proj', 'v_proj'] });
    expect(readFileSync(join(dest, 'init_adapter/config.json'), 'utf8')).toBe(labelsConfig());
    expect(readFileSync(join(dest, 'train.py'), 'utf8')).toMatch(/^INIT_ADAPTER_STEPS = 10 /m);
  });
});
