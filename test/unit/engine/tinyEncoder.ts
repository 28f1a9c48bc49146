/**
 * Tiny BERT-family encoders for the engine tests: a config as formats/encoderConfig.ts parses it,
 * f32 weights under Transformers' names (so the GPU and the float64 reference read the same
 * numbers), the matching float64 spec for bert.ref.ts, and padded batches with a sentence pair.
 */
import type { ClassificationProblem, EncoderConfig, EncoderFamily } from '../../../src/formats/encoderConfig';
import { ENCODER_HEAD_MODULES, ENCODER_MODULES, encoderLayerNormNames, encoderModulePath } from '../../../src/formats/encoderConfig';
import type { EncoderSpec } from '../../../src/engine/model/bert.ref';
import type { EncoderTask } from '../../../src/engine/model/encoderSpec';
import { rng } from '../../helpers/random';

export function tinyEncoderConfig(family: EncoderFamily, o: Partial<EncoderConfig> = {}): EncoderConfig {
  const roberta = family === 'roberta';
  return {
    family,
    modelType: family,
    architecture: { bert: 'BertForSequenceClassification', roberta: 'RobertaForSequenceClassification', distilbert: 'DistilBertForSequenceClassification' }[family],
    hiddenSize: 8,
    numLayers: 2,
    numHeads: 2,
    intermediateSize: 12,
    vocabSize: 24,
    maxPositionEmbeddings: roberta ? 14 : 12,
    typeVocabSize: family === 'bert' ? 2 : family === 'roberta' ? 1 : 0,
    layerNormEps: roberta ? 1e-5 : 1e-12,
    padTokenId: roberta ? 1 : 0,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
    classifierDropout: family === 'distilbert' ? 0.2 : 0.1,
    initializerRange: 0.02,
    numLabels: 2,
    id2label: ['LABEL_0', 'LABEL_1'],
    problemType: null,
    ...o,
  };
}

/** The float64 reference's view of the config, for a task. */
export function refSpec(cfg: EncoderConfig, task: EncoderTask): EncoderSpec {
  return {
    family: cfg.family, hiddenSize: cfg.hiddenSize, numLayers: cfg.numLayers, numHeads: cfg.numHeads, intermediateSize: cfg.intermediateSize,
    vocabSize: cfg.vocabSize, maxPositionEmbeddings: cfg.maxPositionEmbeddings, typeVocabSize: cfg.typeVocabSize, layerNormEps: cfg.layerNormEps,
    padTokenId: cfg.padTokenId, numLabels: task.labels.length, problemType: task.problemType,
  };
}

export function taskOf(problemType: ClassificationProblem, L: number): EncoderTask {
  return { problemType, labels: problemType === 'regression' && L === 1 ? ['score'] : Array.from({ length: L }, (_, i) => `class ${i}`) };
}

/** Random f32 weights under Transformers' names; `head` adds the head for `numLabels` outputs (BERT's pooler always). */
export function tinyEncoderWeights(cfg: EncoderConfig, seed: number, head: { numLabels: number } | null = null): Map<string, Float32Array> {
  const r = rng(seed);
  const w = new Map<string, Float32Array>();
  const put = (name: string, n: number, lo: number, hi: number) => w.set(name, Float32Array.from({ length: n }, () => lo + (hi - lo) * r()));
  const { family } = cfg;
  const C = cfg.hiddenSize;
  const emb = `${family}.embeddings`;
  put(`${emb}.word_embeddings.weight`, cfg.vocabSize * C, -1, 1);
  put(`${emb}.position_embeddings.weight`, cfg.maxPositionEmbeddings * C, -0.5, 0.5);
  if (cfg.typeVocabSize > 0) put(`${emb}.token_type_embeddings.weight`, cfg.typeVocabSize * C, -0.5, 0.5);
  const norm = (name: string) => {
    put(`${name}.weight`, C, 0.7, 1.3);
    put(`${name}.bias`, C, -0.2, 0.2);
  };
  norm(`${emb}.LayerNorm`);
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const m of ENCODER_MODULES) {
      const IN = m === 'output' ? cfg.intermediateSize : C;
      const OUT = m === 'intermediate' ? cfg.intermediateSize : C;
      put(`${encoderModulePath(family, l, m)}.weight`, OUT * IN, -1 / Math.sqrt(IN), 1 / Math.sqrt(IN));
      put(`${encoderModulePath(family, l, m)}.bias`, OUT, -0.1, 0.1);
    }
    for (const ln of encoderLayerNormNames(family, l)) norm(ln);
  }
  const [m0, m1] = ENCODER_HEAD_MODULES[family];
  if (head || family === 'bert') {
    put(`${m0}.weight`, C * C, -0.4, 0.4);
    put(`${m0}.bias`, C, -0.1, 0.1);
  }
  if (head) {
    put(`${m1}.weight`, head.numLabels * C, -0.5, 0.5);
    put(`${m1}.bias`, head.numLabels, -0.1, 0.1);
  }
  return w;
}

/** Rows of token ids (with token types) for a padded batch: lengths 5, 3 and 4, the first a sentence pair (BERT). */
export function paddedRows(cfg: EncoderConfig, seed: number, lengths = [5, 3, 4]): { ids: number[]; types: number[] }[] {
  const r = rng(seed);
  return lengths.map((n, b) => {
    const ids = Array.from({ length: n }, () => 2 + Math.floor(r() * (cfg.vocabSize - 2)));
    const types = ids.map((_, t) => (cfg.family === 'bert' && b === 0 && t >= 2 ? 1 : 0));
    return { ids, types };
  });
}

/** Labels of B rows for a task: class ids with one ignored row, regression targets, or multi-hot rows. */
export function tinyLabels(task: EncoderTask, B: number, seed: number): Int32Array | Float32Array {
  const r = rng(seed);
  const L = task.labels.length;
  if (task.problemType === 'single_label_classification') return Int32Array.from({ length: B }, (_, b) => (b === 1 && B > 2 ? -100 : Math.floor(r() * L)));
  if (task.problemType === 'regression') return Float32Array.from({ length: B * L }, (_, i) => [0.5, -1.25, 2, 0.75][i % 4]);
  return Float32Array.from({ length: B * L }, () => (r() < 0.5 ? 1 : 0));
}
