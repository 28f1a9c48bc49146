/**
 * The encoder classifier exports against the project's own GPU engine (EncoderGpu, f32 weights):
 *
 *  - the ONNX export (fp32) in transformers.js gives, for a padded batch, the logits the engine
 *    gives for base + adapter (unmerged: LoRA and the trained head on the GPU), row by row;
 *  - the merged Hugging Face export reads back through openModelFolder, loads in the engine as a
 *    classifier with its own head and labels, and gives the same logits as base + adapter.
 *
 * Tolerance: max |Δlogits| / max |logits| < 2e-5 (f32 on both sides, different summation orders;
 * measured ≤ 1.7e-6 on lavapipe, 2.6e-6 on SwiftShader);
 * the float64 reference (bert.ref.ts) on the merged weights is printed beside them.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoModelForSequenceClassification, AutoTokenizer, env } from '@huggingface/transformers';
import { EncoderGpu } from '../../../src/engine/model/encoder';
import { importAdapter } from '../../../src/engine/model/adapterFiles';
import { uploadAdapter } from '../../../src/engine/model/model';
import { concatParts, exportModel, openExportSource, readExportAdapter, type EncoderSource } from '../../../src/formats/export/index';
import { memoryFiles, openModelFolder, type EncoderFolder } from '../../../src/formats/modelFolder';
import type { SequenceClassificationTask } from '../../../src/formats/encoderConfig';
import { testGpu } from '../../helpers/gpu';
import { allWeights, asFileMap, encoderTestModel, referenceLogits, relErr, TASKS, testEncoderAdapter, type EncoderLabel } from '../../unit/export/encoderFixtures';

const root = mkdtempSync(join(tmpdir(), 'gpu-enc-export-'));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const RTOL = 2e-5;
const CASES: { label: EncoderLabel; task: SequenceClassificationTask }[] = [
  { label: 'demo-bert', task: TASKS.sentiment },
  { label: 'bert', task: TASKS.multiLabel },
  { label: 'roberta', task: TASKS.sentiment },
  { label: 'distilbert', task: TASKS.regression },
];

const ids = (t: { data: unknown }) => Array.from(t.data as BigInt64Array, Number);

describe('encoder exports match the GPU engine (base + adapter, unmerged)', () => {
  for (const c of CASES) {
    it(`${c.label} (${c.task.problemType}): ONNX in transformers.js and the merged HF folder in the engine`, async () => {
      const gpu = await testGpu();
      const m = await encoderTestModel(c.label);
      const t = testEncoderAdapter(m, c.task, 37);
      const folder = (await openModelFolder(m.files)) as EncoderFolder;
      const adapter = await readExportAdapter(folder, t.files);
      const source = (await openExportSource(m.files, adapter)) as EncoderSource;

      // The engine: the base checkpoint, the adapter as the studio imports it (its head's task from config.json).
      const imported = await importAdapter({ encoder: folder.spec, task: null, config: folder.config }, t.files);
      expect(imported.task).toEqual(c.task);
      const base = await EncoderGpu.load(gpu, folder.spec, (n) => folder.readTensorF32(n), { f16: false, tensorNames: folder.tensorNames, task: c.task });
      const live = uploadAdapter(gpu, imported.layout, imported.params);

      const onnx = await exportModel('onnx', source, adapter, { quant: 'fp32' });
      for (const [path, parts] of onnx) {
        const p = join(root, c.label, path);
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, concatParts(parts));
      }
      const tokenizer = await AutoTokenizer.from_pretrained(c.label);
      const rows = m.texts.map((text) => {
        const e = tokenizer(text);
        return { ids: ids(e.input_ids), types: e.token_type_ids ? ids(e.token_type_ids) : undefined };
      });
      const engine = await base.predict(rows, live);

      const batch = tokenizer(m.texts, { padding: true, truncation: true });
      const model = await AutoModelForSequenceClassification.from_pretrained(c.label, { dtype: 'fp32', device: 'cpu' });
      const tjs = (await model(batch)).logits.data as Float32Array;
      await model.dispose();
      const [B, T] = batch.input_ids.dims;
      const ref = referenceLogits(source.merged.spec, c.task, await allWeights(source.merged.spec, source.merged.weights), {
        B, T, inputIds: ids(batch.input_ids), attentionMask: ids(batch.attention_mask), tokenTypeIds: batch.token_type_ids ? ids(batch.token_type_ids) : null,
      });

      const hf = asFileMap(await exportModel('hf', source, adapter));
      const back = await openModelFolder(memoryFiles(hf, `${c.label}-merged`));
      if (back.family !== 'encoder') throw new Error('the merged folder is not an encoder');
      const merged = await EncoderGpu.load(gpu, back.spec, (n) => back.readTensorF32(n), { f16: false, tensorNames: back.tensorNames });
      expect(merged.task).toEqual(c.task); // labels and problem type from the merged config.json
      expect(merged.headSource.every((h) => h.fromCheckpoint)).toBe(true);
      const mergedLogits = await merged.predict(rows, null);

      const tjsVsEngine = relErr(tjs, engine);
      const mergedVsEngine = relErr(mergedLogits, engine);
      console.log(
        `[encoder export vs engine] ${c.label}: transformers.js fp32 vs engine ${tjsVsEngine.toExponential(2)}, merged HF in the engine vs base + adapter ${mergedVsEngine.toExponential(2)}; ` +
          `vs float64 on the merged weights: engine ${relErr(engine, ref).toExponential(2)}, transformers.js ${relErr(tjs, ref).toExponential(2)}`,
      );
      expect(tjsVsEngine).toBeLessThan(RTOL);
      expect(mergedVsEngine).toBeLessThan(RTOL);
      live.destroy();
      base.destroy();
      merged.destroy();
    });
  }
});
