/**
 * Encoder classifiers through the export pieces (openExportSource, exportModel): the merged
 * …ForSequenceClassification Hugging Face folder — config.json with the adapter's labels, the
 * tokenizer files the source has (vocab.txt, vocab.json + merges.txt), Transformers' canonical
 * tensor names with the trained head — reads back through the project's own strict model-folder
 * reader with exactly the merged weights, and the float64 reference on it gives the logits of base +
 * adapter unmerged. GGUF is refused, and so is whatever would make an incomplete or non-finite model.
 */
import { describe, expect, it } from 'vitest';
import { memoryFiles, openModelFolder } from '../../../src/formats/modelFolder';
import { exportFormatsFor, exportModel, openExportSource, readExportAdapter, type EncoderSource } from '../../../src/formats/export/index';
import { encoderHeadTensors, expectedEncoderTensors } from '../../../src/formats/encoderConfig';
import { serializeSafetensors } from '../../../src/formats/safetensors';
import { fromF32 } from '../../../src/formats/dtype';
import { openSafetensors } from '../../../src/formats/safetensors';
import { encoderAdapterKey, encoderAdapterLayout, encoderReference } from '../../../src/engine/model/bert.ref';
import { ENCODER_TARGET_MODULE } from '../../../src/engine/model/encoderSpec';
import { ALL_ENCODER_TARGETS, allWeights, asFileMap, encoderTestModel, referenceLogits, TASKS, testEncoderAdapter, type EncoderLabel } from './encoderFixtures';

const CASES: { label: EncoderLabel; task: keyof typeof TASKS; tokenizer: string[] }[] = [
  { label: 'demo-bert', task: 'sentiment', tokenizer: ['vocab.txt'] },
  { label: 'bert', task: 'regression', tokenizer: ['vocab.txt'] },
  { label: 'roberta', task: 'sentiment', tokenizer: ['vocab.json', 'merges.txt'] },
  { label: 'distilbert', task: 'multiLabel', tokenizer: ['vocab.txt'] },
];

/** A fixed padded batch of token ids inside the vocabulary (the reference needs no tokenizer). */
function batchFor(family: string, vocab: number, pad: number, lengths = [6, 3, 5]) {
  const T = Math.max(...lengths);
  const inputIds: number[] = [];
  const attentionMask: number[] = [];
  lengths.forEach((n, b) => {
    for (let t = 0; t < T; t++) {
      inputIds.push(t < n ? 3 + ((b * 37 + t * 11) % (vocab - 3)) : pad);
      attentionMask.push(t < n ? 1 : 0);
    }
  });
  // BERT: the first row is a sentence pair (token types 1 from its fourth token).
  return { B: lengths.length, T, inputIds, attentionMask, tokenTypeIds: family === 'bert' ? inputIds.map((_, i) => (i < T && i >= 3 ? 1 : 0)) : null };
}

describe('encoder classifier exports', () => {
  it('offer onnx and hf, not GGUF', () => {
    expect(exportFormatsFor('encoder')).toEqual(['onnx', 'hf']);
    expect(exportFormatsFor('decoder')).toEqual(['onnx', 'gguf', 'gguf-adapter', 'hf']);
  });

  for (const c of CASES) {
    it(`${c.label} + a ${c.task} SEQ_CLS adapter → hf: the merged …ForSequenceClassification folder reads back as the merged model and classifies as base + adapter`, async () => {
      const m = await encoderTestModel(c.label);
      const task = TASKS[c.task];
      const t = testEncoderAdapter(m, task, 17);
      const adapter = await readExportAdapter(await openModelFolder(m.files), t.files);
      expect(adapter.task).toEqual(task); // from the adapter's config.json
      const source = (await openExportSource(m.files, adapter)) as EncoderSource;
      const files = asFileMap(await exportModel('hf', source, adapter));
      expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', ...c.tokenizer].filter((f) => m.fileMap.has(f) || f.startsWith('config') || f.startsWith('model')).sort());
      for (const f of c.tokenizer) expect(files.get(f), f).toBe(m.fileMap.get(f));
      const config = JSON.parse(files.get('config.json') as string);
      expect(config).toMatchObject({
        architectures: [m.spec.architecture], model_type: m.spec.modelType, problem_type: task.problemType, torch_dtype: 'float32',
        id2label: Object.fromEntries(task.labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(task.labels.map((l, i) => [l, i])),
      });
      expect(config.num_labels).toBeUndefined();

      // The stored names are Transformers' canonical ones (no gamma/beta), the head included, nothing else.
      const st = await openSafetensors(files.get('model.safetensors') as Uint8Array);
      const spec = { ...m.spec, numLabels: task.labels.length };
      const want = [...expectedEncoderTensors(spec), ...encoderHeadTensors(spec, spec.numLabels)];
      expect([...st.names].sort()).toEqual(want.map((w) => w.name).sort());

      const back = await openModelFolder(memoryFiles(files, `${c.label}-merged`));
      if (back.family !== 'encoder') throw new Error('not an encoder');
      expect(back.weights.head).toBe('present');
      expect(back.spec.id2label).toEqual(task.labels);
      expect(back.spec.problemType).toBe(task.problemType);
      const merged = await allWeights(source.merged.spec, source.merged.weights);
      for (const [name, values] of merged) expect(Array.from(await back.readTensorF32(name)), name).toEqual(Array.from(values));

      // The float64 reference: merged folder = base + adapter unmerged (LoRA through bert.ref.ts's own layout, the adapter's head).
      const base = await allWeights(source.merged.spec, async (n) => (t.adapter.tensors.get(`base_model.model.${n}`) ?? source.base.weights(n)));
      const layout = encoderAdapterLayout({ ...spec, problemType: task.problemType }, { r: 4, alpha: 8, targets: ALL_ENCODER_TARGETS.map((x) => ENCODER_TARGET_MODULE[x]!) });
      const params = new Float32Array(layout.size);
      for (const s of layout.slots) {
        params.set(t.adapter.tensors.get(encoderAdapterKey(m.spec.family, s.layer, s.module, 'A'))!, s.offsetA);
        params.set(t.adapter.tensors.get(encoderAdapterKey(m.spec.family, s.layer, s.module, 'B'))!, s.offsetB);
      }
      const batch = batchFor(m.spec.family, m.spec.vocabSize, m.spec.padTokenId);
      const fromFolder = referenceLogits(back.spec, task, await allWeights(back.spec, (n) => back.readTensorF32(back.weights.names.get(n)!)), batch);
      const labels = task.problemType === 'single_label_classification' ? new Int32Array(batch.B) : new Float32Array(batch.B * task.labels.length);
      const refSpec = { ...spec, problemType: task.problemType };
      const unmerged = encoderReference(refSpec, base, { ...batch, tokenTypeIds: batch.tokenTypeIds ?? undefined, labels }, { adapter: { layout, params } }).logits;
      const withoutLora = encoderReference(refSpec, base, { ...batch, tokenTypeIds: batch.tokenTypeIds ?? undefined, labels }).logits;
      let diff = 0;
      let lora = 0;
      for (let i = 0; i < unmerged.length; i++) {
        diff = Math.max(diff, Math.abs(fromFolder[i] - unmerged[i]));
        lora = Math.max(lora, Math.abs(fromFolder[i] - withoutLora[i]));
      }
      console.log(`[encoder hf ${c.label}] merged folder vs base + adapter unmerged: max |Δlogits| ${diff.toExponential(2)} (the LoRA moves them by ${lora.toFixed(3)})`);
      expect(lora).toBeGreaterThan(1e-2);
      expect(diff).toBeLessThan(1e-5);
    });
  }

  it('the CLI merge dtype: F16 stores F16 and says so in config.json', async () => {
    const m = await encoderTestModel('distilbert');
    const t = testEncoderAdapter(m, TASKS.sentiment);
    const adapter = await readExportAdapter(await openModelFolder(m.files), t.files);
    const files = asFileMap(await exportModel('hf', await openExportSource(m.files, adapter), adapter, { quant: 'F16' }));
    expect(JSON.parse(files.get('config.json') as string).torch_dtype).toBe('float16');
    const st = await openSafetensors(files.get('model.safetensors') as Uint8Array);
    expect(new Set(st.header.tensors.map((x) => x.dtype))).toEqual(new Set(['F16']));
  });

  describe('refusals, before anything is written', () => {
    it('GGUF and GGUF adapter: llama.cpp has no sequence-classification head', async () => {
      const m = await encoderTestModel('bert');
      const t = testEncoderAdapter(m, TASKS.sentiment);
      const adapter = await readExportAdapter(await openModelFolder(m.files), t.files);
      const source = await openExportSource(m.files, adapter);
      for (const format of ['gguf', 'gguf-adapter'] as const) {
        await expect(exportModel(format, source, adapter)).rejects.toThrow(new RegExp(`ExportError: --format ${format}: llama\\.cpp has no sequence-classification head for BertForSequenceClassification .*export the classifier as onnx \\(transformers\\.js\\) or hf`));
      }
    });

    it('a base without a head and no adapter; a BERT base without its pooler', async () => {
      const m = await encoderTestModel('bert');
      await expect(openExportSource(m.files, null)).rejects.toThrow(/ExportError: bert has no classification head \(bert\.pooler\.dense, classifier with 2 labels\): export it with the SEQ_CLS adapter that trained one/);
      // The pooler is part of BERT's base checkpoint and the adapter does not train it (modules_to_save: classifier).
      const st = await openSafetensors(m.fileMap.get('model.safetensors') as Uint8Array);
      const kept = new Map<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }>();
      for (const info of st.header.tensors) if (!info.name.startsWith('bert.pooler.')) kept.set(info.name, { dtype: 'F32', shape: info.shape, data: fromF32('F32', await st.readF32(info.name)) });
      const noPooler = memoryFiles(new Map([...m.fileMap, ['model.safetensors', serializeSafetensors(kept, { format: 'pt' })]]), 'no-pooler');
      const t = testEncoderAdapter(m, TASKS.sentiment);
      const adapter = await readExportAdapter(await openModelFolder(noPooler), t.files);
      await expect(openExportSource(noPooler, adapter)).rejects.toThrow(/ExportError: the base model stores no "bert\.pooler\.dense\.weight" \[32,32\] and the adapter does not train it: the exported BertForSequenceClassification would be incomplete/);
    });

    it('a non-finite base tensor, and a merge that overflows, name the tensor', async () => {
      const m = await encoderTestModel('roberta');
      const t = testEncoderAdapter(m, TASKS.sentiment);
      const st = await openSafetensors(m.fileMap.get('model.safetensors') as Uint8Array);
      const rewrite = async (edit: (name: string, v: Float32Array) => void) => {
        const out = new Map<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }>();
        for (const info of st.header.tensors) {
          const v = await st.readF32(info.name);
          edit(info.name, v);
          out.set(info.name, { dtype: 'F32', shape: info.shape, data: fromF32('F32', v) });
        }
        return memoryFiles(new Map([...m.fileMap, ['model.safetensors', serializeSafetensors(out, { format: 'pt' })]]), 'edited');
      };
      const nan = await rewrite((n, v) => void (n === 'roberta.encoder.layer.1.intermediate.dense.bias' && (v[2] = NaN)));
      const adapter = await readExportAdapter(await openModelFolder(nan), t.files);
      await expect(exportModel('hf', await openExportSource(nan, adapter), adapter)).rejects.toThrow(/ExportError: edited: tensor "roberta\.encoder\.layer\.1\.intermediate\.dense\.bias" holds NaN at index 2: refusing to export a non-finite model/);
      // Finite LoRA matrices whose product passes f32's range.
      const huge = { ...adapter, tensors: new Map(adapter.tensors) };
      for (const w of ['A', 'B']) {
        const key = `base_model.model.roberta.encoder.layer.0.attention.self.query.lora_${w}.weight`;
        huge.tensors.set(key, huge.tensors.get(key)!.map((v) => v * 1e21));
      }
      await expect(exportModel('onnx', await openExportSource(m.files, huge), huge, { quant: 'fp32' })).rejects.toThrow(/ExportError: merged tensor "roberta\.encoder\.layer\.0\.attention\.self\.query\.weight" would hold (-)?Infinity at index \d+: the adapter overflows the model; nothing was written/);
    });

    it('a decoder adapter for an encoder', async () => {
      const m = await encoderTestModel('distilbert');
      const t = testEncoderAdapter(m, TASKS.sentiment);
      const adapter = { ...t.adapter, config: { ...t.adapter.config, taskType: 'CAUSAL_LM' as const } };
      await expect(openExportSource(m.files, adapter)).rejects.toThrow(/the adapter is CAUSAL_LM, but DistilBertForSequenceClassification takes a SEQ_CLS adapter/);
    });
  });
});
