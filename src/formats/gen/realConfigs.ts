/**
 * The config.json of the models the studio is sized for, as their Hugging Face repositories ship
 * them (every key and value; checked against public copies of each file). The bench generates
 * random checkpoints of these shapes with the layer count cut (formats/nodeCheckpoint.ts), and the
 * planner's goals are tested against them at full size. No weights here: shapes only.
 */

export type RealModel = 'SmolLM2-135M' | 'SmolLM2-360M' | 'Qwen2.5-0.5B' | 'Qwen3-0.6B' | 'Llama-3.2-1B' | 'Llama-3.2-3B';

export const REAL_CONFIGS: Readonly<Record<RealModel, { repo: string; config: Readonly<Record<string, unknown>> }>> = {
  'SmolLM2-135M': {
    repo: 'HuggingFaceTB/SmolLM2-135M',
    config: {
      architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 0, eos_token_id: 0, head_dim: 64,
      hidden_act: 'silu', hidden_size: 576, initializer_range: 0.041666666666666664, intermediate_size: 1536, is_llama_config: true,
      max_position_embeddings: 8192, mlp_bias: false, model_type: 'llama', num_attention_heads: 9, num_hidden_layers: 30, num_key_value_heads: 3,
      pretraining_tp: 1, rms_norm_eps: 1e-5, rope_interleaved: false, rope_scaling: null, rope_theta: 100000, tie_word_embeddings: true,
      torch_dtype: 'bfloat16', transformers_version: '4.40.1', use_cache: true, vocab_size: 49152,
    },
  },
  'SmolLM2-360M': {
    repo: 'HuggingFaceTB/SmolLM2-360M',
    config: {
      architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 0, eos_token_id: 0, head_dim: 64,
      hidden_act: 'silu', hidden_size: 960, initializer_range: 0.02, intermediate_size: 2560, is_llama_config: true,
      max_position_embeddings: 8192, mlp_bias: false, model_type: 'llama', num_attention_heads: 15, num_hidden_layers: 32, num_key_value_heads: 5,
      pretraining_tp: 1, rms_norm_eps: 1e-5, rope_interleaved: false, rope_scaling: null, rope_theta: 100000, tie_word_embeddings: true,
      torch_dtype: 'bfloat16', transformers_version: '4.40.1', use_cache: true, vocab_size: 49152,
    },
  },
  'Qwen2.5-0.5B': {
    repo: 'Qwen/Qwen2.5-0.5B',
    config: {
      architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151643, hidden_act: 'silu',
      hidden_size: 896, initializer_range: 0.02, intermediate_size: 4864, max_position_embeddings: 32768, max_window_layers: 24,
      model_type: 'qwen2', num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6,
      rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.40.1',
      use_cache: true, use_mrope: false, use_sliding_window: false, vocab_size: 151936,
    },
  },
  'Qwen3-0.6B': {
    repo: 'Qwen/Qwen3-0.6B',
    config: {
      architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645,
      head_dim: 128, hidden_act: 'silu', hidden_size: 1024, initializer_range: 0.02, intermediate_size: 3072, max_position_embeddings: 40960,
      max_window_layers: 28, model_type: 'qwen3', num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 8, rms_norm_eps: 1e-6,
      rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: 'bfloat16',
      transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: 151936,
    },
  },
  'Llama-3.2-1B': {
    repo: 'meta-llama/Llama-3.2-1B',
    config: {
      architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000, eos_token_id: 128001,
      head_dim: 64, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 8192, max_position_embeddings: 131072,
      mlp_bias: false, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 16, num_key_value_heads: 8, pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0.dev0', use_cache: true, vocab_size: 128256,
    },
  },
  'Llama-3.2-3B': {
    repo: 'meta-llama/Llama-3.2-3B',
    config: {
      architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000, eos_token_id: 128001,
      head_dim: 128, hidden_act: 'silu', hidden_size: 3072, initializer_range: 0.02, intermediate_size: 8192, max_position_embeddings: 131072,
      mlp_bias: false, model_type: 'llama', num_attention_heads: 24, num_hidden_layers: 28, num_key_value_heads: 8, pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0.dev0', use_cache: true, vocab_size: 128256,
    },
  },
};

/** A real config with num_hidden_layers cut to `layers` (every other value as shipped). */
export function cutConfig(model: RealModel, layers: number): Record<string, unknown> {
  const config = { ...REAL_CONFIGS[model].config };
  if (!Number.isInteger(layers) || layers < 1 || layers > (config.num_hidden_layers as number)) throw new RangeError(`${model} has ${config.num_hidden_layers as number} layers; cannot cut to ${layers}`);
  config.num_hidden_layers = layers;
  if ('max_window_layers' in config) config.max_window_layers = Math.min(config.max_window_layers as number, layers);
  return config;
}
