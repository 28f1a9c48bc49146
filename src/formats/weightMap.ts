/**
 * The tensors a Hugging Face Llama-family checkpoint holds for a ModelSpec, and a check of a
 * checkpoint's tensor list against them that reports every problem at once.
 */
import type { ModelSpec } from './hfConfig';

export type TensorKind = 'embedding' | 'matrix' | 'norm' | 'bias';

export interface ExpectedTensor {
  name: string;
  shape: number[];
  kind: TensorKind;
}

/** Every tensor HF's LlamaForCausalLM (and the Mistral/Qwen2/Qwen3 variants) saves, in layer order. */
export function expectedTensors(spec: ModelSpec): ExpectedTensor[] {
  const C = spec.hiddenSize;
  const Q = spec.numHeads * spec.headDim;
  const KV = spec.numKvHeads * spec.headDim;
  const I = spec.intermediateSize;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [spec.vocabSize, C], kind: 'embedding' }];
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [C], kind: 'norm' });
    out.push({ name: `${p}.self_attn.q_proj.weight`, shape: [Q, C], kind: 'matrix' });
    out.push({ name: `${p}.self_attn.k_proj.weight`, shape: [KV, C], kind: 'matrix' });
    out.push({ name: `${p}.self_attn.v_proj.weight`, shape: [KV, C], kind: 'matrix' });
    if (spec.attentionBias) {
      out.push({ name: `${p}.self_attn.q_proj.bias`, shape: [Q], kind: 'bias' });
      out.push({ name: `${p}.self_attn.k_proj.bias`, shape: [KV], kind: 'bias' });
      out.push({ name: `${p}.self_attn.v_proj.bias`, shape: [KV], kind: 'bias' });
    }
    if (spec.qkNorm) {
      out.push({ name: `${p}.self_attn.q_norm.weight`, shape: [spec.headDim], kind: 'norm' });
      out.push({ name: `${p}.self_attn.k_norm.weight`, shape: [spec.headDim], kind: 'norm' });
    }
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [C, Q], kind: 'matrix' });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [C], kind: 'norm' });
    out.push({ name: `${p}.mlp.gate_proj.weight`, shape: [I, C], kind: 'matrix' });
    out.push({ name: `${p}.mlp.up_proj.weight`, shape: [I, C], kind: 'matrix' });
    out.push({ name: `${p}.mlp.down_proj.weight`, shape: [C, I], kind: 'matrix' });
  }
  out.push({ name: 'model.norm.weight', shape: [C], kind: 'norm' });
  if (!spec.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [spec.vocabSize, C], kind: 'matrix' });
  return out;
}

export class WeightMapError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`WeightMapError: ${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} with the checkpoint's tensors:\n  - ${problems.join('\n  - ')}`);
    this.name = 'WeightMapError';
  }
}

const FLOAT_DTYPES = new Set(['BF16', 'F16', 'F32', 'F64']);

/**
 * Checks a checkpoint's tensors against the spec: every expected tensor present with its shape and
 * a float dtype, nothing unexpected (a tied checkpoint that still stores lm_head.weight equal to the
 * embedding is tolerated, as HF loads it). Returns the problems; `assertWeights` throws them.
 */
export function checkWeights(spec: ModelSpec, tensors: { name: string; dtype: string; shape: number[] }[]): string[] {
  const problems: string[] = [];
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const expected = expectedTensors(spec);
  const expectedNames = new Set(expected.map((e) => e.name));
  for (const e of expected) {
    const t = byName.get(e.name);
    if (!t) {
      problems.push(`missing tensor "${e.name}" (expected ${JSON.stringify(e.shape)})`);
      continue;
    }
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`tensor "${e.name}" has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(e.shape)}`);
    }
    if (!FLOAT_DTYPES.has(t.dtype)) problems.push(`tensor "${e.name}" has dtype ${t.dtype}, expected BF16, F16, F32 or F64`);
  }
  for (const t of tensors) {
    if (expectedNames.has(t.name)) continue;
    if (spec.tieWordEmbeddings && t.name === 'lm_head.weight') continue;
    // Some exports keep rotary inverse-frequency buffers; they are recomputed from the config.
    if (/^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(t.name)) continue;
    problems.push(`unexpected tensor "${t.name}" (${t.dtype} ${JSON.stringify(t.shape)}) for a ${spec.architecture} model with ${spec.numLayers} layers`);
  }
  return problems;
}

export function assertWeights(spec: ModelSpec, tensors: { name: string; dtype: string; shape: number[] }[], file = 'checkpoint'): void {
  const problems = checkWeights(spec, tensors);
  if (problems.length) throw new WeightMapError(file, problems);
}
