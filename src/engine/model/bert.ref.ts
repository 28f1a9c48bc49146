/**
 * Float64 CPU implementation of the BERT-family encoders for sequence classification, exactly as
 * Transformers computes BertForSequenceClassification, RobertaForSequenceClassification and
 * DistilBertForSequenceClassification in training mode, with LoRA on chosen projections and the
 * classification head trained in full (PEFT's modules_to_save). It is the ground truth the GPU
 * encoder will be checked against (llm.c's test_gpt2 style), written for clarity, not speed: use it
 * on tiny models only.
 *
 *   embeddings  x = (word[ids] + type[tokenTypeIds]) + position[positionIds]   (DistilBERT: no types)
 *               h = dropout(LayerNorm(x))
 *   layer       q, k, v = proj(h)   (y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ where an adapter sits)
 *               att = (softmax(q·kᵀ/√HS + key padding mask) ⊙ drop) · v      (bidirectional)
 *               h1 = LayerNorm(dropout(proj_o(att)) + h)     (DistilBERT: no dropout there)
 *               h  = LayerNorm(dropout(proj_out(gelu(proj_in(h1)))) + h1)  (GELU: erf form)
 *   heads       BERT        logits = classifier(dropout(tanh(pooler.dense(h[:, 0]))))
 *               RoBERTa     logits = out_proj(dropout(tanh(dense(dropout(h[:, 0])))))
 *               DistilBERT  logits = classifier(dropout(relu(pre_classifier(h[:, 0]))))
 *   loss        problem_type: cross-entropy (−100 ignored), MSE or BCE-with-logits, a mean
 *               (lossSum / count, or / lossNormalizer across micro-batches)
 *
 * Letters: B sequences, T tokens each, N = B*T, C hidden, NH heads, HS = C/NH, I intermediate,
 * V vocab, P position rows, TV token types, L num_labels, R rank. Activations are token-major [N, C].
 *
 * PEFT facts this file encodes (read in huggingface/peft src/peft/peft_model.py,
 * PeftModelForSequenceClassification.__init__, and src/peft/utils/other.py, _set_trainable):
 * SEQ_CLS adds ["classifier", "score"] to modules_to_save, and a module is wrapped when its name
 * ENDS WITH one of them — so DistilBERT's pre_classifier is trained too, RoBERTa's whole
 * classifier (dense and out_proj), BERT's classifier only (bert.pooler.dense stays frozen).
 * Default LoRA targets (src/peft/utils/constants.py): bert and roberta ["query", "value"];
 * distilbert has no default (target "q_lin", "v_lin" by hand).
 */
import { IGNORE_INDEX } from '../kernels/lmhead/lmhead.ref';
import { classificationLossRef, type ClassificationTask } from '../kernels/classify/classify.ref';
import { normalCdf, normalPdf } from '../kernels/gelu/gelu.ref';
import { layernormBackwardRef, layernormForwardRef } from '../kernels/layernorm/layernorm.ref';
import { absolutePositionIds, robertaPositionIds } from '../kernels/embedding/positions';
import { attentionDropoutScale } from '../kernels/attention/attention.ref';
import { dropoutScaleMask, type DropoutKey } from '../kernels/philox/philox';
import type { WeightMap } from './types';
import {
  ENCODER_HEAD_MODULES, ENCODER_MODULES, ENCODER_MODULE_PATHS, encoderLayerNormNames, encoderLayerPrefix, encoderModulePath, findEncoderTensor, trainedHeadModules,
  type EncoderConfig, type EncoderFamily, type EncoderModule,
} from '../../formats/encoderConfig';

export { IGNORE_INDEX };

export class EncoderReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncoderReferenceError';
  }
}

export type { EncoderFamily } from '../../formats/encoderConfig';

/**
 * What the reference needs of an encoder's config.json (BertConfig / RobertaConfig / DistilBertConfig):
 * the parsed config's own fields (formats/encoderConfig.ts documents each), with the task resolved.
 */
export type EncoderSpec = Pick<
  EncoderConfig,
  'family' | 'hiddenSize' | 'numLayers' | 'numHeads' | 'intermediateSize' | 'vocabSize' | 'maxPositionEmbeddings' | 'typeVocabSize' | 'layerNormEps' | 'padTokenId' | 'numLabels'
> & { problemType: ClassificationTask };

// Module and tensor names live with the config parser (formats/encoderConfig.ts), so the GPU model,
// the PEFT validator and this reference share one spelling.
export { ENCODER_MODULES, ENCODER_MODULE_PATHS, encoderLayerPrefix, encoderModulePath };
export type { EncoderModule };

/** PEFT's key of an adapter tensor: `base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight`. */
export function encoderAdapterKey(family: EncoderFamily, layer: number, module: EncoderModule, which: 'A' | 'B'): string {
  return `base_model.model.${encoderModulePath(family, layer, module)}.lora_${which}.weight`;
}

const layerNormNames = encoderLayerNormNames;

export { ENCODER_HEAD_MODULES };

/**
 * The head modules PEFT trains for SEQ_CLS by default (modules_to_save ["classifier", "score"],
 * matched by name suffix): BERT's classifier; RoBERTa's classifier.dense and .out_proj; DistilBERT's
 * pre_classifier and classifier. PEFT saves them as `base_model.model.{module}.{weight,bias}`.
 */
export function defaultTrainedHead(family: EncoderFamily): string[] {
  return trainedHeadModules(family);
}

// ---------------------------------------------------------------- weights by name

/**
 * The key under which `name` is stored: the name itself; the legacy `.gamma` / `.beta` of a
 * LayerNorm's `.weight` / `.bias` (bert-base-uncased's original checkpoint); or either without the
 * model prefix (`bert.` / `roberta.` / `distilbert.`: a bare BertModel checkpoint). Throws naming
 * every name tried.
 */
export function resolveEncoderWeight(weights: WeightMap, family: EncoderFamily, name: string): string {
  const tried: string[] = [];
  const hit = findEncoderTensor((n) => weights.has(n), family, name, tried);
  if (!hit) throw new EncoderReferenceError(`weight "${name}" is missing (tried ${tried.map((t) => `"${t}"`).join(', ')})`);
  return hit;
}

function weight(weights: WeightMap, family: EncoderFamily, name: string, size: number): ArrayLike<number> {
  const key = resolveEncoderWeight(weights, family, name);
  const w = weights.get(key)!;
  if (w.length !== size) throw new EncoderReferenceError(`weight "${key}" has ${w.length} values, expected ${size}`);
  return w;
}

// ---------------------------------------------------------------- LoRA layout

export interface EncoderLoraSettings {
  r: number;
  alpha: number;
  targets: EncoderModule[];
  /** Layers that get adapters; null or absent: all. */
  layers?: number[] | null;
  useRslora?: boolean;
}

export interface EncoderLoraSlot {
  layer: number;
  module: EncoderModule;
  in: number;
  out: number;
  r: number;
  offsetA: number;
  offsetB: number;
}

/** Flat layout of the adapter: layers ascending, modules in ENCODER_MODULES order, A [r, in] then B [out, r]. */
export interface EncoderAdapterLayout {
  scale: number;
  slots: EncoderLoraSlot[];
  size: number;
}

export function encoderProjectionShape(spec: EncoderSpec, module: EncoderModule): { in: number; out: number } {
  const C = spec.hiddenSize;
  if (module === 'intermediate') return { in: C, out: spec.intermediateSize };
  if (module === 'output') return { in: spec.intermediateSize, out: C };
  return { in: C, out: C };
}

export function encoderAdapterLayout(spec: EncoderSpec, s: EncoderLoraSettings): EncoderAdapterLayout {
  if (!Number.isInteger(s.r) || s.r < 1) throw new EncoderReferenceError(`LoRA rank r must be a positive integer, got ${s.r}`);
  const layers = [...new Set(s.layers ?? Array.from({ length: spec.numLayers }, (_, i) => i))].sort((a, b) => a - b);
  const slots: EncoderLoraSlot[] = [];
  let offset = 0;
  for (const layer of layers) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= spec.numLayers) throw new EncoderReferenceError(`LoRA layer ${layer} is outside 0..${spec.numLayers - 1}`);
    for (const module of ENCODER_MODULES) {
      if (!s.targets.includes(module)) continue;
      const shape = encoderProjectionShape(spec, module);
      slots.push({ layer, module, in: shape.in, out: shape.out, r: s.r, offsetA: offset, offsetB: offset + s.r * shape.in });
      offset += s.r * shape.in + shape.out * s.r;
    }
  }
  const scale = s.useRslora ? s.alpha / Math.sqrt(s.r) : s.alpha / s.r;
  return { scale, slots, size: offset };
}

// ---------------------------------------------------------------- dropout sites and masks

/**
 * Where a dropout mask applies: 'embeddings' [N, C]; `layer.{i}.attention.probs` [N·NH·T] (index
 * (i·NH + h)·T + j, as attentionDropoutScale); `layer.{i}.attention.output` [N, C] (not in
 * DistilBERT); `layer.{i}.output` [N, C]; the head's 'classifier.0' and, RoBERTa only,
 * 'classifier.1' [B, C] (see the file header for where they sit).
 */
export type EncoderDropoutSite = string;

/** Multipliers (0 or 1/(1−p)) per site; a missing site or a null answer means no dropout there. */
export interface EncoderDropout {
  hidden?: (site: EncoderDropoutSite, rows: number, cols: number) => ArrayLike<number> | null;
  /** The LoRA input dropout of a slot, [N, in]. */
  lora?: (slot: EncoderLoraSlot, N: number) => ArrayLike<number> | null;
}

/**
 * A stable Philox site id per dropout site, for the GPU kernels and philoxEncoderDropout alike:
 * LoRA inputs layer·16 + module index (0 … 5); attention probabilities layer·16 + 8, attention
 * output layer·16 + 9, FFN output layer·16 + 10; embeddings 0x7fff0000, head 0x7fff0001 + index.
 */
export function encoderDropoutSite(site: EncoderDropoutSite | { slot: EncoderLoraSlot }): number {
  if (typeof site !== 'string') return site.slot.layer * 16 + ENCODER_MODULES.indexOf(site.slot.module);
  if (site === 'embeddings') return 0x7fff0000;
  const head = /^classifier\.(\d)$/.exec(site);
  if (head) return 0x7fff0001 + Number(head[1]);
  const m = /^layer\.(\d+)\.(attention\.probs|attention\.output|output)$/.exec(site);
  if (!m) throw new EncoderReferenceError(`unknown dropout site "${site}"`);
  const offsets: Record<string, number> = { 'attention.probs': 8, 'attention.output': 9, output: 10 };
  return Number(m[1]) * 16 + offsets[m[2]];
}

export interface EncoderDropoutProbabilities {
  /** hidden_dropout_prob (DistilBERT: dropout): embeddings, attention output, FFN output. */
  hidden: number;
  /** attention_probs_dropout_prob (DistilBERT: attention_dropout). */
  attention: number;
  /** classifier_dropout ?? hidden_dropout_prob (DistilBERT: seq_classif_dropout). */
  classifier: number;
  /** lora_dropout */
  lora: number;
}

/**
 * Masks drawn from Philox exactly as the GPU kernels draw them (dropout.ts, the attention kernels,
 * lora.ts), keyed by (seed, encoderDropoutSite(site), step): what the GPU encoder must reproduce.
 */
export function philoxEncoderDropout(spec: EncoderSpec, B: number, T: number, p: EncoderDropoutProbabilities, seed: number, step: number): EncoderDropout {
  const key = (site: number): DropoutKey => ({ seed, site, step });
  return {
    hidden: (site, rows, cols) => {
      if (site.endsWith('attention.probs')) {
        return p.attention > 0 ? attentionDropoutScale({ p: p.attention, key: key(encoderDropoutSite(site)) }, B, T, spec.numHeads) : null;
      }
      const prob = site.startsWith('classifier.') ? p.classifier : p.hidden;
      return prob > 0 ? dropoutScaleMask(key(encoderDropoutSite(site)), rows, cols, prob) : null;
    },
    lora: (slot, N) => (p.lora > 0 ? dropoutScaleMask(key(encoderDropoutSite({ slot })), N, slot.in, p.lora) : null),
  };
}

// ---------------------------------------------------------------- building blocks, forward and backward side by side

/** out[N, OUT] = inp[N, IN] · w[OUT, IN]ᵀ (+ bias[OUT]) */
function linearForward(inp: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, N: number, IN: number, OUT: number): Float64Array {
  const out = new Float64Array(N * OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let s = bias ? bias[o] : 0;
      for (let k = 0; k < IN; k++) s += inp[n * IN + k] * w[o * IN + k];
      out[n * OUT + o] = s;
    }
  }
  return out;
}

/** backward of out = inp·wᵀ + bias: dinp += dout·w; with dw/db, dw += doutᵀ·inp and db += Σ_n dout. */
function linearBackward(
  dout: ArrayLike<number>, inp: ArrayLike<number>, w: ArrayLike<number>, N: number, IN: number, OUT: number,
  dinp: Float64Array | null, dw?: Float64Array, db?: Float64Array,
): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      const d = dout[n * OUT + o];
      if (d === 0) continue;
      if (db) db[o] += d;
      for (let k = 0; k < IN; k++) {
        if (dinp) dinp[n * IN + k] += d * w[o * IN + k];
        if (dw) dw[o * IN + k] += d * inp[n * IN + k];
      }
    }
  }
}

interface LoraSaved {
  slot: EncoderLoraSlot;
  /** drop(x) [N, IN] */
  xd: Float64Array;
  mask: ArrayLike<number> | null;
  /** u = drop(x)·Aᵀ [N, R] */
  u: Float64Array;
}

interface AdapterState {
  layout: EncoderAdapterLayout;
  params: ArrayLike<number>;
}

/** y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ */
function projectionForward(
  x: Float64Array, N: number, w: ArrayLike<number>, bias: ArrayLike<number>, IN: number, OUT: number,
  adapter: AdapterState | null, slot: EncoderLoraSlot | undefined, mask: ArrayLike<number> | null,
): { y: Float64Array; saved: LoraSaved | null } {
  const y = linearForward(x, w, bias, N, IN, OUT);
  if (!adapter || !slot) return { y, saved: null };
  const { params, layout } = adapter;
  const R = slot.r;
  const xd = mask ? x.map((v, i) => v * mask[i]) : Float64Array.from(x);
  const u = new Float64Array(N * R);
  for (let n = 0; n < N; n++)
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let k = 0; k < IN; k++) s += xd[n * IN + k] * params[slot.offsetA + r * IN + k];
      u[n * R + r] = s;
    }
  for (let n = 0; n < N; n++)
    for (let o = 0; o < OUT; o++) {
      let s = 0;
      for (let r = 0; r < R; r++) s += u[n * R + r] * params[slot.offsetB + o * R + r];
      y[n * OUT + o] += layout.scale * s;
    }
  return { y, saved: { slot, xd, mask, u } };
}

/** backward of y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ: dB += s·dyᵀ·u, du = s·dy·B, dA += duᵀ·drop(x), dx += dy·W + (du·A)⊙mask */
function projectionBackward(
  dy: Float64Array, x: ArrayLike<number>, N: number, w: ArrayLike<number>, IN: number, OUT: number, dx: Float64Array,
  saved: LoraSaved | null, adapter: AdapterState | null, grads: Float64Array | null,
): void {
  linearBackward(dy, x, w, N, IN, OUT, dx);
  if (!saved || !adapter) return;
  const { slot, xd, mask, u } = saved;
  const { params, layout } = adapter;
  const R = slot.r;
  const s = layout.scale;
  const du = new Float64Array(N * R);
  for (let n = 0; n < N; n++)
    for (let r = 0; r < R; r++) {
      let acc = 0;
      for (let o = 0; o < OUT; o++) acc += dy[n * OUT + o] * params[slot.offsetB + o * R + r];
      du[n * R + r] = s * acc;
    }
  if (grads) {
    for (let o = 0; o < OUT; o++)
      for (let r = 0; r < R; r++) {
        let acc = 0;
        for (let n = 0; n < N; n++) acc += dy[n * OUT + o] * u[n * R + r];
        grads[slot.offsetB + o * R + r] += s * acc;
      }
    for (let r = 0; r < R; r++)
      for (let k = 0; k < IN; k++) {
        let acc = 0;
        for (let n = 0; n < N; n++) acc += du[n * R + r] * xd[n * IN + k];
        grads[slot.offsetA + r * IN + k] += acc;
      }
  }
  for (let n = 0; n < N; n++)
    for (let k = 0; k < IN; k++) {
      let acc = 0;
      for (let r = 0; r < R; r++) acc += du[n * R + r] * params[slot.offsetA + r * IN + k];
      dx[n * IN + k] += mask ? acc * mask[n * IN + k] : acc;
    }
}

/**
 * Bidirectional attention with a key padding mask: P [B, NH, T, T] = softmax(q·kᵀ/√HS) over the
 * real keys of the row (padded queries included), out = (P ⊙ drop)·v. Saves P.
 */
function attentionForward(q: Float64Array, k: Float64Array, v: Float64Array, keyMask: ArrayLike<number>, B: number, T: number, NH: number, HS: number, drop: ArrayLike<number> | null) {
  const C = NH * HS;
  const scale = 1 / Math.sqrt(HS);
  const out = new Float64Array(B * T * C);
  const P = new Float64Array(B * NH * T * T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++)
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const prow = ((b * NH + h) * T + t) * T;
        let max = -Infinity;
        for (let s = 0; s < T; s++) {
          const j = b * T + s;
          if (!keyMask[j]) continue;
          let dot = 0;
          for (let d = 0; d < HS; d++) dot += q[i * C + h * HS + d] * k[j * C + h * HS + d];
          P[prow + s] = dot * scale;
          max = Math.max(max, dot * scale);
        }
        let sum = 0;
        for (let s = 0; s < T; s++) if (keyMask[b * T + s]) sum += Math.exp(P[prow + s] - max);
        for (let s = 0; s < T; s++) {
          const j = b * T + s;
          if (!keyMask[j]) continue;
          P[prow + s] = Math.exp(P[prow + s] - max) / sum;
          const pd = P[prow + s] * (drop ? drop[(i * NH + h) * T + s] : 1);
          for (let d = 0; d < HS; d++) out[i * C + h * HS + d] += pd * v[j * C + h * HS + d];
        }
      }
  return { out, P };
}

/** backward of out = (P⊙drop)·v, P = softmax(S): dv += (P⊙drop)ᵀ·dout, dP = drop⊙(dout·vᵀ), dS = P⊙(dP − Σ P⊙dP), dq = dS·k·scale, dk = dSᵀ·q·scale */
function attentionBackward(dout: Float64Array, q: Float64Array, k: Float64Array, v: Float64Array, P: Float64Array, keyMask: ArrayLike<number>, B: number, T: number, NH: number, HS: number, drop: ArrayLike<number> | null) {
  const C = NH * HS;
  const scale = 1 / Math.sqrt(HS);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const dP = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++)
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const prow = ((b * NH + h) * T + t) * T;
        let dot = 0;
        for (let s = 0; s < T; s++) {
          const j = b * T + s;
          dP[s] = 0;
          if (!keyMask[j]) continue;
          const m = drop ? drop[(i * NH + h) * T + s] : 1;
          let acc = 0;
          for (let d = 0; d < HS; d++) {
            const g = dout[i * C + h * HS + d];
            acc += g * v[j * C + h * HS + d];
            dv[j * C + h * HS + d] += P[prow + s] * m * g;
          }
          dP[s] = acc * m;
          dot += P[prow + s] * dP[s];
        }
        for (let s = 0; s < T; s++) {
          const j = b * T + s;
          if (!keyMask[j]) continue;
          const dS = P[prow + s] * (dP[s] - dot) * scale;
          for (let d = 0; d < HS; d++) {
            dq[i * C + h * HS + d] += dS * k[j * C + h * HS + d];
            dk[j * C + h * HS + d] += dS * q[i * C + h * HS + d];
          }
        }
      }
  return { dq, dk, dv };
}

const gelu = (x: number) => x * normalCdf(x);
const geluGrad = (x: number) => normalCdf(x) + x * normalPdf(x);

function applyMask(x: Float64Array, mask: ArrayLike<number> | null): Float64Array {
  return mask ? x.map((v, i) => v * mask[i]) : x;
}

// ---------------------------------------------------------------- the model

/** One micro-batch of sequences for classification. */
export interface EncoderBatch {
  B: number;
  T: number;
  /** [B*T] token ids. */
  inputIds: ArrayLike<number>;
  /** [B*T] Transformers' attention_mask: 1 for a real token, 0 for padding (default: all 1). */
  attentionMask?: ArrayLike<number>;
  /** [B*T] segment A 0 / B 1 (default 0; DistilBERT has none). */
  tokenTypeIds?: ArrayLike<number>;
  /** [B*T] (default: 0 … T−1 per row; RoBERTa: robertaPositionIds from inputIds and padTokenId). */
  positionIds?: ArrayLike<number>;
  /** single-label: class ids [B] (−100 ignored); regression and multi-label: float targets [B*L]. */
  labels: ArrayLike<number>;
}

export interface EncoderRefOptions {
  adapter?: { layout: EncoderAdapterLayout; params: ArrayLike<number> } | null;
  /** Head modules trained in full (gradients returned by tensor name); default defaultTrainedHead(family). */
  trainedHead?: string[];
  dropout?: EncoderDropout | null;
  /** The loss is lossSum / lossNormalizer (default: this batch's count: labelled rows, or B·L). */
  lossNormalizer?: number;
  /** Compute gradients of the adapter (flat, same layout) and of the trained head. */
  grads?: boolean;
}

export interface EncoderRefResult {
  /** [B, L] */
  logits: Float64Array;
  /** argmax per row */
  predictions: Uint32Array;
  /** lossSum / lossNormalizer */
  loss: number;
  lossSum: number;
  /** labelled rows (single-label) or B·L elements */
  count: number;
  /** d loss / d adapter params (flat) */
  loraGrads?: Float64Array;
  /** d loss / d head tensors, by name (`classifier.weight` …) */
  headGrads?: Map<string, Float64Array>;
}

interface LayerSaved {
  h: Float64Array;
  q: Float64Array; k: Float64Array; v: Float64Array;
  sq: LoraSaved | null; sk: LoraSaved | null; sv: LoraSaved | null;
  P: Float64Array; probsDrop: ArrayLike<number> | null; att: Float64Array; so: LoraSaved | null;
  attnDrop: ArrayLike<number> | null;
  z1: Float64Array; mean1: Float64Array; rstd1: Float64Array; h1: Float64Array;
  f: Float64Array; sf: LoraSaved | null; g: Float64Array; sOut: LoraSaved | null;
  ffnDrop: ArrayLike<number> | null;
  z2: Float64Array; mean2: Float64Array; rstd2: Float64Array;
}

/** Forward (and optionally backward) of an encoder with its classification head on one micro-batch. */
export function encoderReference(spec: EncoderSpec, weights: WeightMap, batch: EncoderBatch, options: EncoderRefOptions = {}): EncoderRefResult {
  const { family } = spec;
  const { B, T } = batch;
  const N = B * T;
  const C = spec.hiddenSize;
  const NH = spec.numHeads;
  const HS = C / NH;
  const I = spec.intermediateSize;
  const L = spec.numLabels;
  const eps = spec.layerNormEps;
  if (!Number.isInteger(HS)) throw new EncoderReferenceError(`hidden size ${C} is not a multiple of ${NH} heads`);
  if (batch.inputIds.length !== N) throw new EncoderReferenceError(`${batch.inputIds.length} input ids for B ${B} × T ${T}`);
  const W = (name: string, size: number) => weight(weights, family, name, size);
  const adapter = options.adapter ?? null;
  const slotOf = (layer: number, m: EncoderModule) => adapter?.layout.slots.find((s) => s.layer === layer && s.module === m);
  const dropout = options.dropout ?? null;
  const hiddenMask = (site: string, rows: number, cols: number) => dropout?.hidden?.(site, rows, cols) ?? null;
  const loraMask = (slot: EncoderLoraSlot | undefined) => (slot && dropout?.lora?.(slot, N)) || null;
  const keyMask = batch.attentionMask ?? new Array<number>(N).fill(1);

  // embeddings: x = (word + type) + position;  h = dropout(LayerNorm(x))
  const emb = family === 'distilbert' ? 'distilbert.embeddings' : `${family}.embeddings`;
  const positionIds = batch.positionIds ?? (family === 'roberta' ? robertaPositionIds(batch.inputIds, B, T, spec.padTokenId) : absolutePositionIds(B, T));
  const word = W(`${emb}.word_embeddings.weight`, spec.vocabSize * C);
  const pos = W(`${emb}.position_embeddings.weight`, spec.maxPositionEmbeddings * C);
  const types = family === 'distilbert' ? null : W(`${emb}.token_type_embeddings.weight`, spec.typeVocabSize * C);
  const x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const id = batch.inputIds[n];
    const p = positionIds[n];
    const t = batch.tokenTypeIds?.[n] ?? 0;
    if (!(id >= 0 && id < spec.vocabSize)) throw new EncoderReferenceError(`token id ${id} at ${n} is outside the vocabulary of ${spec.vocabSize}`);
    if (!(p >= 0 && p < spec.maxPositionEmbeddings)) throw new EncoderReferenceError(`position ${p} at ${n} is outside max_position_embeddings ${spec.maxPositionEmbeddings}`);
    if (types && !(t >= 0 && t < spec.typeVocabSize)) throw new EncoderReferenceError(`token type ${t} at ${n} is outside type_vocab_size ${spec.typeVocabSize}`);
    for (let c = 0; c < C; c++) x[n * C + c] = word[id * C + c] + (types ? types[t * C + c] : 0) + pos[p * C + c];
  }
  const embLn = layernormForwardRef(x, W(`${emb}.LayerNorm.weight`, C), W(`${emb}.LayerNorm.bias`, C), { rows: N, C, eps });
  let h = applyMask(embLn.out, hiddenMask('embeddings', N, C));

  // encoder layers
  const saved: LayerSaved[] = [];
  for (let l = 0; l < spec.numLayers; l++) {
    const proj = (m: EncoderModule) => {
      const path = encoderModulePath(family, l, m);
      const { in: IN, out: OUT } = encoderProjectionShape(spec, m);
      return { w: W(`${path}.weight`, IN * OUT), b: W(`${path}.bias`, OUT), IN, OUT, slot: slotOf(l, m) };
    };
    const run = (m: EncoderModule, input: Float64Array) => {
      const p = proj(m);
      return projectionForward(input, N, p.w, p.b, p.IN, p.OUT, adapter, p.slot, loraMask(p.slot));
    };
    const [ln1, ln2] = layerNormNames(family, l);
    const q = run('query', h);
    const k = run('key', h);
    const v = run('value', h);
    const probsDrop = hiddenMask(`layer.${l}.attention.probs`, N * NH, T);
    const { out: att, P } = attentionForward(q.y, k.y, v.y, keyMask, B, T, NH, HS, probsDrop);
    const o = run('attention.output', att);
    const attnDrop = family === 'distilbert' ? null : hiddenMask(`layer.${l}.attention.output`, N, C);
    const od = applyMask(o.y, attnDrop);
    const z1 = od.map((val, i) => val + h[i]);
    const n1 = layernormForwardRef(z1, W(`${ln1}.weight`, C), W(`${ln1}.bias`, C), { rows: N, C, eps });
    const f = run('intermediate', n1.out);
    const g = f.y.map(gelu);
    const out = run('output', g);
    const ffnDrop = hiddenMask(`layer.${l}.output`, N, C);
    const z2 = applyMask(out.y, ffnDrop).map((val, i) => val + n1.out[i]);
    const n2 = layernormForwardRef(z2, W(`${ln2}.weight`, C), W(`${ln2}.bias`, C), { rows: N, C, eps });
    saved.push({
      h, q: q.y, k: k.y, v: v.y, sq: q.saved, sk: k.saved, sv: v.saved, P, probsDrop, att, so: o.saved, attnDrop,
      z1, mean1: n1.mean, rstd1: n1.rstd, h1: n1.out, f: f.y, sf: f.saved, g, sOut: out.saved, ffnDrop,
      z2, mean2: n2.mean, rstd2: n2.rstd,
    });
    h = n2.out;
  }

  // head: the first token of each sequence, then the family's layers
  const first = new Float64Array(B * C);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) first[b * C + c] = h[b * T * C + c];
  const [m0, m1] = ENCODER_HEAD_MODULES[family];
  const w0 = W(`${m0}.weight`, C * C);
  const b0 = W(`${m0}.bias`, C);
  const w1 = W(`${m1}.weight`, L * C);
  const b1 = W(`${m1}.bias`, L);
  const drop0 = hiddenMask('classifier.0', B, C);
  const drop1 = family === 'roberta' ? hiddenMask('classifier.1', B, C) : null;
  // in0 → dense m0 → act → [dropout] → in1 → dense m1 → logits
  const in0 = family === 'roberta' ? applyMask(first, drop0) : first;
  const a0 = linearForward(in0, w0, b0, B, C, C);
  const act = family === 'distilbert' ? a0.map((v) => Math.max(v, 0)) : a0.map(Math.tanh);
  const in1 = applyMask(act, family === 'roberta' ? drop1 : drop0);
  const logits = linearForward(in1, w1, b1, B, C, L);

  const probe = classificationLossRef(spec.problemType, logits, batch.labels, { B, L });
  const normalizer = options.lossNormalizer ?? probe.count;
  const scale = normalizer > 0 ? 1 / normalizer : 0;
  const loss = classificationLossRef(spec.problemType, logits, batch.labels, { B, L }, scale);
  const result: EncoderRefResult = {
    logits, predictions: loss.predictions, loss: loss.lossSum * scale, lossSum: loss.lossSum, count: loss.count,
  };
  if (!options.grads) return result;

  // ---------------------------------------------------------------- backward: the same list, reversed
  const trained = new Set(options.trainedHead ?? defaultTrainedHead(family));
  for (const m of trained) {
    if (!ENCODER_HEAD_MODULES[family].includes(m)) throw new EncoderReferenceError(`"${m}" is not a head module of ${family} (${ENCODER_HEAD_MODULES[family].join(', ')})`);
  }
  const headGrads = new Map<string, Float64Array>();
  const gradsOf = (m: string, OUT: number) => {
    if (!trained.has(m)) return [undefined, undefined] as const;
    const dw = new Float64Array(OUT * C);
    const db = new Float64Array(OUT);
    headGrads.set(`${m}.weight`, dw);
    headGrads.set(`${m}.bias`, db);
    return [dw, db] as const;
  };
  const dlogits = loss.dlogits;
  const din1 = new Float64Array(B * C);
  linearBackward(dlogits, in1, w1, B, C, L, din1, ...gradsOf(m1, L));
  const dact = applyMask(din1, family === 'roberta' ? drop1 : drop0);
  const da0 = family === 'distilbert' ? dact.map((d, i) => (a0[i] > 0 ? d : 0)) : dact.map((d, i) => d * (1 - act[i] * act[i]));
  const din0 = new Float64Array(B * C);
  linearBackward(da0, in0, w0, B, C, C, din0, ...gradsOf(m0, C));
  const dfirst = family === 'roberta' ? applyMask(din0, drop0) : din0;
  let dh = new Float64Array(N * C);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) dh[b * T * C + c] = dfirst[b * C + c];

  const loraGrads = adapter ? new Float64Array(adapter.layout.size) : null;
  for (let l = spec.numLayers - 1; l >= 0; l--) {
    const s = saved[l];
    const [ln1, ln2] = layerNormNames(family, l);
    const back = (m: EncoderModule, dy: Float64Array, input: Float64Array, dinput: Float64Array, sv: LoraSaved | null) => {
      const path = encoderModulePath(family, l, m);
      const { in: IN, out: OUT } = encoderProjectionShape(spec, m);
      projectionBackward(dy, input, N, W(`${path}.weight`, IN * OUT), IN, OUT, dinput, sv, adapter, loraGrads);
    };
    // h_out = LayerNorm(z2), z2 = drop(out) + h1
    const dz2 = layernormBackwardRef(dh, s.z2, W(`${ln2}.weight`, C), s.mean2, s.rstd2, { rows: N, C, eps });
    const dout = applyMask(dz2, s.ffnDrop);
    const dg = new Float64Array(N * I);
    back('output', dout, s.g, dg, s.sOut);
    const df = dg.map((d, i) => d * geluGrad(s.f[i]));
    const dh1 = Float64Array.from(dz2); // the residual
    back('intermediate', df, s.h1, dh1, s.sf);
    // h1 = LayerNorm(z1), z1 = drop(o) + h
    const dz1 = layernormBackwardRef(dh1, s.z1, W(`${ln1}.weight`, C), s.mean1, s.rstd1, { rows: N, C, eps });
    const dod = applyMask(dz1, s.attnDrop);
    const datt = new Float64Array(N * C);
    back('attention.output', dod, s.att, datt, s.so);
    const { dq, dk, dv } = attentionBackward(datt, s.q, s.k, s.v, s.P, keyMask, B, T, NH, HS, s.probsDrop);
    const dhPrev = Float64Array.from(dz1); // the residual
    back('query', dq, s.h, dhPrev, s.sq);
    back('key', dk, s.h, dhPrev, s.sk);
    back('value', dv, s.h, dhPrev, s.sv);
    dh = dhPrev;
  }
  // The embeddings are frozen: dh (the gradient at the embedding dropout's output) stops here.
  if (loraGrads) result.loraGrads = loraGrads;
  result.headGrads = headGrads;
  return result;
}
