/**
 * The Llama-family decoder with a KV cache as one ONNX graph, with the inputs and outputs that
 * transformers.js feeds and reads for generation (the layout Optimum exports):
 *
 *   input_ids            int64 [batch_size, sequence_length]
 *   attention_mask       int64 [batch_size, past_sequence_length + sequence_length]
 *   position_ids         int64 [batch_size, sequence_length]
 *   past_key_values.{i}.key / .value   act [batch_size, KVH, past_sequence_length, HS]
 *   → logits             act [batch_size, sequence_length, V]
 *   → present.{i}.key / .value         act [batch_size, KVH, past_sequence_length + sequence_length, HS]
 *
 * (act = float32, or float16 in the fp16 / q4f16 variants.) transformers.js builds the empty past
 * at the first step from these input shapes: batch_size → the batch, other symbolic dims → 0.
 *
 * Letters: B batch, S new tokens, P past tokens, T = P + S, C hidden, NH/KVH heads, HS head size,
 * QD = NH·HS, KD = KVH·HS, I intermediate, V vocab. Per layer, as HF's modeling_llama/qwen2/qwen3:
 *   h = RMSNorm(x); q,k,v = h·Wᵀ (+ b); [q_norm, k_norm per head]; RoPE (rotate_half) at
 *   position_ids; K,V = concat(past, new); GQA by repeating KV heads; softmax(q·kᵀ/√HS masked
 *   causally and by attention_mask)·v; x += o_proj; x += down(silu(gate(h2))·up(h2)).
 * RMSNorm and softmax run in f32 in the f16 variants, as HF does; RoPE's cos/sin are computed in f32.
 */
import type { ModelSpec } from '../../hfConfig';
import { ropeInvFreq } from '../../rope';
import { ExportError, type WeightReader } from '../types';
import { DT, GraphBuilder, encodeFloats } from './graph';
import { layerKit, MASK_MIN } from './layers';

import { ONNX_VARIANTS, type OnnxVariant } from '../kinds';
export { ONNX_VARIANTS, type OnnxVariant };

export interface DecoderOptions {
  /** Filled with the weights the runtime computes with (after f16 rounding or dequantization), by HF name; an untied lm_head.weight is added when the head is stored apart from a tied embedding. */
  effectiveWeights?: Map<string, Float32Array>;
  onTensor?: (name: string) => void;
  /**
   * Add transformers.js's optional `num_logits_to_keep` input (int64 scalar): 0 = logits of every
   * position, k = of the last k only. transformers.js feeds 1 while generating, so a prompt never
   * materializes [tokens × vocab] logits; a plain onnxruntime caller must then feed it too.
   */
  logitsToKeep?: boolean;
}

export async function buildDecoder(spec: ModelSpec, weights: WeightReader, variant: OnnxVariant, options: DecoderOptions = {}): Promise<GraphBuilder> {
  const C = spec.hiddenSize;
  const NH = spec.numHeads;
  const KVH = spec.numKvHeads;
  const HS = spec.headDim;
  const QD = NH * HS;
  const KD = KVH * HS;
  const I = spec.intermediateSize;
  const V = spec.vocabSize;
  const g = new GraphBuilder();
  const kit = layerKit(g, variant, weights, options);
  const { act, read, floatInit, recordFloat, toF32, toAct, linear } = kit;

  // ---------------------------------------------------------------- inputs
  const inputIds = g.input('input_ids', DT.INT64, ['batch_size', 'sequence_length']);
  const attentionMask = g.input('attention_mask', DT.INT64, ['batch_size', 'past_sequence_length + sequence_length']);
  const positionIds = g.input('position_ids', DT.INT64, ['batch_size', 'sequence_length']);
  const past: { key: string; value: string }[] = [];
  for (let l = 0; l < spec.numLayers; l++) {
    past.push({
      key: g.input(`past_key_values.${l}.key`, act, ['batch_size', KVH, 'past_sequence_length', HS]),
      value: g.input(`past_key_values.${l}.value`, act, ['batch_size', KVH, 'past_sequence_length', HS]),
    });
  }

  // ---------------------------------------------------------------- building blocks
  /** HF's RMSNorm: x·rsqrt(mean(x²) + eps) in f32, cast back, times the weight. */
  const rmsnorm = async (x: string, name: string, D: number, prefix: string): Promise<string> => {
    const w = await read(name, D);
    recordFloat(name, w);
    const xf = toF32(x);
    const sq = g.op('Mul', [xf, xf], {}, { name: `${prefix}/Pow` });
    const mean = g.op('ReduceMean', [sq], { axes: [-1], keepdims: 1 }, { name: `${prefix}/ReduceMean` });
    const plusEps = g.op('Add', [mean, g.constFloat([spec.rmsNormEps], DT.FLOAT)], {}, { name: `${prefix}/Add` });
    const rs = g.op('Reciprocal', [g.op('Sqrt', [plusEps], {}, { name: `${prefix}/Sqrt` })], {}, { name: `${prefix}/Reciprocal` });
    const normed = toAct(g.op('Mul', [xf, rs], {}, { name: `${prefix}/Mul` }));
    return g.op('Mul', [floatInit(name, w, [D]), normed], {}, { name: `${prefix}/Mul_1` });
  };

  // ---------------------------------------------------------------- embedding
  const embed = await kit.embedding('model.embed_tokens.weight', V, C, inputIds, '/model/embed_tokens');
  let x = embed.out;
  const embedTable = embed.table.float; // float table shared with a tied head
  const embedQ = embed.table.int8;

  // ---------------------------------------------------------------- rotary cos/sin [B, 1, S, HS], computed in f32
  const invFreq = Float32Array.from(ropeInvFreq({ headSize: HS, theta: spec.ropeTheta, scaling: spec.ropeScaling ? { ...spec.ropeScaling, type: 'llama3' } : undefined }));
  const invFreqInit = g.initializer('/model/rotary_emb/inv_freq', DT.FLOAT, [HS / 2], encodeFloats(invFreq, DT.FLOAT));
  const pos = g.op('Unsqueeze', [g.op('Cast', [positionIds], { to: DT.FLOAT }, { name: '/model/rotary_emb/Cast' }), g.constInt64([2])]);
  const freqs = g.op('Mul', [pos, invFreqInit], {}, { name: '/model/rotary_emb/Mul' }); // [B, S, HS/2]
  const embFreqs = g.op('Concat', [freqs, freqs], { axis: -1 }, { name: '/model/rotary_emb/Concat' });
  const cos = toAct(g.op('Unsqueeze', [g.op('Cos', [embFreqs]), g.constInt64([1])]));
  const sin = toAct(g.op('Unsqueeze', [g.op('Sin', [embFreqs]), g.constInt64([1])]));

  // ---------------------------------------------------------------- mask [B, 1, S, T]: key j visible to query i iff j ≤ P + i and attention_mask[j] = 1
  const seqLen = g.op('Shape', [inputIds], { start: 1, end: 2 }); // [1] = S
  const totalLen = g.op('Shape', [attentionMask], { start: 1, end: 2 }); // [1] = T
  const zero = g.constInt64([0], []);
  const one = g.constInt64([1], []);
  const qIdx = g.op('Range', [zero, g.op('Squeeze', [seqLen, g.constInt64([0])]), one]); // [S]
  const kIdx = g.op('Range', [zero, g.op('Squeeze', [totalLen, g.constInt64([0])]), one]); // [T]
  const qPos = g.op('Unsqueeze', [g.op('Add', [qIdx, g.op('Sub', [totalLen, seqLen])]), g.constInt64([1])]); // [S, 1]
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [kIdx, g.constInt64([0])]), qPos], {}, { name: '/model/mask/causal' }); // [S, T]
  const keep = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: DT.BOOL }), g.constInt64([1, 2])]); // [B, 1, 1, T]
  const allowed = g.op('And', [causal, keep], {}, { name: '/model/mask/And' }); // [B, 1, S, T]
  const maskMin = g.constFloat([MASK_MIN[act]], act);
  const scale = g.constFloat([1 / Math.sqrt(HS)], act);

  const rope = (t: string, prefix: string): string => {
    const x1 = g.op('Slice', [t, g.constInt64([0]), g.constInt64([HS / 2]), g.constInt64([3])], {}, { name: `${prefix}/Slice` });
    const x2 = g.op('Slice', [t, g.constInt64([HS / 2]), g.constInt64([HS]), g.constInt64([3])], {}, { name: `${prefix}/Slice_1` });
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 }, { name: `${prefix}/Concat` });
    return g.op('Add', [g.op('Mul', [t, cos]), g.op('Mul', [rotated, sin])], {}, { name: `${prefix}/Add` });
  };
  /** [B, KVH, T, HS] → [B, NH, T, HS] (each kv head serves NH/KVH query heads). */
  const repeatKv = (t: string): string => {
    if (NH === KVH) return t;
    const expanded = g.op('Expand', [g.op('Unsqueeze', [t, g.constInt64([2])]), g.constInt64([1, 1, NH / KVH, 1, 1])]);
    return g.op('Reshape', [expanded, g.constInt64([0, NH, -1, HS])]);
  };

  // ---------------------------------------------------------------- layers
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `model.layers.${l}`;
    const P = `/model/layers.${l}`;
    const h = await rmsnorm(x, `${p}.input_layernorm.weight`, C, `${P}/input_layernorm`);
    const bias = (m: string) => (spec.attentionBias ? `${p}.self_attn.${m}.bias` : null);
    const q = await linear(h, `${p}.self_attn.q_proj.weight`, QD, C, bias('q_proj'), `${P}/self_attn/q_proj`);
    const k = await linear(h, `${p}.self_attn.k_proj.weight`, KD, C, bias('k_proj'), `${P}/self_attn/k_proj`);
    const v = await linear(h, `${p}.self_attn.v_proj.weight`, KD, C, bias('v_proj'), `${P}/self_attn/v_proj`);
    let q4 = g.op('Reshape', [q, g.constInt64([0, 0, NH, HS])]);
    let k4 = g.op('Reshape', [k, g.constInt64([0, 0, KVH, HS])]);
    const v4 = g.op('Reshape', [v, g.constInt64([0, 0, KVH, HS])]);
    if (spec.qkNorm) {
      q4 = await rmsnorm(q4, `${p}.self_attn.q_norm.weight`, HS, `${P}/self_attn/q_norm`);
      k4 = await rmsnorm(k4, `${p}.self_attn.k_norm.weight`, HS, `${P}/self_attn/k_norm`);
    }
    const perm = { perm: [0, 2, 1, 3] };
    const qr = rope(g.op('Transpose', [q4], perm), `${P}/self_attn/rotary_q`);
    const kr = rope(g.op('Transpose', [k4], perm), `${P}/self_attn/rotary_k`);
    const vt = g.op('Transpose', [v4], perm);
    const presentK = g.op('Concat', [past[l].key, kr], { axis: 2 }, { name: `${P}/self_attn/Concat_k`, output: `present.${l}.key` });
    const presentV = g.op('Concat', [past[l].value, vt], { axis: 2 }, { name: `${P}/self_attn/Concat_v`, output: `present.${l}.value` });
    g.output(`present.${l}.key`, act, ['batch_size', KVH, 'past_sequence_length + sequence_length', HS]);
    g.output(`present.${l}.value`, act, ['batch_size', KVH, 'past_sequence_length + sequence_length', HS]);
    const kAll = repeatKv(presentK);
    const vAll = repeatKv(presentV);
    const scores = g.op('Mul', [g.op('MatMul', [qr, g.op('Transpose', [kAll], { perm: [0, 1, 3, 2] })], {}, { name: `${P}/self_attn/MatMul_qk` }), scale]);
    const masked = g.op('Where', [allowed, scores, maskMin], {}, { name: `${P}/self_attn/Where` });
    const probs = toAct(g.op('Softmax', [toF32(masked)], { axis: -1 }, { name: `${P}/self_attn/Softmax` }));
    const ctx = g.op('MatMul', [probs, vAll], {}, { name: `${P}/self_attn/MatMul_pv` }); // [B, NH, S, HS]
    const ctx3 = g.op('Reshape', [g.op('Transpose', [ctx], perm), g.constInt64([0, 0, QD])]);
    const o = await linear(ctx3, `${p}.self_attn.o_proj.weight`, C, QD, null, `${P}/self_attn/o_proj`);
    x = g.op('Add', [x, o], {}, { name: `${P}/residual_attn` });
    const h2 = await rmsnorm(x, `${p}.post_attention_layernorm.weight`, C, `${P}/post_attention_layernorm`);
    const gate = await linear(h2, `${p}.mlp.gate_proj.weight`, I, C, null, `${P}/mlp/gate_proj`);
    const up = await linear(h2, `${p}.mlp.up_proj.weight`, I, C, null, `${P}/mlp/up_proj`);
    const act2 = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])], {}, { name: `${P}/mlp/act_fn` }), up]);
    const down = await linear(act2, `${p}.mlp.down_proj.weight`, C, I, null, `${P}/mlp/down_proj`);
    x = g.op('Add', [x, down], {}, { name: `${P}/residual_mlp` });
  }

  // ---------------------------------------------------------------- head
  let hf = await rmsnorm(x, 'model.norm.weight', C, '/model/norm');
  if (options.logitsToKeep) {
    // hf[:, −k:, :] for k > 0, all of it for k = 0
    const keepN = g.input('num_logits_to_keep', DT.INT64, []);
    const start = g.op('Where', [g.op('Equal', [keepN, zero]), zero, g.op('Neg', [keepN])], {}, { name: '/lm_head/keep_start' });
    hf = g.op('Slice', [hf, g.op('Unsqueeze', [start, g.constInt64([0])]), g.constInt64([Number.MAX_SAFE_INTEGER]), g.constInt64([1])], {}, { name: '/lm_head/keep_Slice' });
  }
  if (!spec.tieWordEmbeddings) {
    await linear(hf, 'lm_head.weight', V, C, null, '/lm_head').then((y) => g.node('Identity', [y], {}, { name: '/lm_head/output', outputs: ['logits'] }));
  } else if (embedTable) {
    g.op('MatMul', [hf, g.op('Transpose', [embedTable], { perm: [1, 0] })], {}, { name: '/lm_head/MatMul', output: 'logits' });
  } else if (embedQ) {
    const table = g.op('DequantizeLinear', [embedQ.table, embedQ.scales], { axis: 0 }, { name: '/lm_head/DequantizeLinear' });
    g.op('MatMul', [hf, g.op('Transpose', [table], { perm: [1, 0] })], {}, { name: '/lm_head/MatMul', output: 'logits' });
  }
  if (spec.tieWordEmbeddings && !embedTable && !embedQ) throw new ExportError('internal: tied head without an embedding table');
  g.output('logits', act, ['batch_size', options.logitsToKeep ? 'logits_length' : 'sequence_length', V]);
  return g;
}
