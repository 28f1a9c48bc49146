import { describe, expect, it } from 'vitest';
import { generateModelWithTensors } from '../../../src/formats/generate';
import { LORA_TARGETS, type ModelSpec } from '../../../src/formats/hfConfig';
import {
  AdapterError,
  expectedAdapterTensors,
  type LoraConfig,
  loraScale,
  peftKey,
  readPeftAdapter,
  writePeftAdapter,
} from '../../../src/formats/peft';
import { openSafetensors, serializeF32 } from '../../../src/formats/safetensors';
import { uniformValues } from '../../helpers/random';

const qwen2 = generateModelWithTensors({
  architecture: 'qwen2', hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, tokenizer: false, vocabSize: 100,
}).spec;
const llama = generateModelWithTensors({
  architecture: 'llama', hiddenSize: 48, numLayers: 3, numHeads: 6, numKvHeads: 2, intermediateSize: 80, tokenizer: false, vocabSize: 100,
}).spec;

function loraConfig(over: Partial<LoraConfig> = {}): LoraConfig {
  return {
    taskType: 'CAUSAL_LM', modulesToSave: null, r: 8, alpha: 16, dropout: 0.05, targetModules: ['q_proj', 'v_proj'], useRslora: false, layers: null,
    baseModelNameOrPath: 'HuggingFaceTB/SmolLM2-135M-Instruct', revision: null, rankPattern: {}, alphaPattern: {}, ...over,
  };
}

function adapterTensors(spec: ModelSpec, config: LoraConfig): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  expectedAdapterTensors(spec, config).forEach((e, i) => m.set(e.key, uniformValues(e.shape[0] * e.shape[1], 100 + i)));
  return m;
}

const dec = new TextDecoder();
function headerOf(bytes: Uint8Array): Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(dec.decode(bytes.subarray(8, 8 + n)));
}

/** DESIGN.md §4: the adapter_config.json fields, exactly. */
const CONFIG_FIELDS = [
  'alpha_pattern', 'base_model_name_or_path', 'bias', 'fan_in_fan_out', 'inference_mode', 'init_lora_weights', 'layers_pattern',
  'layers_to_transform', 'lora_alpha', 'lora_dropout', 'modules_to_save', 'peft_type', 'r', 'rank_pattern', 'revision', 'target_modules',
  'task_type', 'use_dora', 'use_rslora',
];

describe('PEFT adapter writer (DESIGN.md §4)', () => {
  it('Qwen2-style model, all seven targets: every key name, shape and config field', () => {
    const config = loraConfig({ targetModules: [...LORA_TARGETS], r: 4, alpha: 8, revision: 'abc123' });
    const out = writePeftAdapter(qwen2, config, adapterTensors(qwen2, config));
    const header = headerOf(out['adapter_model.safetensors']);
    // Written out by hand from §4 and the model's sizes: C 64, Q 4·16=64, KV 2·16=32, I 96, r 4.
    const want: Record<string, number[]> = {};
    for (let i = 0; i < 2; i++) {
      const a = `base_model.model.model.layers.${i}.self_attn`;
      const m = `base_model.model.model.layers.${i}.mlp`;
      Object.assign(want, {
        [`${a}.q_proj.lora_A.weight`]: [4, 64], [`${a}.q_proj.lora_B.weight`]: [64, 4],
        [`${a}.k_proj.lora_A.weight`]: [4, 64], [`${a}.k_proj.lora_B.weight`]: [32, 4],
        [`${a}.v_proj.lora_A.weight`]: [4, 64], [`${a}.v_proj.lora_B.weight`]: [32, 4],
        [`${a}.o_proj.lora_A.weight`]: [4, 64], [`${a}.o_proj.lora_B.weight`]: [64, 4],
        [`${m}.gate_proj.lora_A.weight`]: [4, 64], [`${m}.gate_proj.lora_B.weight`]: [96, 4],
        [`${m}.up_proj.lora_A.weight`]: [4, 64], [`${m}.up_proj.lora_B.weight`]: [96, 4],
        [`${m}.down_proj.lora_A.weight`]: [4, 96], [`${m}.down_proj.lora_B.weight`]: [64, 4],
      });
    }
    expect(header.__metadata__).toEqual({ format: 'pt' });
    const { __metadata__: _, ...tensors } = header;
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(want).sort());
    for (const [k, shape] of Object.entries(want)) {
      expect(tensors[k].dtype, k).toBe('F32');
      expect(tensors[k].shape, k).toEqual(shape);
    }
    const json = JSON.parse(out['adapter_config.json']);
    expect(Object.keys(json)).toEqual(CONFIG_FIELDS);
    expect(json).toEqual({
      alpha_pattern: {}, base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M-Instruct', bias: 'none', fan_in_fan_out: false,
      inference_mode: true, init_lora_weights: true, layers_pattern: null, layers_to_transform: null, lora_alpha: 8, lora_dropout: 0.05,
      modules_to_save: null, peft_type: 'LORA', r: 4, rank_pattern: {}, revision: 'abc123',
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], task_type: 'CAUSAL_LM', use_dora: false,
      use_rslora: false,
    });
    // PEFT writes json.dumps(indent=2, sort_keys=True).
    expect(out['adapter_config.json']).toBe(JSON.stringify(json, null, 2));
  });

  it('Llama-style model, the default q_proj + v_proj: exactly 2 keys per layer with GQA shapes', async () => {
    const config = loraConfig();
    const tensors = adapterTensors(llama, config);
    const out = writePeftAdapter(llama, config, tensors);
    const header = headerOf(out['adapter_model.safetensors']);
    const keys = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(keys.length).toBe(3 * 2 * 2);
    expect(header['base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight'].shape).toEqual([16, 8]); // KV = 2·8
    expect(header['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'].shape).toEqual([8, 48]);
    expect(peftKey(2, 'down_proj', 'B')).toBe('base_model.model.model.layers.2.mlp.down_proj.lora_B.weight');
    const back = await readPeftAdapter(out, llama);
    expect(back.config).toEqual(config);
    for (const [k, v] of tensors) expect(Array.from(back.tensors.get(k)!), k).toEqual(Array.from(v));
    expect(loraScale(config, 0, 'q_proj')).toBe(2);
    expect(loraScale({ ...config, useRslora: true }, 0, 'q_proj')).toBeCloseTo(16 / Math.sqrt(8), 12);
  });

  it('layers, rank_pattern and alpha_pattern change keys and shapes as PEFT would', async () => {
    const config = loraConfig({ layers: [0, 2], rankPattern: { 'model.layers.2.self_attn.v_proj': 2, q_proj: 4 }, alphaPattern: { v_proj: 3 } });
    const out = writePeftAdapter(llama, config, adapterTensors(llama, config));
    const header = headerOf(out['adapter_model.safetensors']);
    expect(Object.keys(header).some((k) => k.includes('layers.1.'))).toBe(false);
    expect(header['base_model.model.model.layers.2.self_attn.v_proj.lora_A.weight'].shape).toEqual([2, 48]);
    expect(header['base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight'].shape).toEqual([8, 48]);
    expect(header['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight'].shape).toEqual([48, 4]);
    expect(JSON.parse(out['adapter_config.json']).layers_to_transform).toEqual([0, 2]);
    const back = await readPeftAdapter(out, llama);
    expect(back.config).toEqual(config);
    expect(loraScale(back.config, 2, 'v_proj')).toBe(1.5);
  });

  it('refuses missing, extra or mis-sized tensors, listing them all', () => {
    const config = loraConfig();
    const tensors = adapterTensors(llama, config);
    tensors.delete(peftKey(1, 'q_proj', 'A'));
    tensors.set(peftKey(0, 'v_proj', 'B'), new Float32Array(3));
    tensors.set('base_model.model.lm_head.lora_A.weight', new Float32Array(8));
    const err = (() => {
      try {
        writePeftAdapter(llama, config, tensors);
      } catch (e) {
        return e as AdapterError;
      }
    })();
    expect(err).toBeInstanceOf(AdapterError);
    expect(err!.problems).toEqual([
      'tensor "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight" has 3 values, expected [16,8] = 128',
      'missing tensor "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight" [8,48]',
      'unexpected tensor "base_model.model.lm_head.lora_A.weight"',
    ]);
  });
});

/** adapter_config.json as PEFT 0.13 saves it: more fields than ours, target_modules in set order. */
function peftWrittenConfig(over: Record<string, unknown> = {}): string {
  return JSON.stringify(
    {
      alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M', bias: 'none', fan_in_fan_out: false,
      inference_mode: true, init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null,
      loftq_config: {}, lora_alpha: 32, lora_dropout: 0.1, megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null,
      peft_type: 'LORA', r: 8, rank_pattern: {}, revision: null, target_modules: ['v_proj', 'q_proj'], task_type: 'CAUSAL_LM',
      use_dora: false, use_rslora: false, ...over,
    },
    null,
    2,
  );
}

function peftWeights(spec: ModelSpec, config: LoraConfig, mutate?: (m: Map<string, { shape: number[]; data: Float32Array }>) => void): Uint8Array {
  const m = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of expectedAdapterTensors(spec, config)) m.set(e.key, { shape: e.shape, data: uniformValues(e.shape[0] * e.shape[1], 1) });
  mutate?.(m);
  return serializeF32(m, { format: 'pt' });
}

describe('PEFT adapter reader', () => {
  const peftConfig = loraConfig({ alpha: 32, dropout: 0.1 });

  it("accepts PEFT's own output (extra fields, set-ordered targets)", async () => {
    const { config, tensors } = await readPeftAdapter(
      { 'adapter_model.safetensors': peftWeights(llama, peftConfig), 'adapter_config.json': peftWrittenConfig() },
      llama,
    );
    expect(config.targetModules).toEqual(['q_proj', 'v_proj']);
    expect([config.r, config.alpha, config.dropout, config.baseModelNameOrPath]).toEqual([8, 32, 0.1, 'HuggingFaceTB/SmolLM2-135M']);
    expect(tensors.size).toBe(12);
  });

  it('understands "all-linear", regex target_modules and a single layers_to_transform', async () => {
    const all = loraConfig({ targetModules: [...LORA_TARGETS] });
    const a = await readPeftAdapter(
      { 'adapter_model.safetensors': peftWeights(qwen2, all), 'adapter_config.json': peftWrittenConfig({ target_modules: 'all-linear' }) },
      qwen2,
    );
    expect(a.config.targetModules).toEqual([...LORA_TARGETS]);
    const regex = loraConfig({ targetModules: ['q_proj', 'down_proj'], layers: [1] });
    const b = await readPeftAdapter(
      {
        'adapter_model.safetensors': peftWeights(llama, regex),
        'adapter_config.json': peftWrittenConfig({ target_modules: '.*\\.(q_proj|down_proj)', layers_to_transform: 1, layers_pattern: 'layers' }),
      },
      llama,
    );
    expect(b.config.targetModules).toEqual(['q_proj', 'down_proj']);
    expect(b.config.layers).toEqual([1]);
  });

  it('treats missing and unexpected keys as errors (PEFT only warns), reporting all of them', async () => {
    const weights = peftWeights(llama, peftConfig, (m) => {
      m.delete(peftKey(2, 'v_proj', 'B'));
      const a = m.get(peftKey(0, 'q_proj', 'A'))!;
      m.delete(peftKey(0, 'q_proj', 'A'));
      m.set('base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight', a);
      m.set(peftKey(1, 'k_proj', 'A'), { shape: [8, 48], data: new Float32Array(384) });
      m.set('base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight', { shape: [8, 48], data: new Float32Array(384) });
      m.set('base_model.model.model.layers.0.mlp.q_proj.lora_A.weight', { shape: [8, 48], data: new Float32Array(384) });
      m.set(peftKey(1, 'q_proj', 'B'), { shape: [48, 4], data: new Float32Array(192) });
    });
    const err = await readPeftAdapter({ 'adapter_model.safetensors': weights, 'adapter_config.json': peftWrittenConfig() }, llama).catch((e) => e);
    expect(err).toBeInstanceOf(AdapterError);
    const p = (err as AdapterError).problems.join('\n');
    expect(p).toContain('unexpected tensor "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"');
    expect(p).toContain('must not contain an adapter name');
    expect(p).toContain('k_proj is not in target_modules');
    expect(p).toContain('the model has 3 layers');
    expect(p).toContain('q_proj lives under self_attn, not mlp');
    expect(p).toContain('missing tensor "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" [8,48]');
    expect(p).toContain('missing tensor "base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight" [16,8]');
    expect(p).toContain('"base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight" has shape [48,4], expected [48,8] (rank 8)');
    expect((err as AdapterError).problems.length).toBe(7);
  });

  const hostile: [string, string, RegExp][] = [
    ['not JSON', '{"peft_type": "LORA",', /invalid JSON/],
    ['an array', '[]', /must be a JSON object/],
    ['duplicate keys', '{"peft_type":"LORA","r":8,"r":16}', /duplicate key "r"/],
    ['IA3 adapter', peftWrittenConfig({ peft_type: 'IA3' }), /"IA3" is not "LORA"/],
    ['missing peft_type', peftWrittenConfig({ peft_type: undefined }), /field "peft_type"/],
    ['sequence classification', peftWrittenConfig({ task_type: 'SEQ_CLS' }), /"SEQ_CLS" is not "CAUSAL_LM"/],
    ['r = 0', peftWrittenConfig({ r: 0 }), /field "r": 0 is not a positive integer/],
    ['r = 2.5', peftWrittenConfig({ r: 2.5 }), /field "r"/],
    ['r as string', peftWrittenConfig({ r: '8' }), /field "r"/],
    ['alpha as string', peftWrittenConfig({ lora_alpha: 'x' }), /field "lora_alpha"/],
    ['dropout 1', peftWrittenConfig({ lora_dropout: 1 }), /field "lora_dropout"/],
    ['DoRA', peftWrittenConfig({ use_dora: true }), /DoRA adapters are not supported/],
    ['bias all', peftWrittenConfig({ bias: 'all' }), /field "bias"/],
    ['fan_in_fan_out', peftWrittenConfig({ fan_in_fan_out: true }), /field "fan_in_fan_out"/],
    ['modules_to_save', peftWrittenConfig({ modules_to_save: ['lm_head'] }), /modules_to_save/],
    ['lora_bias', peftWrittenConfig({ lora_bias: true }), /field "lora_bias"/],
    ['GPT-2 targets', peftWrittenConfig({ target_modules: ['c_attn'] }), /"c_attn" names no Llama-family linear layer/],
    ['lm_head target', peftWrittenConfig({ target_modules: ['q_proj', 'lm_head'] }), /"lm_head" names no/],
    ['target_modules a number', peftWrittenConfig({ target_modules: 3 }), /field "target_modules"/],
    ['bad regex', peftWrittenConfig({ target_modules: '(q_proj' }), /not a valid pattern/],
    ['catastrophic regex', peftWrittenConfig({ target_modules: '(.*)*x' }), /nests quantifiers/],
    ['catastrophic rank_pattern', peftWrittenConfig({ rank_pattern: { '(a+)+$': 4 } }), /nests quantifiers/],
    ['layer out of range', peftWrittenConfig({ layers_to_transform: [0, 9] }), /layer 9 is not a layer of this 3-layer model/],
    ['negative layer', peftWrittenConfig({ layers_to_transform: [-1] }), /field "layers_to_transform"/],
    ['rank_pattern with a string', peftWrittenConfig({ rank_pattern: { q_proj: 'big' } }), /field "rank_pattern"/],
    ['rank_pattern rank 0', peftWrittenConfig({ rank_pattern: { q_proj: 0 } }), /rank_pattern\["q_proj"\] = 0 is not a valid rank/],
    ['layers_pattern of another model', peftWrittenConfig({ layers_pattern: 'h' }), /field "layers_pattern"/],
    ['layer_replication', peftWrittenConfig({ layer_replication: [[0, 2]] }), /layer replication/],
  ];
  for (const [name, text, message] of hostile) {
    it(`refuses adapter_config.json: ${name}`, async () => {
      const err = await readPeftAdapter({ 'adapter_model.safetensors': peftWeights(llama, peftConfig), 'adapter_config.json': text }, llama).catch((e) => e);
      expect(err).toBeInstanceOf(AdapterError);
      expect((err as Error).message).toMatch(/^AdapterError: adapter_config\.json: /);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('reads an F16 adapter as f32 and accepts a ByteSource', async () => {
    const { fromF32 } = await import('../../../src/formats/dtype');
    const { serializeSafetensors } = await import('../../../src/formats/safetensors');
    const { fromArrayBuffer } = await import('../../../src/formats/byteSource');
    const f16 = new Map(
      expectedAdapterTensors(llama, peftConfig).map((e) => [
        e.key,
        { dtype: 'F16' as const, shape: e.shape, data: fromF32('F16', new Float32Array(e.shape[0] * e.shape[1]).fill(0.5)) },
      ]),
    );
    const bytes = serializeSafetensors(f16);
    const back = await readPeftAdapter(
      { 'adapter_model.safetensors': fromArrayBuffer(bytes, 'a.safetensors'), 'adapter_config.json': peftWrittenConfig() },
      llama,
    );
    expect(back.tensors.size).toBe(12);
    expect(back.tensors.get(peftKey(2, 'v_proj', 'B'))!.every((x) => x === 0.5)).toBe(true);
  });
});

describe('adapter_config.json mutation fuzz', () => {
  it('2000 mutated configs give a config or an AdapterError, nothing else', async () => {
    const { rng } = await import('../../helpers/random');
    const { parseAdapterConfig } = await import('../../../src/formats/peft');
    const r = rng(5);
    const text = peftWrittenConfig({ rank_pattern: { q_proj: 4 }, layers_to_transform: [0, 1] });
    const alphabet = '{}[]",:0123456789-.eE truefalsnul\\*()|';
    const other: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const chars = Array.from(text);
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
        const at = Math.floor(r() * chars.length);
        const op = r();
        if (op < 0.4) chars[at] = alphabet[Math.floor(r() * alphabet.length)];
        else if (op < 0.7) chars.splice(at, 1);
        else chars.splice(at, 0, alphabet[Math.floor(r() * alphabet.length)]);
      }
      try {
        const c = parseAdapterConfig(chars.join(''), llama);
        if (!(c.r > 0 && c.targetModules.length > 0)) other.push(`case ${i}: invalid config accepted`);
      } catch (e) {
        if (!(e instanceof AdapterError)) other.push(`case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
    expect(other.slice(0, 5)).toEqual([]);
  });
});
