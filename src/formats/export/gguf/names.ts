/**
 * Hugging Face → llama.cpp names and layouts, as convert_hf_to_gguf.py maps them (gguf-py's
 * tensor_mapping.py / constants.py for the llama, qwen2 and qwen3 architectures).
 *
 * Llama only: q_proj and k_proj rows (and biases) are permuted from HF's rotate_half layout (the two
 * halves of each head) to the interleaved pairs llama.cpp's "normal" RoPE rotates:
 * reshape [H, 2, HS/2, …] → swap axes 1 and 2 → reshape back (LlamaModel.permute, with the kv head
 * count for k_proj). Qwen2/Qwen3 use the NeoX RoPE in llama.cpp, which is rotate_half: no permutation.
 */
import type { Architecture, LoraTarget, ModelSpec } from '../../hfConfig';
import { ExportError } from '../types';

/** llama.cpp architecture name (general.architecture) of a model. Mistral is written as llama, as the converter does. */
export function ggufArchitecture(arch: Architecture): 'llama' | 'qwen2' | 'qwen3' {
  switch (arch) {
    case 'llama':
    case 'mistral':
      return 'llama';
    case 'qwen2':
      return 'qwen2';
    case 'qwen3':
      return 'qwen3';
  }
}

const LAYER_NAMES: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};

/** The GGUF name of an HF tensor name. */
export function ggufTensorName(hfName: string): string {
  if (hfName === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hfName === 'model.norm.weight') return 'output_norm.weight';
  if (hfName === 'lm_head.weight') return 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
  const mapped = m ? LAYER_NAMES[m[2]] : undefined;
  if (!m || !mapped) throw new ExportError(`no GGUF name for tensor "${hfName}"`);
  return `blk.${m[1]}.${mapped}`;
}

/** GGUF base name (without .weight) of a LoRA target's projection in a layer. */
export function ggufProjectionName(layer: number, target: LoraTarget): string {
  const short: Record<LoraTarget, string> = {
    q_proj: 'attn_q', k_proj: 'attn_k', v_proj: 'attn_v', o_proj: 'attn_output',
    gate_proj: 'ffn_gate', up_proj: 'ffn_up', down_proj: 'ffn_down',
  };
  return `blk.${layer}.${short[target]}.weight`;
}

/**
 * LlamaModel.permute on the rows of a [rows, cols] tensor (cols = 1 for a bias): within each of
 * `heads` heads, row (half j, index i) moves to 2·i + j.
 */
export function permuteRowsForLlamaRope(data: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  if (rows % heads !== 0 || (rows / heads) % 2 !== 0) throw new ExportError(`cannot permute ${rows} rows into ${heads} heads of even size`);
  const hs = rows / heads;
  const half = hs / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const src = h * hs + j * half + i;
        const dst = h * hs + i * 2 + j;
        out.set(data.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

/** Heads to permute a q/k tensor's rows with, or null when the architecture needs no permutation. */
export function llamaPermuteHeads(spec: ModelSpec, hfName: string): number | null {
  if (ggufArchitecture(spec.architecture) !== 'llama') return null;
  if (/\.self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return spec.numHeads;
  if (/\.self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return spec.numKvHeads;
  return null;
}
