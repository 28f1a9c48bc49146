/**
 * Encoder classifiers for the export tests: the demo encoder (public/models/demo-bert) and small
 * generated BERT (stored with bert-base-uncased's legacy LayerNorm gamma/beta names), RoBERTa
 * (byte-level BPE, vocab.json + merges.txt beside tokenizer.json) and DistilBERT checkpoints saved
 * as Hugging Face saves them; a seeded SEQ_CLS adapter (LoRA on every projection with B ≠ 0 and a
 * trained head) with its labels' config.json; and the float64 reference (bert.ref.ts) of a
 * tokenized batch on the merged weights.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateEncoderModel } from '../../../src/formats/generateEncoder';
import { DEMO_CORPUS } from '../../../src/formats/gen/corpus';
import {
  encoderHeadTensors, expectedEncoderTensors, parseEncoderConfig, sequenceClassificationConfig,
  type EncoderConfig, type SequenceClassificationTask,
} from '../../../src/formats/encoderConfig';
import { memoryFiles, type ModelFiles } from '../../../src/formats/modelFolder';
import { expectedAdapterTensors, expectedHeadTensors, writePeftAdapter, type LoraConfig } from '../../../src/formats/peft';
import { serializeSafetensors } from '../../../src/formats/safetensors';
import { fromF32 } from '../../../src/formats/dtype';
import type { LoraAdapter } from '../../../src/formats/export/merge';
import type { ExportedFiles, WeightReader } from '../../../src/formats/export/types';
import { concatParts } from '../../../src/formats/export/gguf/format';
import { encoderReference, type EncoderSpec } from '../../../src/engine/model/bert.ref';
import type { LoraTarget } from '../../../src/formats/hfConfig';
import { generateRobertaTokenizer } from '../../fixtures/data/tokenizers';
import { tinyEncoderConfig, tinyEncoderWeights } from '../engine/tinyEncoder';
import { rng } from '../../helpers/random';

export type EncoderLabel = 'demo-bert' | 'bert' | 'roberta' | 'distilbert';
export const ENCODER_LABELS: EncoderLabel[] = ['demo-bert', 'bert', 'roberta', 'distilbert'];

export interface EncoderTestModel {
  label: EncoderLabel;
  /** The checkpoint's files (config.json, model.safetensors, tokenizer files). */
  fileMap: Map<string, Uint8Array | string>;
  files: ModelFiles;
  spec: EncoderConfig;
  /** Texts to classify (the first pairs are short, so a batch of them pads). */
  texts: string[];
}

const SMALL = { hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 48, maxPositionEmbeddings: 40 };

function readFolder(dir: string): Map<string, Uint8Array | string> {
  return new Map(readdirSync(dir).map((f) => [f, f.endsWith('.safetensors') ? new Uint8Array(readFileSync(join(dir, f))) : readFileSync(join(dir, f), 'utf8')]));
}

/** vocab.json and merges.txt of a byte-level BPE tokenizer.json (what RobertaTokenizer, the slow one, reads). */
function slowBpeFiles(tokenizerJson: string): { 'vocab.json': string; 'merges.txt': string } {
  const model = JSON.parse(tokenizerJson).model as { vocab: Record<string, number>; merges: (string | [string, string])[] };
  const merges = model.merges.map((m) => (typeof m === 'string' ? m : m.join(' ')));
  return { 'vocab.json': JSON.stringify(model.vocab), 'merges.txt': `#version: 0.2\n${merges.join('\n')}\n` };
}

async function robertaModel(): Promise<Map<string, Uint8Array | string>> {
  const tok = generateRobertaTokenizer({ vocabSize: 400 });
  const tokenizerJson = (await tok.text('tokenizer.json'))!;
  const json = JSON.parse(tokenizerJson);
  const vocabSize = Math.max(...Object.values(json.model.vocab as Record<string, number>), ...(json.added_tokens as { id: number }[]).map((t) => t.id)) + 1;
  const config = {
    architectures: ['RobertaForMaskedLM'], attention_probs_dropout_prob: 0.1, bos_token_id: 0, classifier_dropout: null, eos_token_id: 2, hidden_act: 'gelu',
    hidden_dropout_prob: 0.1, hidden_size: SMALL.hiddenSize, initializer_range: 0.02, intermediate_size: SMALL.intermediateSize, layer_norm_eps: 1e-5,
    max_position_embeddings: SMALL.maxPositionEmbeddings + 2, model_type: 'roberta', num_attention_heads: SMALL.numHeads, num_hidden_layers: SMALL.numLayers,
    pad_token_id: 1, position_embedding_type: 'absolute', torch_dtype: 'float32', transformers_version: '4.46.0', type_vocab_size: 1, vocab_size: vocabSize,
  };
  const cfg = parseEncoderConfig(config);
  // tinyEncoderWeights draws every body tensor (and no head: a base checkpoint) under Transformers' names.
  const weights = tinyEncoderWeights(tinyEncoderConfig('roberta', { ...cfg }), 29);
  const toWrite = new Map([...weights].map(([name, data]) => [name, { dtype: 'F32' as const, shape: shapeOf(cfg, name), data: fromF32('F32', data) }]));
  const files = new Map<string, Uint8Array | string>([['config.json', JSON.stringify(config, null, 2) + '\n'], ['model.safetensors', serializeSafetensors(toWrite, { format: 'pt' })]]);
  files.set('tokenizer.json', tokenizerJson);
  files.set('tokenizer_config.json', (await tok.text('tokenizer_config.json'))!);
  for (const [k, v] of Object.entries(slowBpeFiles(tokenizerJson))) files.set(k, v);
  return files;
}

function shapeOf(cfg: EncoderConfig, name: string): number[] {
  const hit = [...expectedEncoderTensors(cfg), ...encoderHeadTensors(cfg, cfg.numLabels)].find((t) => t.name === name);
  if (!hit) throw new Error(`no shape for ${name}`);
  return hit.shape;
}

export async function encoderTestModel(label: EncoderLabel): Promise<EncoderTestModel> {
  let fileMap: Map<string, Uint8Array | string>;
  let texts: string[];
  const corpusTexts = ['the sky is blue', 'a truly wonderful concert with good friends', 'cows drink water', 'seven is a prime number and paris is in france'];
  if (label === 'demo-bert') {
    fileMap = readFolder('public/models/demo-bert');
    texts = ['a truly wonderful concert', 'the service was terrible', 'the movie was fine, nothing special', 'an absolutely awful meal'];
  } else if (label === 'roberta') {
    fileMap = await robertaModel();
    texts = corpusTexts;
  } else {
    const g = generateEncoderModel({
      family: label, seed: label === 'bert' ? 41 : 43, ...SMALL, weightStd: 0.08, corpus: DEMO_CORPUS, tokenizerVocabSize: 300,
      legacyLayerNormNames: label === 'bert',
    });
    fileMap = g.files;
    texts = corpusTexts;
  }
  const spec = parseEncoderConfig(fileMap.get('config.json') as string);
  return { label, fileMap, files: memoryFiles(fileMap, label), spec, texts };
}

// ---------------------------------------------------------------- adapters

export const ALL_ENCODER_TARGETS: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'];

export interface EncoderTestAdapter {
  adapter: LoraAdapter & { task: SequenceClassificationTask };
  /** The adapter folder: adapter_model.safetensors, adapter_config.json and the labels' config.json. */
  files: { 'adapter_model.safetensors': Uint8Array; 'adapter_config.json': string; 'config.json': string };
}

/** A seeded SEQ_CLS adapter: LoRA r 4 on `targets` with B ≠ 0, and the head trained in full for `task`. */
export function testEncoderAdapter(m: EncoderTestModel, task: SequenceClassificationTask, seed = 5, o: Partial<LoraConfig> = {}): EncoderTestAdapter {
  const config: LoraConfig = {
    taskType: 'SEQ_CLS', modulesToSave: ['classifier', 'score'], r: 4, alpha: 8, dropout: 0, targetModules: ALL_ENCODER_TARGETS,
    useRslora: false, layers: null, baseModelNameOrPath: `adapter-studio/${m.label}`, revision: null, rankPattern: {}, alphaPattern: {}, ...o,
  };
  const base = { ...m.spec, numLabels: task.labels.length };
  const r = rng(seed);
  const uniform = (n: number, bound: number) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * bound);
  const tensors = new Map<string, Float32Array>();
  for (const e of expectedAdapterTensors(base, config)) tensors.set(e.key, uniform(e.shape[0] * e.shape[1], e.which === 'A' ? 1 / Math.sqrt(e.shape[1]) : 0.3));
  for (const h of expectedHeadTensors(base, config.modulesToSave!)) {
    const n = h.shape.reduce((a, b) => a * b, 1);
    tensors.set(h.key, uniform(n, h.name.endsWith('.bias') ? 0.1 : 1.5 / Math.sqrt(m.spec.hiddenSize)));
  }
  const written = writePeftAdapter(base, config, tensors);
  const labels = sequenceClassificationConfig(JSON.parse(m.fileMap.get('config.json') as string), m.spec, task);
  return { adapter: { config, tensors, task }, files: { ...written, 'config.json': labels } };
}

export const TASKS: Record<string, SequenceClassificationTask> = {
  sentiment: { problemType: 'single_label_classification', labels: ['negative', 'neutral', 'positive'] },
  regression: { problemType: 'regression', labels: ['score'] },
  multiLabel: { problemType: 'multi_label_classification', labels: ['sports', 'music', 'food', 'travel'] },
};

// ---------------------------------------------------------------- references

/** Every tensor of the exported classifier, by canonical name, through a weight reader. */
export async function allWeights(spec: EncoderConfig, read: WeightReader): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const t of [...expectedEncoderTensors(spec), ...encoderHeadTensors(spec, spec.numLabels)]) out.set(t.name, await read(t.name));
  return out;
}

export interface TokenizedBatch {
  B: number;
  T: number;
  inputIds: number[];
  attentionMask: number[];
  tokenTypeIds: number[] | null;
}

/** Float64 logits [B, L] of bert.ref.ts for a tokenized batch. */
export function referenceLogits(spec: EncoderConfig, task: SequenceClassificationTask, weights: Map<string, Float32Array>, batch: TokenizedBatch): Float64Array {
  const L = task.labels.length;
  const refSpec: EncoderSpec = {
    family: spec.family, hiddenSize: spec.hiddenSize, numLayers: spec.numLayers, numHeads: spec.numHeads, intermediateSize: spec.intermediateSize,
    vocabSize: spec.vocabSize, maxPositionEmbeddings: spec.maxPositionEmbeddings, typeVocabSize: spec.typeVocabSize, layerNormEps: spec.layerNormEps,
    padTokenId: spec.padTokenId, numLabels: L, problemType: task.problemType,
  };
  const labels = task.problemType === 'single_label_classification' ? new Int32Array(batch.B) : new Float32Array(batch.B * L);
  return encoderReference(refSpec, weights, {
    B: batch.B, T: batch.T, inputIds: batch.inputIds, attentionMask: batch.attentionMask, tokenTypeIds: spec.family === 'distilbert' ? undefined : (batch.tokenTypeIds ?? undefined), labels,
  }).logits;
}

/** Exported files as a map the model-folder reader takes (JSON and text files as strings). */
export function asFileMap(files: ExportedFiles): Map<string, Uint8Array | string> {
  const out = new Map<string, Uint8Array | string>();
  for (const [name, parts] of files) out.set(name, /\.(json|txt|jinja)$/.test(name) ? new TextDecoder().decode(concatParts(parts)) : concatParts(parts));
  return out;
}

export function relErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) throw new Error(`length ${a.length} vs ${ref.length}`);
  let scale = 0;
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]));
    m = Math.max(m, Math.abs(a[i] - ref[i]));
  }
  return m / scale;
}
