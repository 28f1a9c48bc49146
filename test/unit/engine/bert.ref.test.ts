import { describe, expect, it } from 'vitest';
import {
  ENCODER_HEAD_MODULES, ENCODER_MODULES, defaultTrainedHead, encoderAdapterKey, encoderAdapterLayout, encoderDropoutSite,
  encoderLayerPrefix, encoderModulePath, encoderProjectionShape, encoderReference, philoxEncoderDropout, resolveEncoderWeight,
  type EncoderBatch, type EncoderFamily, type EncoderRefOptions, type EncoderSpec,
} from '../../../src/engine/model/bert.ref';
import type { ClassificationTask } from '../../../src/engine/kernels/classify/classify.ref';
import type { WeightMap } from '../../../src/engine/model/types';
import { rng } from '../../helpers/random';

const TASK: Record<EncoderFamily, [ClassificationTask, number]> = {
  bert: ['single_label_classification', 3],
  roberta: ['regression', 1],
  distilbert: ['multi_label_classification', 3],
};

function tinySpec(family: EncoderFamily, task = TASK[family]): EncoderSpec {
  return {
    family, hiddenSize: 8, numLayers: 2, numHeads: 2, intermediateSize: 12, vocabSize: 20, maxPositionEmbeddings: 12,
    typeVocabSize: family === 'bert' ? 2 : family === 'roberta' ? 1 : 0, layerNormEps: family === 'roberta' ? 1e-5 : 1e-12,
    padTokenId: family === 'roberta' ? 1 : 0, numLabels: task[1], problemType: task[0],
  };
}

/** Random float64 weights under Transformers' tensor names (head included). */
function tinyWeights(spec: EncoderSpec, seed: number): Map<string, Float64Array> {
  const r = rng(seed);
  const w = new Map<string, Float64Array>();
  const put = (name: string, n: number, lo: number, hi: number) => w.set(name, Float64Array.from({ length: n }, () => lo + (hi - lo) * r()));
  const { family } = spec;
  const C = spec.hiddenSize;
  const emb = `${family}.embeddings`;
  put(`${emb}.word_embeddings.weight`, spec.vocabSize * C, -1, 1);
  put(`${emb}.position_embeddings.weight`, spec.maxPositionEmbeddings * C, -0.5, 0.5);
  if (spec.typeVocabSize > 0) put(`${emb}.token_type_embeddings.weight`, spec.typeVocabSize * C, -0.5, 0.5);
  const norm = (name: string) => {
    put(`${name}.weight`, C, 0.7, 1.3);
    put(`${name}.bias`, C, -0.2, 0.2);
  };
  norm(`${emb}.LayerNorm`);
  for (let l = 0; l < spec.numLayers; l++) {
    for (const m of ENCODER_MODULES) {
      const { in: IN, out: OUT } = encoderProjectionShape(spec, m);
      put(`${encoderModulePath(family, l, m)}.weight`, OUT * IN, -1 / Math.sqrt(IN), 1 / Math.sqrt(IN));
      put(`${encoderModulePath(family, l, m)}.bias`, OUT, -0.1, 0.1);
    }
    const pre = encoderLayerPrefix(family, l);
    if (family === 'distilbert') {
      norm(`${pre}.sa_layer_norm`);
      norm(`${pre}.output_layer_norm`);
    } else {
      norm(`${pre}.attention.output.LayerNorm`);
      norm(`${pre}.output.LayerNorm`);
    }
  }
  const [m0, m1] = ENCODER_HEAD_MODULES[family];
  put(`${m0}.weight`, C * C, -0.4, 0.4);
  put(`${m0}.bias`, C, -0.1, 0.1);
  put(`${m1}.weight`, spec.numLabels * C, -0.5, 0.5);
  put(`${m1}.bias`, spec.numLabels, -0.1, 0.1);
  return w;
}

/** Three sequences of T = 5 with 5, 3 and 4 real tokens; BERT's first row is a sentence pair. */
function paddedBatch(spec: EncoderSpec, seed: number): EncoderBatch {
  const B = 3;
  const T = 5;
  const lengths = [5, 3, 4];
  const r = rng(seed);
  const pad = spec.padTokenId;
  const inputIds: number[] = [];
  const attentionMask: number[] = [];
  const tokenTypeIds: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const real = t < lengths[b];
      inputIds.push(real ? 2 + Math.floor(r() * (spec.vocabSize - 2)) : pad);
      attentionMask.push(real ? 1 : 0);
      tokenTypeIds.push(spec.family === 'bert' && real && t >= 2 ? 1 : 0); // [CLS] A A [SEP]-ish | B B
    }
  }
  const L = spec.numLabels;
  const labels =
    spec.problemType === 'single_label_classification' ? [2, -100, 0]
      : spec.problemType === 'regression' ? Array.from({ length: B * L }, (_, i) => [0.5, -1.25, 2][i % 3])
        : Array.from({ length: B * L }, (_, i) => [1, 0, 0, 1, 1, 0, 0.25, 0, 1][i % 9]);
  return { B, T, inputIds, attentionMask, tokenTypeIds: spec.family === 'distilbert' ? undefined : tokenTypeIds, labels };
}

function randomParams(size: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: size }, () => (r() - 0.5) * 0.6);
}

/** Max relative error of the analytic gradients against central differences, over LoRA and head. */
function fdCheck(family: EncoderFamily, withDropout: boolean) {
  const spec = tinySpec(family);
  const weights = tinyWeights(spec, 11);
  const batch = paddedBatch(spec, 5);
  const layout = encoderAdapterLayout(spec, { r: 2, alpha: 3, targets: [...ENCODER_MODULES] });
  const params = randomParams(layout.size, 3);
  const dropout = withDropout ? philoxEncoderDropout(spec, batch.B, batch.T, { hidden: 0.3, attention: 0.3, classifier: 0.3, lora: 0.3 }, 1234, 7) : null;
  const options: EncoderRefOptions = { adapter: { layout, params }, dropout };
  const ref = encoderReference(spec, weights, batch, { ...options, grads: true });
  expect(Number.isFinite(ref.loss)).toBe(true);
  const h = 1e-5;
  let maxErr = 0;
  let maxGrad = 0;
  const check = (x: Float64Array, grads: Float64Array) => {
    for (let i = 0; i < x.length; i++) {
      const keep = x[i];
      x[i] = keep + h;
      const lp = encoderReference(spec, weights, batch, options).loss;
      x[i] = keep - h;
      const lm = encoderReference(spec, weights, batch, options).loss;
      x[i] = keep;
      const fd = (lp - lm) / (2 * h);
      maxErr = Math.max(maxErr, Math.abs(fd - grads[i]) / (1e-6 + Math.abs(fd) + Math.abs(grads[i])));
      maxGrad = Math.max(maxGrad, Math.abs(grads[i]));
    }
  };
  check(params, ref.loraGrads!);
  const headNames = [...ref.headGrads!.keys()];
  for (const name of headNames) check(weights.get(name)!, ref.headGrads!.get(name)!);
  return { maxErr, maxGrad, headNames, ref };
}

describe('float64 reference encoder (BERT, RoBERTa, DistilBERT)', () => {
  for (const family of ['bert', 'roberta', 'distilbert'] as const) {
    it(`${family} (${TASK[family][0]}): every LoRA and trained-head gradient matches central finite differences, with padding${family === 'bert' ? ' and a sentence pair' : ''}`, () => {
      const { maxErr, maxGrad, headNames } = fdCheck(family, false);
      expect(maxGrad).toBeGreaterThan(1e-3);
      expect(maxErr).toBeLessThan(1e-5);
      expect(headNames.sort()).toEqual(defaultTrainedHead(family).flatMap((m) => [`${m}.bias`, `${m}.weight`]).sort());
    });
    it(`${family}: with dropout everywhere (fixed Philox masks) the gradients match central finite differences`, () => {
      const { maxErr, ref } = fdCheck(family, true);
      expect(maxErr).toBeLessThan(1e-5);
      const spec = tinySpec(family);
      const plain = encoderReference(spec, tinyWeights(spec, 11), paddedBatch(spec, 5), {
        adapter: { layout: encoderAdapterLayout(spec, { r: 2, alpha: 3, targets: [...ENCODER_MODULES] }), params: randomParams(ref.loraGrads!.length, 3) },
      });
      expect(plain.loss).not.toBeCloseTo(ref.loss, 6); // the masks did drop something
    });
  }

  it('BERT with the pooler trained too (not PEFT\'s default) gets its gradients checked as well', () => {
    const spec = tinySpec('bert');
    const weights = tinyWeights(spec, 2);
    const batch = paddedBatch(spec, 3);
    const options = { trainedHead: ['bert.pooler.dense', 'classifier'] };
    const ref = encoderReference(spec, weights, batch, { ...options, grads: true });
    const w = weights.get('bert.pooler.dense.weight')!;
    const h = 1e-5;
    for (const i of [0, 7, 33, 63]) {
      const keep = w[i];
      w[i] = keep + h;
      const lp = encoderReference(spec, weights, batch, options).loss;
      w[i] = keep - h;
      const lm = encoderReference(spec, weights, batch, options).loss;
      w[i] = keep;
      expect(ref.headGrads!.get('bert.pooler.dense.weight')![i]).toBeCloseTo((lp - lm) / (2 * h), 8);
    }
    expect(ref.loraGrads).toBeUndefined();
  });

  for (const family of ['bert', 'roberta', 'distilbert'] as const) {
    it(`${family}: padding changes nothing for the real tokens (a padded row gives the logits of the same row alone, unpadded)`, () => {
      const spec = tinySpec(family);
      const weights = tinyWeights(spec, 4);
      const batch = paddedBatch(spec, 9);
      const all = encoderReference(spec, weights, batch);
      // Row 1 has 3 real tokens out of 5.
      const row = (a: ArrayLike<number> | undefined) => (a ? Array.from(a).slice(5, 8) : undefined);
      const L = spec.numLabels;
      const alone = encoderReference(spec, weights, {
        B: 1, T: 3, inputIds: row(batch.inputIds)!, attentionMask: [1, 1, 1], tokenTypeIds: row(batch.tokenTypeIds),
        labels: spec.problemType === 'single_label_classification' ? [0] : Array.from(batch.labels).slice(L, 2 * L),
      });
      for (let l = 0; l < L; l++) expect(alone.logits[l]).toBeCloseTo(all.logits[L + l], 12);
    });
  }

  it('the loss is the mean Transformers computes: ignored labels do not count, lossNormalizer overrides the count', () => {
    const spec = tinySpec('bert');
    const weights = tinyWeights(spec, 6);
    const batch = paddedBatch(spec, 1);
    const r = encoderReference(spec, weights, batch);
    expect(r.count).toBe(2); // labels [2, −100, 0]
    expect(r.loss).toBeCloseTo(r.lossSum / 2, 14);
    expect(encoderReference(spec, weights, batch, { lossNormalizer: 8 }).loss).toBeCloseTo(r.lossSum / 8, 14);
    const multi = encoderReference(tinySpec('distilbert'), tinyWeights(tinySpec('distilbert'), 6), paddedBatch(tinySpec('distilbert'), 1));
    expect(multi.count).toBe(9); // BCE: mean over B·L
  });

  it('an adapter with B = 0 leaves the logits equal to the base model', () => {
    const spec = tinySpec('roberta');
    const weights = tinyWeights(spec, 8);
    const batch = paddedBatch(spec, 2);
    const layout = encoderAdapterLayout(spec, { r: 4, alpha: 8, targets: ['query', 'value'] });
    const params = new Float64Array(layout.size);
    for (const s of layout.slots) params.fill(0.3, s.offsetA, s.offsetB);
    const base = encoderReference(spec, weights, batch).logits;
    expect(Array.from(encoderReference(spec, weights, batch, { adapter: { layout, params } }).logits)).toEqual(Array.from(base));
  });

  it('reads legacy LayerNorm gamma/beta names and checkpoints without the model prefix; names a missing tensor', () => {
    const spec = tinySpec('bert');
    const weights = tinyWeights(spec, 1);
    const batch = paddedBatch(spec, 1);
    const want = encoderReference(spec, weights, batch).logits;
    const legacy: WeightMap = new Map();
    for (const [k, v] of weights) {
      let name = k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
      if (name.startsWith('bert.encoder.')) name = name.slice('bert.'.length);
      legacy.set(name, v);
    }
    expect(legacy.has('bert.embeddings.LayerNorm.gamma')).toBe(true);
    expect(resolveEncoderWeight(legacy, 'bert', 'bert.encoder.layer.1.output.LayerNorm.weight')).toBe('encoder.layer.1.output.LayerNorm.gamma');
    expect(Array.from(encoderReference(spec, legacy, batch).logits)).toEqual(Array.from(want));
    legacy.delete('classifier.bias');
    expect(() => encoderReference(spec, legacy, batch)).toThrow(/weight "classifier.bias" is missing/);
  });

  it('names modules, adapter keys, trained heads and dropout sites as Transformers and PEFT do', () => {
    expect(encoderAdapterKey('bert', 0, 'query', 'A')).toBe('base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight');
    expect(encoderAdapterKey('roberta', 11, 'value', 'B')).toBe('base_model.model.roberta.encoder.layer.11.attention.self.value.lora_B.weight');
    expect(encoderAdapterKey('distilbert', 5, 'query', 'A')).toBe('base_model.model.distilbert.transformer.layer.5.attention.q_lin.lora_A.weight');
    expect(encoderModulePath('distilbert', 0, 'output')).toBe('distilbert.transformer.layer.0.ffn.lin2');
    expect(encoderModulePath('bert', 3, 'attention.output')).toBe('bert.encoder.layer.3.attention.output.dense');
    expect(defaultTrainedHead('bert')).toEqual(['classifier']);
    expect(defaultTrainedHead('roberta')).toEqual(['classifier.dense', 'classifier.out_proj']);
    expect(defaultTrainedHead('distilbert')).toEqual(['pre_classifier', 'classifier']);
    const sites = ['embeddings', 'classifier.0', 'classifier.1', 'layer.0.attention.probs', 'layer.0.attention.output', 'layer.0.output', 'layer.11.output'].map(encoderDropoutSite);
    const layout = encoderAdapterLayout(tinySpec('bert'), { r: 1, alpha: 1, targets: [...ENCODER_MODULES] });
    sites.push(...layout.slots.map((slot) => encoderDropoutSite({ slot })));
    expect(new Set(sites).size).toBe(sites.length);
    expect(() => encoderDropoutSite('layer.0.bogus')).toThrow(/unknown dropout site/);
  });
});
