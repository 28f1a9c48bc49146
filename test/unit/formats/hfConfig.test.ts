import { describe, expect, it } from 'vitest';
import { ConfigError, LORA_TARGETS, moduleShape, parseHfConfig } from '../../../src/formats/hfConfig';
import { assertWeights, checkWeights, expectedTensors, WeightMapError } from '../../../src/formats/weightMap';

// config.json files shaped exactly like the hub's (Python json.dumps spelling: 1e-05, 1000000.0).
const SMOLLM2_135M = `{"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":0,"eos_token_id":0,
"hidden_act":"silu","hidden_size":576,"initializer_range":0.041666666666666664,"intermediate_size":1536,"is_llama_config":true,
"max_position_embeddings":8192,"model_type":"llama","num_attention_heads":9,"num_hidden_layers":30,"num_key_value_heads":3,
"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_interleaved":false,"rope_scaling":null,"rope_theta":100000,"tie_word_embeddings":true,
"torch_dtype":"bfloat16","transformers_version":"4.40.1","use_cache":true,"vocab_size":49152}`;
const QWEN25_05B = `{"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151645,"hidden_act":"silu",
"hidden_size":896,"initializer_range":0.02,"intermediate_size":4864,"max_position_embeddings":32768,"max_window_layers":21,"model_type":"qwen2",
"num_attention_heads":14,"num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_theta":1000000.0,"sliding_window":32768,
"tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.43.1","use_cache":true,"use_sliding_window":false,"vocab_size":151936}`;
const QWEN3_06B = `{"architectures":["Qwen3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151645,
"head_dim":128,"hidden_act":"silu","hidden_size":1024,"initializer_range":0.02,"intermediate_size":3072,"max_position_embeddings":40960,
"max_window_layers":28,"model_type":"qwen3","num_attention_heads":16,"num_hidden_layers":28,"num_key_value_heads":8,"rms_norm_eps":1e-06,
"rope_scaling":null,"rope_theta":1000000,"sliding_window":null,"tie_word_embeddings":true,"torch_dtype":"bfloat16",
"transformers_version":"4.51.0","use_cache":true,"use_sliding_window":false,"vocab_size":151936}`;
const LLAMA32_1B_INSTRUCT = `{"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
"eos_token_id":[128001,128008,128009],"head_dim":64,"hidden_act":"silu","hidden_size":2048,"initializer_range":0.02,"intermediate_size":8192,
"max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":16,"num_key_value_heads":8,
"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
"original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,"tie_word_embeddings":true,"torch_dtype":"bfloat16",
"transformers_version":"4.45.0.dev0","use_cache":true,"vocab_size":128256}`;
const MISTRAL_LIKE = `{"architectures":["MistralForCausalLM"],"hidden_size":4096,"intermediate_size":14336,"model_type":"mistral",
"num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,"rms_norm_eps":1e-05,"rope_theta":1000000.0,"sliding_window":null,
"tie_word_embeddings":false,"vocab_size":32768,"bos_token_id":1,"eos_token_id":2}`;

describe('HF config → ModelSpec (the models of DESIGN.md §3)', () => {
  it('SmolLM2-135M', () => {
    expect(parseHfConfig(SMOLLM2_135M)).toEqual({
      architecture: 'llama', hiddenSize: 576, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, intermediateSize: 1536,
      vocabSize: 49152, rmsNormEps: 1e-5, ropeTheta: 100000, ropeScaling: null, maxPositionEmbeddings: 8192, tieWordEmbeddings: true,
      attentionBias: false, qkNorm: false, bosTokenId: 0, eosTokenIds: [0], padTokenId: null, torchDtype: 'bfloat16',
    });
  });

  it('Qwen2.5-0.5B: q/k/v biases, no attention_bias field needed', () => {
    const s = parseHfConfig(QWEN25_05B);
    expect([s.architecture, s.hiddenSize, s.numLayers, s.numHeads, s.numKvHeads, s.headDim, s.intermediateSize, s.vocabSize]).toEqual([
      'qwen2', 896, 24, 14, 2, 64, 4864, 151936,
    ]);
    expect([s.attentionBias, s.qkNorm, s.tieWordEmbeddings, s.ropeTheta, s.rmsNormEps]).toEqual([true, false, true, 1e6, 1e-6]);
  });

  it('Qwen3-0.6B: explicit head_dim 128 (≠ 1024/16), q/k norms', () => {
    const s = parseHfConfig(QWEN3_06B);
    expect([s.architecture, s.headDim, s.numHeads, s.numKvHeads, s.qkNorm, s.attentionBias]).toEqual(['qwen3', 128, 16, 8, true, false]);
    expect(moduleShape(s, 'q_proj')).toEqual({ in: 1024, out: 2048 });
    expect(moduleShape(s, 'o_proj')).toEqual({ in: 2048, out: 1024 });
    expect(moduleShape(s, 'k_proj')).toEqual({ in: 1024, out: 1024 });
  });

  it('Llama-3.2-1B-Instruct: llama3 rope scaling and a list of EOS ids', () => {
    const s = parseHfConfig(LLAMA32_1B_INSTRUCT);
    expect(s.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(s.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect([s.ropeTheta, s.headDim, s.numKvHeads]).toEqual([500000, 64, 8]);
  });

  it('Mistral: untied, head_dim from hidden/heads', () => {
    const s = parseHfConfig(MISTRAL_LIKE);
    expect([s.architecture, s.tieWordEmbeddings, s.headDim, s.attentionBias]).toEqual(['mistral', false, 128, false]);
  });

  it('module shapes for every LoRA target', () => {
    const s = parseHfConfig(SMOLLM2_135M);
    expect(Object.fromEntries(LORA_TARGETS.map((t) => [t, moduleShape(s, t)]))).toEqual({
      q_proj: { in: 576, out: 576 }, k_proj: { in: 576, out: 192 }, v_proj: { in: 576, out: 192 }, o_proj: { in: 576, out: 576 },
      gate_proj: { in: 576, out: 1536 }, up_proj: { in: 576, out: 1536 }, down_proj: { in: 1536, out: 576 },
    });
  });
});

describe('hostile config.json', () => {
  const base = JSON.parse(SMOLLM2_135M) as Record<string, unknown>;
  const withField = (k: string, v: unknown) => JSON.stringify({ ...base, [k]: v });
  const cases: [string, string, string | null, RegExp][] = [
    ['not JSON', '{"model_type": "llama",', null, /invalid JSON/],
    ['an array', '[1,2]', null, /must be a JSON object/],
    ['null', 'null', null, /must be a JSON object/],
    ['duplicate keys', '{"model_type":"llama","model_type":"gpt2"}', null, /duplicate key "model_type"/],
    ['NaN literal', SMOLLM2_135M.replace('0.041666666666666664', 'NaN'), null, /unexpected character/],
    ['1e400', SMOLLM2_135M.replace('"rope_theta":100000', '"rope_theta":1e400'), null, /out of range/],
    ['deep nesting', `{"x":${'['.repeat(50_000)}`, null, /nesting deeper/],
    ['missing model_type', JSON.stringify({ ...base, model_type: undefined }), 'model_type', /supported: llama, mistral, qwen2, qwen3/],
    ['gpt2', withField('model_type', 'gpt2'), 'model_type', /"gpt2" is not supported \(supported: llama, mistral, qwen2, qwen3\)/],
    ['gemma2', withField('model_type', 'gemma2'), 'model_type', /gemma2/],
    ['hidden_size string', withField('hidden_size', '576'), 'hidden_size', /not a positive integer/],
    ['hidden_size zero', withField('hidden_size', 0), 'hidden_size', /not a positive integer/],
    ['hidden_size fractional', withField('hidden_size', 576.5), 'hidden_size', /not a positive integer/],
    ['hidden_size missing', JSON.stringify({ ...base, hidden_size: undefined }), 'hidden_size', /missing/],
    ['vocab_size 2^60', withField('vocab_size', 2 ** 60), 'vocab_size', /not a positive integer/],
    ['negative layers', withField('num_hidden_layers', -2), 'num_hidden_layers', /not a positive integer/],
    ['kv heads do not divide heads', withField('num_key_value_heads', 4), 'num_key_value_heads', /does not divide/],
    ['heads do not divide hidden', withField('num_attention_heads', 7), 'num_key_value_heads', /does not divide/],
    ['odd head_dim', withField('head_dim', 63), 'head_dim', /odd/],
    ['gelu', withField('hidden_act', 'gelu'), 'hidden_act', /only "silu"/],
    ['mlp_bias', withField('mlp_bias', true), 'mlp_bias', /not supported/],
    ['yarn rope', withField('rope_scaling', { rope_type: 'yarn', factor: 4 }), 'rope_scaling', /"yarn" is not supported/],
    ['rope_scaling a string', withField('rope_scaling', 'llama3'), 'rope_scaling', /object or null/],
    ['llama3 without factor', withField('rope_scaling', { rope_type: 'llama3', low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 }), 'rope_scaling.factor', /positive number/],
    ['eos id string', withField('eos_token_id', '</s>'), 'eos_token_id', /not a token id/],
    ['tie as string', withField('tie_word_embeddings', 'yes'), 'tie_word_embeddings', /not true or false/],
    ['negative eps', withField('rms_norm_eps', -1e-5), 'rms_norm_eps', /positive number/],
  ];
  for (const [name, text, field, message] of cases) {
    it(`refuses ${name}`, () => {
      let err: unknown;
      try {
        parseHfConfig(text, 'models/x/config.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.message).toContain('models/x/config.json');
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
    });
  }

  it('a "__proto__" key changes nothing', () => {
    const s = parseHfConfig(SMOLLM2_135M.replace('{', '{"__proto__":{"hidden_size":1},'));
    expect(s.hiddenSize).toBe(576);
    expect(({} as Record<string, unknown>).hidden_size).toBeUndefined();
  });
});

describe('weight map', () => {
  it('lists HF names and shapes per architecture', () => {
    const qwen2 = parseHfConfig(QWEN25_05B);
    const names = expectedTensors(qwen2).map((t) => t.name);
    expect(names).toContain('model.layers.23.self_attn.q_proj.bias');
    expect(names).not.toContain('lm_head.weight');
    expect(names.length).toBe(1 + 24 * 12 + 1);
    const q3 = expectedTensors(parseHfConfig(QWEN3_06B));
    expect(q3.find((t) => t.name === 'model.layers.0.self_attn.k_norm.weight')?.shape).toEqual([128]);
    const mistral = expectedTensors(parseHfConfig(MISTRAL_LIKE));
    expect(mistral.at(-1)).toEqual({ name: 'lm_head.weight', shape: [32768, 4096], kind: 'matrix' });
  });

  it('reports every problem at once', () => {
    const spec = { ...parseHfConfig(SMOLLM2_135M), numLayers: 1 };
    const tensors = expectedTensors(spec).map((t) => ({ name: t.name, dtype: 'BF16', shape: t.shape }));
    const broken = tensors.filter((t) => t.name !== 'model.norm.weight').map((t) => ({ ...t }));
    broken.find((t) => t.name.endsWith('k_proj.weight'))!.shape = [576, 192];
    broken.find((t) => t.name.endsWith('up_proj.weight'))!.dtype = 'I32';
    broken.push({ name: 'model.layers.1.mlp.up_proj.weight', dtype: 'BF16', shape: [1536, 576] });
    const problems = checkWeights(spec, broken);
    expect(problems).toEqual([
      'tensor "model.layers.0.self_attn.k_proj.weight" has shape [576,192], expected [192,576]',
      'tensor "model.layers.0.mlp.up_proj.weight" has dtype I32, expected BF16, F16, F32 or F64',
      'missing tensor "model.norm.weight" (expected [576])',
      'unexpected tensor "model.layers.1.mlp.up_proj.weight" (BF16 [1536,576]) for a llama model with 1 layers',
    ]);
    expect(() => assertWeights(spec, broken, 'ckpt')).toThrow(WeightMapError);
    expect(checkWeights(spec, tensors)).toEqual([]);
    // A tied checkpoint that still stores lm_head is accepted, as transformers accepts it.
    expect(checkWeights(spec, [...tensors, { name: 'lm_head.weight', dtype: 'BF16', shape: [49152, 576] }])).toEqual([]);
  });
});

describe('config.json mutation fuzz', () => {
  it('2000 mutated configs give a ModelSpec or a ConfigError, nothing else', async () => {
    const { rng } = await import('../../helpers/random');
    const r = rng(99);
    const sources = [SMOLLM2_135M, QWEN25_05B, QWEN3_06B, LLAMA32_1B_INSTRUCT, MISTRAL_LIKE];
    const alphabet = '{}[]",:0123456789-.eE truefalsnul\\';
    const other: string[] = [];
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const chars = Array.from(sources[i % sources.length]);
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
        const at = Math.floor(r() * chars.length);
        const op = r();
        if (op < 0.4) chars[at] = alphabet[Math.floor(r() * alphabet.length)];
        else if (op < 0.7) chars.splice(at, 1);
        else chars.splice(at, 0, alphabet[Math.floor(r() * alphabet.length)]);
      }
      try {
        const s = parseHfConfig(chars.join(''), `fuzz-${i}.json`);
        accepted++;
        if (!(s.hiddenSize > 0 && s.numHeads % s.numKvHeads === 0 && s.headDim % 2 === 0)) other.push(`case ${i}: inconsistent spec accepted`);
      } catch (e) {
        if (!(e instanceof ConfigError)) other.push(`case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
    expect(other.slice(0, 5)).toEqual([]);
    expect(accepted).toBeGreaterThan(0);
  });
});
