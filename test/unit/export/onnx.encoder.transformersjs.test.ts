/**
 * The encoder classifier's ONNX export loaded by transformers.js in Node (onnxruntime-node's CPU
 * backend): AutoModelForSequenceClassification and pipeline('text-classification') on the demo
 * encoder and generated BERT, RoBERTa and DistilBERT models, each with a seeded SEQ_CLS adapter,
 * against the float64 reference (bert.ref.ts):
 *
 *  - logits of a padded batch the exported tokenizer makes (and, for BERT, a sentence pair with
 *    token types 1), against the reference on the merged weights and on the weights the variant
 *    actually stores (after f16 rounding or dequantization: this checks the quantized layouts);
 *  - the pipeline's labels and scores: id2label names; softmax of the logits for single-label,
 *    each label's sigmoid for multi-label, and for regression what transformers.js does with one
 *    output (a softmax over it: score 1, the label's name), its logits the regression values.
 *
 * Tolerances on logits, as max |logits − reference| / max |reference logits|:
 *   fp32 vs merged 1e-5 · q4 vs its stored weights 1e-5 · fp16 / q4f16 vs their stored weights
 *   5e-3 (f16 activations and residual stream; LayerNorm, GELU and softmax in f32) · q8 / uint8 vs
 *   their stored weights 5e-2 (onnxruntime's CPU optimizer turns DequantizeLinear → MatMul into an
 *   integer matmul with dynamically quantized activations; with graphOptimizationLevel 'basic' they
 *   are held to 1e-5). Quantization error against the merged weights is printed, not asserted.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoModelForSequenceClassification, AutoTokenizer, env, pipeline, type PreTrainedTokenizer } from '@huggingface/transformers';
import { concatParts, exportModel, exportOnnx, openExportSource, readExportAdapter, type EncoderSource, type OnnxVariant } from '../../../src/formats/export/index';
import { encoderInputNames } from '../../../src/formats/export/onnx/encoder';
import { decodeModel } from '../../../src/formats/export/onnx/graph';
import { openModelFolder } from '../../../src/formats/modelFolder';
import type { SequenceClassificationTask } from '../../../src/formats/encoderConfig';
import { allWeights, encoderTestModel, referenceLogits, relErr, TASKS, testEncoderAdapter, type EncoderLabel, type EncoderTestModel, type TokenizedBatch } from './encoderFixtures';

const root = mkdtempSync(join(tmpdir(), 'onnx-enc-tjs-'));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TOL: Record<OnnxVariant, { ref: 'merged' | 'stored'; rtol: number }> = {
  fp32: { ref: 'merged', rtol: 1e-5 },
  q4: { ref: 'stored', rtol: 1e-5 },
  fp16: { ref: 'stored', rtol: 5e-3 },
  q4f16: { ref: 'stored', rtol: 5e-3 },
  q8: { ref: 'stored', rtol: 5e-2 },
  int8: { ref: 'stored', rtol: 5e-2 },
  uint8: { ref: 'stored', rtol: 5e-2 },
};

const CASES: { label: EncoderLabel; task: SequenceClassificationTask; variants: OnnxVariant[] }[] = [
  { label: 'demo-bert', task: TASKS.sentiment, variants: ['fp32', 'fp16', 'q8', 'q4'] },
  { label: 'bert', task: TASKS.sentiment, variants: ['fp32', 'fp16', 'q8', 'uint8', 'q4', 'q4f16'] },
  { label: 'roberta', task: TASKS.regression, variants: ['fp32', 'fp16', 'q8', 'q4'] },
  { label: 'distilbert', task: TASKS.multiLabel, variants: ['fp32', 'fp16', 'q8', 'q4'] },
];

const ids = (t: { data: unknown }) => Array.from(t.data as BigInt64Array, Number);

function batchOf(enc: Record<string, { dims: number[]; data: unknown }>): TokenizedBatch {
  const [B, T] = enc.input_ids.dims;
  return { B, T, inputIds: ids(enc.input_ids), attentionMask: ids(enc.attention_mask), tokenTypeIds: enc.token_type_ids ? ids(enc.token_type_ids) : null };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

for (const c of CASES) {
  describe(`ONNX text-classification in transformers.js: ${c.label} (${c.task.problemType}, ${c.task.labels.length} labels)`, () => {
    let m: EncoderTestModel;
    let source: EncoderSource;
    let merged: Map<string, Float32Array>;
    let stored: Map<OnnxVariant, Map<string, Float32Array>>;
    let tokenizer: PreTrainedTokenizer;

    beforeAll(async () => {
      m = await encoderTestModel(c.label);
      const t = testEncoderAdapter(m, c.task, 23);
      const adapter = await readExportAdapter(await openModelFolder(m.files), t.files);
      source = (await openExportSource(m.files, adapter)) as EncoderSource;
      merged = await allWeights(source.merged.spec, source.merged.weights);
      stored = new Map();
      const files = await exportOnnx(source.merged, { variants: c.variants, effectiveWeights: stored });
      // exportModel writes exactly these files (what the CLI and the studio save).
      const viaModel = await exportModel('onnx', source, adapter, { quant: c.variants.join(',') });
      expect([...viaModel.keys()].sort()).toEqual([...files.keys()].sort());
      for (const [path, parts] of files) {
        expect(concatParts(viaModel.get(path)!), path).toEqual(concatParts(parts));
        const p = join(root, c.label, path);
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, concatParts(parts));
      }
      tokenizer = await AutoTokenizer.from_pretrained(c.label);
    }, 60_000);

    it('the folder: config.json with the labels, the tokenizer, one graph per variant with the inputs and output transformers.js feeds and reads', async () => {
      const names = [...(await exportOnnx(source.merged, { variants: ['fp32'] })).keys()].sort();
      const tokenizerFiles = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'vocab.json', 'merges.txt'].filter((f) => m.fileMap.has(f));
      expect(names).toEqual(['config.json', 'onnx/model.onnx', ...tokenizerFiles].sort());
      const graph = decodeModel(concatParts((await exportOnnx(source.merged, { variants: ['fp32'] })).get('onnx/model.onnx')!)).graph!;
      const want = m.spec.family === 'bert' ? ['input_ids', 'attention_mask', 'token_type_ids'] : ['input_ids', 'attention_mask'];
      expect(graph.input!.map((i) => i.name)).toEqual(want);
      expect(encoderInputNames(m.spec)).toEqual(want);
      expect(graph.output!.map((o) => [o.name, o.type!.tensorType!.elemType, o.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))])).toEqual([['logits', 1, ['batch_size', c.task.labels.length]]]);
      const config = JSON.parse(new TextDecoder().decode(concatParts((await exportOnnx(source.merged, { variants: ['fp32'] })).get('config.json')!)));
      expect(config).toMatchObject({ architectures: [m.spec.architecture], problem_type: c.task.problemType, id2label: Object.fromEntries(c.task.labels.map((l, i) => [String(i), l])) });
    });

    for (const variant of c.variants) {
      it(`${variant}: logits of a padded batch${c.label === 'bert' ? ' and a sentence pair' : ''} match the reference`, async () => {
        const model = await AutoModelForSequenceClassification.from_pretrained(c.label, { dtype: variant, device: 'cpu' });
        try {
          const inputs = [tokenizer(m.texts, { padding: true, truncation: true })];
          if (c.label === 'bert') inputs.push(tokenizer(['the sky is blue', 'cows'], { text_pair: ['seven is prime', 'drink water'], padding: true, truncation: true }));
          const tol = TOL[variant];
          for (const enc of inputs) {
            const batch = batchOf(enc as never);
            expect(Math.min(...batch.attentionMask), 'the batch pads').toBe(0);
            if (enc === inputs[1]) expect(Math.max(...batch.tokenTypeIds!)).toBe(1);
            const out = await model(enc);
            expect(out.logits.dims).toEqual([batch.B, c.task.labels.length]);
            expect(out.logits.type).toBe('float32');
            const logits = out.logits.data as Float32Array;
            const vsMerged = relErr(logits, referenceLogits(source.merged.spec, c.task, merged, batch));
            const vsStored = relErr(logits, referenceLogits(source.merged.spec, c.task, storedWeights(variant), batch));
            console.log(`[onnx encoder ${c.label} ${variant}] B ${batch.B} T ${batch.T}: relative error vs ref(merged) ${vsMerged.toExponential(2)}, vs ref(stored) ${vsStored.toExponential(2)}`);
            expect(tol.ref === 'merged' ? vsMerged : vsStored).toBeLessThan(tol.rtol);
          }
        } finally {
          await model.dispose();
        }
        if (variant === 'q8' || variant === 'uint8') {
          // Without onnxruntime's CPU fusion the 8-bit file computes with exactly its stored weights.
          const exact = await AutoModelForSequenceClassification.from_pretrained(c.label, { dtype: variant, device: 'cpu', session_options: { graphOptimizationLevel: 'basic' } });
          try {
            const enc = tokenizer(m.texts, { padding: true, truncation: true });
            const err = relErr((await exact(enc)).logits.data as Float32Array, referenceLogits(source.merged.spec, c.task, storedWeights(variant), batchOf(enc as never)));
            console.log(`[onnx encoder ${c.label} ${variant} basic-optimization] relative error vs ref(stored) ${err.toExponential(2)}`);
            expect(err).toBeLessThan(1e-5);
          } finally {
            await exact.dispose();
          }
        }
      }, 60_000);
    }

    it(`pipeline("text-classification"): id2label names and the scores transformers.js gives a ${c.task.problemType} head`, async () => {
      const classifier = await pipeline('text-classification', c.label, { dtype: 'fp32', device: 'cpu' });
      try {
        const got = (await classifier(m.texts, { top_k: null })) as unknown as { label: string; score: number }[][];
        const ref = referenceLogits(source.merged.spec, c.task, merged, batchOf(tokenizer(m.texts, { padding: true, truncation: true }) as never));
        const L = c.task.labels.length;
        expect(got).toHaveLength(m.texts.length);
        got.forEach((rows, b) => {
          const x = Array.from(ref.subarray(b * L, (b + 1) * L));
          let want: number[];
          if (c.task.problemType === 'multi_label_classification') want = x.map(sigmoid);
          else {
            // single-label, and regression as transformers.js treats it: a softmax over the outputs (one output: 1)
            const mx = Math.max(...x);
            const e = x.map((v) => Math.exp(v - mx));
            want = e.map((v) => v / e.reduce((a, y) => a + y, 0));
          }
          const order = want.map((s, i) => [s, i] as const).sort((p, q) => q[0] - p[0]);
          expect(rows.map((r) => r.label)).toEqual(order.map(([, i]) => c.task.labels[i]));
          rows.forEach((r, i) => expect(Math.abs(r.score - order[i][0]), `${m.texts[b]}: ${r.label}`).toBeLessThan(1e-5));
        });
        if (c.task.problemType === 'regression') expect(got.every((rows) => rows.length === 1 && rows[0].label === 'score' && rows[0].score === 1)).toBe(true);
        // top_k 1 (the default): the best label of each text.
        const top = (await classifier(m.texts)) as unknown as { label: string }[];
        expect(top.map((t) => t.label)).toEqual(got.map((rows) => rows[0].label));
      } finally {
        await classifier.dispose();
      }
    }, 60_000);

    /** The reference's weights for a variant: what it stores, every tensor accounted for. */
    function storedWeights(variant: OnnxVariant): Map<string, Float32Array> {
      const w = stored.get(variant)!;
      for (const name of merged.keys()) if (!w.has(name)) throw new Error(`${variant} records no weight "${name}"`);
      return w;
    }
  });
}
