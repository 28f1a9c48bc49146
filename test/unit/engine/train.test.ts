import { describe, expect, it } from 'vitest';
import { adapterFromTensors, adapterKey, adapterLayout, adapterTensors, initAdapter, loraScale } from '../../../src/engine/model/lora';
import { learningRate, scheduleMultiplier, warmupSteps } from '../../../src/engine/train/schedule';
import { checkMemory, MemoryPlanError, planMemory, type MemoryConfig } from '../../../src/engine/train/memory';
import { CheckpointError, deserializeCheckpoint, serializeCheckpoint, type TrainState } from '../../../src/engine/train/checkpoint';
import { adamwStepCpu, clipScale } from '../../../src/engine/train/adamw.cpu';
import { SeededRng } from '../../../src/engine/train/rng';
import { tinySpec } from './tinyModel';

describe('LoRA layout and initialization', () => {
  const spec = tinySpec('qwen2');
  const settings = { r: 4, alpha: 8, dropout: 0.05, targets: ['q_proj' as const, 'v_proj' as const, 'down_proj' as const], layers: [1], useRslora: false };

  it('lays out A [r, in] and B [out, r] per adapted projection with PEFT key names', () => {
    const layout = adapterLayout(spec, settings);
    expect(layout.slots.map((s) => `${s.layer}.${s.module}`)).toEqual(['1.q_proj', '1.v_proj', '1.down_proj']);
    const v = layout.slots[1];
    expect([v.in, v.out]).toEqual([16, 4]);
    expect(layout.size).toBe(4 * 16 + 16 * 4 + (4 * 16 + 4 * 4) + (4 * 24 + 16 * 4));
    expect(adapterKey(1, 'down_proj', 'A')).toBe('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight');
    expect(adapterKey(0, 'q_proj', 'B')).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight');
  });

  it('initializes A uniform in ±1/√in and B = 0, reproducibly from the seed', () => {
    const layout = adapterLayout(spec, settings);
    const a = initAdapter(layout, 7);
    expect(initAdapter(layout, 7)).toEqual(a);
    expect(initAdapter(layout, 8)).not.toEqual(a);
    for (const s of layout.slots) {
      const A = a.subarray(s.offsetA, s.offsetA + s.r * s.in);
      const B = a.subarray(s.offsetB, s.offsetB + s.out * s.r);
      const bound = 1 / Math.sqrt(s.in);
      expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.8 * bound);
      expect(B.every((x) => x === 0)).toBe(true);
    }
  });

  it('round-trips through PEFT-named tensors and rejects missing or extra keys', () => {
    const layout = adapterLayout(spec, settings);
    const p = initAdapter(layout, 3);
    const t = adapterTensors(layout, p);
    expect(adapterFromTensors(layout, t)).toEqual(p);
    const extra = new Map(t).set('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', new Float32Array(64));
    expect(() => adapterFromTensors(layout, extra)).toThrow(/not part of this configuration/);
    const missing = new Map(t);
    missing.delete(adapterKey(1, 'v_proj', 'B'));
    expect(() => adapterFromTensors(layout, missing)).toThrow(/v_proj.lora_B.weight" is missing/);
  });

  it('scale is alpha/r, or alpha/√r with rsLoRA; bad settings are refused', () => {
    expect(loraScale({ r: 8, alpha: 16, useRslora: false })).toBe(2);
    expect(loraScale({ r: 16, alpha: 16, useRslora: true })).toBe(4);
    expect(() => adapterLayout(spec, { ...settings, r: 0 })).toThrow(/rank r must be a positive integer/);
    expect(() => adapterLayout(spec, { ...settings, layers: [5] })).toThrow(/layer 5 is outside 0..1/);
  });
});

describe('learning-rate schedules', () => {
  it('linear with warmup rises to lr then falls to 0 at the last step (HF semantics)', () => {
    const s = { kind: 'linear' as const, lr: 1e-3, warmupSteps: 10, totalSteps: 110 };
    expect(learningRate(s, 0)).toBe(0);
    expect(learningRate(s, 5)).toBeCloseTo(5e-4, 12);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 60)).toBeCloseTo(5e-4, 12);
    expect(learningRate(s, 110)).toBe(0);
  });
  it('cosine is half-way at the midpoint; constant stays after warmup', () => {
    expect(scheduleMultiplier({ kind: 'cosine', warmupSteps: 0, totalSteps: 100 }, 50)).toBeCloseTo(0.5, 12);
    expect(scheduleMultiplier({ kind: 'cosine', warmupSteps: 0, totalSteps: 100 }, 100)).toBeCloseTo(0, 12);
    expect(scheduleMultiplier({ kind: 'constant', warmupSteps: 4, totalSteps: 100 }, 2)).toBe(0.5);
    expect(scheduleMultiplier({ kind: 'constant', warmupSteps: 4, totalSteps: 100 }, 90)).toBe(1);
    expect(warmupSteps(100, { warmupRatio: 0.03 })).toBe(3);
  });
});

describe('AdamW (CPU, PyTorch semantics)', () => {
  it('first step moves each parameter by about lr against the gradient sign, after decay', () => {
    const p = Float64Array.from([1, -2, 0.5]);
    const m = new Float64Array(3);
    const v = new Float64Array(3);
    adamwStepCpu(p, [0.1, -3, 0], m, v, 1, { lr: 0.01, weightDecay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    expect(p[0]).toBeCloseTo(1 * (1 - 0.001) - 0.01, 6);
    expect(p[1]).toBeCloseTo(-2 * (1 - 0.001) + 0.01, 6);
    expect(p[2]).toBeCloseTo(0.5 * (1 - 0.001), 9);
    expect(clipScale(10, 1)).toBeCloseTo(0.1, 6);
    expect(clipScale(0.5, 1)).toBe(1);
  });
});

describe('memory planner', () => {
  const smol = { ...tinySpec('llama'), hiddenSize: 576, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, intermediateSize: 1536, vocabSize: 49152, tieWordEmbeddings: true };
  const lora = { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj' as const, 'v_proj' as const], layers: null, useRslora: false };
  const cfg: MemoryConfig = { batchSize: 16, seqLen: 512, gradientCheckpointing: false, weightsF16: true, logitsChunkTokens: 256, kvCacheTokens: 0 };

  it('counts SmolLM2-135M weights, adapter state and activations', () => {
    const plan = planMemory(smol, lora, cfg);
    // As LlamaGpu.load stores them: the tied embedding and the norms in f32, the projections in f16.
    const embedding = 49152 * 576 * 4;
    const norms = (30 * 2 * 576 + 576) * 4;
    const projections = 30 * (576 * 576 * 2 + 576 * 192 * 2 + 576 * 1536 * 3) * 2;
    expect(plan.weights).toBe(embedding + norms + projections);
    expect(planMemory(smol, lora, { ...cfg, weightsF16: false }).weights / 4).toBeGreaterThan(134e6); // ~134.5M parameters
    expect(planMemory(smol, lora, { ...cfg, weightsF16: false }).weights / 4).toBeLessThan(136e6);
    // q: 8·576 + 576·8, v: 8·576 + 192·8 per layer; four f32 copies
    expect(plan.adapter).toBe(30 * (8 * 576 + 576 * 8 + 8 * 576 + 192 * 8) * 4 * 4);
    const ckpt = planMemory(smol, lora, { ...cfg, gradientCheckpointing: true });
    expect(ckpt.activations).toBeLessThan(plan.activations / 5);
    expect(plan.logitsChunk).toBe(256 * 49152 * 4);
  });

  it('refuses a configuration that does not fit, naming the setting and the value', () => {
    const plan = planMemory(smol, lora, cfg);
    const limits = { budgetBytes: plan.total * 0.5, maxBufferSize: 1 << 30 };
    let error: unknown;
    try {
      checkMemory(smol, lora, cfg, limits);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MemoryPlanError);
    const match = /lower the batch size from 16 to (\d+)/.exec((error as Error).message);
    expect(match).not.toBeNull();
    const b = Number(match![1]);
    expect(planMemory(smol, lora, { ...cfg, batchSize: b }).total).toBeLessThanOrEqual(limits.budgetBytes);
    expect(planMemory(smol, lora, { ...cfg, batchSize: b + 1 }).total).toBeGreaterThan(limits.budgetBytes);
    expect(checkMemory(smol, lora, { ...cfg, batchSize: b }, limits).total).toBeLessThanOrEqual(limits.budgetBytes);
  });

  it('names the sequence length when even batch size 1 is too big, and the buffer limit when one buffer is', () => {
    const one = { ...cfg, batchSize: 1, seqLen: 8192, gradientCheckpointing: true };
    const budget = planMemory(smol, lora, { ...one, seqLen: 1024 }).total;
    expect(() => checkMemory(smol, lora, one, { budgetBytes: budget, maxBufferSize: 1 << 30 })).toThrow(/lower the max sequence length from 8192 to \d+/);
    expect(() => checkMemory(smol, lora, { ...cfg, weightsF16: false }, { budgetBytes: 1e12, maxBufferSize: 64 << 20 })).toThrow(/embed_tokens.*shader-f16/);
  });
});

describe('checkpoint state', () => {
  const state: TrainState = {
    step: 12, totalSteps: 40, epoch: 1, skippedSteps: 1, dataCursor: { epoch: 1, index: 5, seed: 3 },
    rngState: new SeededRng(9).state, config: { lr: 1e-4, lora: { r: 4 } },
    params: Float32Array.from([1, 2, 3]), m: Float32Array.from([0.1, 0.2, 0.3]), v: Float32Array.from([4, 5, 6]),
  };
  it('round-trips every field through bytes', () => {
    const back = deserializeCheckpoint(serializeCheckpoint(state));
    expect(back).toEqual(state);
  });
  it('rejects truncated, foreign and corrupted bytes with a named reason', () => {
    const bytes = serializeCheckpoint(state);
    expect(() => deserializeCheckpoint(bytes.subarray(0, bytes.length - 4), 'run.ckpt')).toThrow(CheckpointError);
    expect(() => deserializeCheckpoint(bytes.subarray(0, bytes.length - 4), 'run.ckpt')).toThrow(/run.ckpt: expected \d+ bytes/);
    expect(() => deserializeCheckpoint(new Uint8Array(20))).toThrow(/magic/);
    const bad = bytes.slice();
    bad[12] = 0x7b + 1;
    expect(() => deserializeCheckpoint(bad)).toThrow(/not valid JSON/);
  });
  it('the RNG resumes from its saved state', () => {
    const a = new SeededRng(5);
    a.next();
    const saved = a.state;
    const next = [a.next(), a.next()];
    const b = new SeededRng(saved);
    expect([b.next(), b.next()]).toEqual(next);
  });
});
