import { describe, expect, it } from 'vitest';
import { adapterFromTensors, loraKey, adapterTensors, initAdapter } from '../../../src/engine/model/lora';
import { llamaAdapterLayout } from '../../../src/engine/model/llama';
import { loraScale } from '../../../src/settings/settings';
import { learningRate, scheduleMultiplier, warmupSteps } from '../../../src/engine/train/schedule';
import { planRun } from '../../../src/engine/train/memory';
import { llamaMemoryPlan, llamaStorage, tablePartRows, type LlamaMemoryConfig, type PlanDevice } from '../../../src/engine/model/llamaConfig';
import { CheckpointError, deserializeCheckpoint, serializeCheckpoint, type TrainState } from '../../../src/formats/checkpoint';
import { crc32 } from '../../../src/formats/crc32';
import { modulePath } from '../../../src/formats/hfConfig';
import type { ModelSpec } from '../../../src/formats/hfConfig';
import { SeededRng } from '../../../src/engine/train/rng';
import { tinySpec } from './tinyModel';

describe('LoRA layout and initialization', () => {
  const spec = tinySpec('qwen2');
  const settings = { r: 4, alpha: 8, dropout: 0.05, targets: ['q_proj' as const, 'v_proj' as const, 'down_proj' as const], layers: [1], useRslora: false };

  it('lays out A [r, in] and B [out, r] per adapted projection with PEFT key names', () => {
    const layout = llamaAdapterLayout(spec, settings);
    expect(layout.slots.map((s) => `${s.layer}.${s.module}`)).toEqual(['1.q_proj', '1.v_proj', '1.down_proj']);
    const v = layout.slots[1];
    expect([v.in, v.out]).toEqual([16, 4]);
    expect(layout.size).toBe(4 * 16 + 16 * 4 + (4 * 16 + 4 * 4) + (4 * 24 + 16 * 4));
    expect(loraKey(layout.slots[2].path, 'A')).toBe('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight');
    expect(loraKey(modulePath(0, 'q_proj'), 'B')).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight');
  });

  it('initializes A uniform in ±1/√in and B = 0, reproducibly from the seed', () => {
    const layout = llamaAdapterLayout(spec, settings);
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
    const layout = llamaAdapterLayout(spec, settings);
    const p = initAdapter(layout, 3);
    const t = adapterTensors(layout, p);
    expect(adapterFromTensors(layout, t)).toEqual(p);
    const extra = new Map(t).set('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', new Float32Array(64));
    expect(() => adapterFromTensors(layout, extra)).toThrow(/not part of this configuration/);
    const missing = new Map(t);
    missing.delete(loraKey(modulePath(1, 'v_proj'), 'B'));
    expect(() => adapterFromTensors(layout, missing)).toThrow(/v_proj.lora_B.weight" is missing/);
  });

  it('scale is alpha/r, or alpha/√r with rsLoRA; bad settings are refused', () => {
    expect(loraScale({ r: 8, alpha: 16, useRslora: false })).toBe(2);
    expect(loraScale({ r: 16, alpha: 16, useRslora: true })).toBe(4);
    expect(() => llamaAdapterLayout(spec, { ...settings, r: 0 })).toThrow(/rank r must be a positive integer/);
    expect(() => llamaAdapterLayout(spec, { ...settings, layers: [5] })).toThrow(/layer 5 is outside 0..1/);
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

describe('memory planner', () => {
  const smol: ModelSpec = { ...tinySpec('llama'), hiddenSize: 576, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, intermediateSize: 1536, vocabSize: 49152, tieWordEmbeddings: true };
  const qwen05: ModelSpec = { ...tinySpec('qwen2'), hiddenSize: 896, numLayers: 24, numHeads: 14, numKvHeads: 2, headDim: 64, intermediateSize: 4864, vocabSize: 151936, tieWordEmbeddings: true };
  const lora = { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj' as const, 'v_proj' as const], layers: null, useRslora: false };
  const GiB = 2 ** 30;
  const device: PlanDevice = { f16: true, maxStorageBufferBindingSize: 2 * GiB - 4, maxBufferSize: 2 * GiB };
  const cfg: LlamaMemoryConfig = { batchSize: 16, seqLen: 512, gradientCheckpointing: false, storage: llamaStorage('f16'), device, kvCacheTokens: 0 };
  const request = (spec: ModelSpec, over: Partial<Parameters<typeof planRun>[0]> = {}): Parameters<typeof planRun>[0] => ({
    memory: (c, w) => llamaMemoryPlan(spec, lora, { ...c, storage: llamaStorage(w), device }),
    weights: 'f16', formats: ['f32', 'f16', 'q8', 'nf4'],
    batchSize: 16, microBatch: 0, seqLen: 512, checkpointing: 'auto' as const, maxLength: 512, ...over,
  });

  it('counts SmolLM2-135M weights, adapter state and activations', () => {
    const plan = llamaMemoryPlan(smol, lora, cfg);
    // As LlamaGpu.load stores them with an f16 base: the tied embedding and the projections in f16, the norms in f32.
    const embedding = 49152 * 576 * 2;
    const norms = (30 * 2 * 576 + 576) * 4;
    const projections = 30 * (576 * 576 * 2 + 576 * 192 * 2 + 576 * 1536 * 3) * 2;
    expect(plan.weights).toBe(embedding + norms + projections + 32 * 4); // and RoPE's 32 inverse frequencies
    expect(llamaMemoryPlan(smol, lora, { ...cfg, storage: llamaStorage('f32') }).weights / 4).toBeGreaterThan(134e6); // ~134.5M parameters
    expect(llamaMemoryPlan(smol, lora, { ...cfg, storage: llamaStorage('f32') }).weights / 4).toBeLessThan(136e6);
    // q: 8·576 + 576·8, v: 8·576 + 192·8 per layer; f32 params, grads, m, v and the staging copies a checkpoint reads params, m, v through
    expect(plan.adapter).toBe(30 * (8 * 576 + 576 * 8 + 8 * 576 + 192 * 8) * 4 * 7);
    const ckpt = llamaMemoryPlan(smol, lora, { ...cfg, gradientCheckpointing: true });
    expect(ckpt.activations).toBeLessThan(plan.activations / 5);
    // lmheadChunkTokens: 64 MiB of logits = 341 rows of 49152, cut to whole 64-row tiles
    expect(plan.logitsChunk).toBe(320 * 49152 * 4);
  });

  it('keeps the effective batch: the largest micro-batch dividing it that fits, with the reason', () => {
    const at = (mb: number, cp = false) => llamaMemoryPlan(smol, lora, { ...cfg, batchSize: mb, gradientCheckpointing: cp, stagedBatches: 16 / mb }).total;
    const plan = planRun(request(smol, { checkpointing: 'off' }), { budgetBytes: at(4) + 1, maxBufferSize: GiB });
    expect(plan).toMatchObject({ fits: true, microBatch: 4, gradAccum: 4, checkpointing: false, seqLen: 512 });
    expect(plan.reasons[0]).toMatch(/micro-batch 4 × 4 accumulation steps = batch 16: a larger micro-batch would need .* more than/);
    expect(plan.memory.total).toBeLessThanOrEqual(at(4) + 1);
    // With checkpointing allowed and nothing fitting without it, the planner turns it on and says why.
    const cp = planRun(request(smol), { budgetBytes: at(8, true) + 1, maxBufferSize: GiB });
    expect(cp.fits).toBe(true);
    if (cp.checkpointing) expect(cp.reasons.join(' ')).toMatch(/gradient checkpointing on: without it/);
  });

  it('the cases the old advice missed: Qwen2.5-0.5B at batch 16 in 2 GiB fits at full length (micro-batch and checkpointing)', () => {
    const plan = planRun(request(qwen05), { budgetBytes: 2 * GiB, maxBufferSize: GiB });
    expect(plan.fits).toBe(true);
    expect(plan.seqLen).toBe(512);
    expect(plan.microBatch * plan.gradAccum).toBe(16);
    expect(plan.memory.total).toBeLessThanOrEqual(2 * GiB);
    // A fixed micro-batch that does not fit gets "auto" as its fix, not a shorter sequence.
    const fixed = planRun(request(qwen05, { microBatch: 16 }), { budgetBytes: 2 * GiB, maxBufferSize: GiB });
    expect(fixed.fits).toBe(false);
    expect(fixed.advice).toMatch(/lower the micro-batch from 16 to \d+/);
    expect(fixed.fix).toEqual({ microBatch: 0 });
  });

  it('sequence length only as the last resort, tried from the original length down; the buffer limit is named', () => {
    const one = llamaMemoryPlan(smol, lora, { ...cfg, batchSize: 1, seqLen: 1024, gradientCheckpointing: true, stagedBatches: 16 }).total;
    const plan = planRun(request(smol, { seqLen: 8192, maxLength: 8192 }), { budgetBytes: one, maxBufferSize: GiB });
    expect(plan.fits).toBe(false);
    expect(plan.advice).toMatch(/lower the max length from 8192 to \d+ tokens/);
    expect(plan.fix!.maxLength).toBeGreaterThanOrEqual(1024);
    expect(plan.fix!.maxLength! % 8).toBe(0);
    expect(llamaMemoryPlan(smol, lora, { ...cfg, batchSize: 1, seqLen: plan.fix!.maxLength! + 8, gradientCheckpointing: true, stagedBatches: 16 }).total).toBeGreaterThan(one);
    const fixed = planRun(request(smol, { seqLen: plan.fix!.maxLength!, maxLength: plan.fix!.maxLength! }), { budgetBytes: one, maxBufferSize: GiB });
    expect(fixed.fits).toBe(true);
    const buffer = planRun({ ...request(smol), weights: 'f32' }, { budgetBytes: 1e12, maxBufferSize: 64 << 20 });
    expect(buffer.fits).toBe(false);
    expect(buffer.advice).toMatch(/embed_tokens.*needs one .* buffer but this GPU allows at most 64.0 MiB/);
  });
});

describe('memory planner: the base precision', () => {
  const smol: ModelSpec = { ...tinySpec('llama'), hiddenSize: 576, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, intermediateSize: 1536, vocabSize: 49152, tieWordEmbeddings: true };
  const lora = { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj' as const, 'v_proj' as const], layers: null, useRslora: false };
  const GiB = 2 ** 30;
  const withF16: PlanDevice = { f16: true, maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 4 * GiB };
  const noF16: PlanDevice = { ...withF16, f16: false };
  const request = (device: PlanDevice, over: Partial<Parameters<typeof planRun>[0]> = {}): Parameters<typeof planRun>[0] => ({
    memory: (c, w) => llamaMemoryPlan(smol, lora, { ...c, storage: llamaStorage(w), device }),
    weights: 'auto', formats: device.f16 ? ['f32', 'f16', 'q8', 'nf4'] : ['f32', 'q8', 'nf4'],
    batchSize: 4, microBatch: 0, seqLen: 512, checkpointing: 'auto', maxLength: 512, ...over,
  });
  /** Bytes of the best configuration of one base precision (the fixed setting). */
  const best = (device: PlanDevice, w: 'f32' | 'f16' | 'q8' | 'nf4') => planRun(request(device, { weights: w }), { budgetBytes: 64 * GiB, maxBufferSize: 4 * GiB }).memory.total;
  const smallest = (device: PlanDevice, w: 'f32' | 'f16' | 'q8' | 'nf4') =>
    planRun(request(device, { weights: w, microBatch: 1, checkpointing: 'on' }), { budgetBytes: 64 * GiB, maxBufferSize: 4 * GiB }).memory.total;

  it('the weights shrink with the format: f32 > f16 > q8 > nf4, the tied table 8-bit under a quantized base', () => {
    const w = (f: 'f32' | 'f16' | 'q8' | 'nf4', device = withF16) => llamaMemoryPlan(smol, lora, { batchSize: 1, seqLen: 8, gradientCheckpointing: true, kvCacheTokens: 0, storage: llamaStorage(f), device }).weights;
    expect(w('f32')).toBeGreaterThan(w('f16'));
    expect(w('f16')).toBeGreaterThan(w('q8'));
    expect(w('q8')).toBeGreaterThan(w('nf4'));
    const table = 49152 * 576 + 49152 * 4; // q8: a byte a weight and an f32 scale a row
    const projections = 30 * (576 * 576 * 2 + 576 * 192 * 2 + 576 * 1536 * 3);
    const norms = (30 * 2 * 576 + 576) * 4 + 32 * 4; // and RoPE's frequencies
    // nf4: half a byte a weight, plus one f16 absmax per 64 (576 and 1536 are whole blocks)
    expect(w('nf4') - table - norms).toBe(projections / 2 + (projections / 64) * 2);
    // q8 projections: a byte a weight and an f32 scale per output row
    const rows = 30 * (576 + 192 * 2 + 576 + 1536 * 2 + 576);
    expect(w('q8') - table - norms).toBe(projections + rows * 4);
    // the same without shader-f16
    expect(w('nf4', noF16)).toBe(w('nf4'));
  });

  it('a large f32 / f16 table is split into binding-sized parts of whole 64-row tiles', () => {
    // Qwen2.5's 151936 × 896 f16 table in 128 MiB bindings: 74898 rows would fit, 74880 keep the LM head's vec4 matmul
    expect(tablePartRows('f16', 151936, 896, withF16)).toBe(74880);
    expect(tablePartRows('f32', 49152, 576, withF16)).toBe(49152); // fits whole
    expect(tablePartRows('f16', 5, 7, { maxStorageBufferBindingSize: 42, maxBufferSize: 64 })).toBe(2); // 3 rows of 14 bytes fit but end off a 4-byte word
  });

  it('auto is the most precise format whose best configuration fits, and says so', () => {
    expect(planRun(request(withF16), { budgetBytes: 64 * GiB, maxBufferSize: 4 * GiB })).toMatchObject({ fits: true, weights: 'f32' });
    // room for f16 but not for f32 (even with micro-batch 1 and checkpointing)
    const f16Budget = { budgetBytes: Math.min(best(withF16, 'f16'), smallest(withF16, 'f32') - 1), maxBufferSize: 4 * GiB };
    const f16 = planRun(request(withF16), f16Budget);
    expect(f16).toMatchObject({ fits: true, weights: 'f16' });
    expect(f16.weightsNote).toMatch(/^Base weights: 16-bit float \(f16\) \(the most precise that fits .*; 32-bit float \(f32\) would need .*\)$/);
    // the same budget on a device without shader-f16 skips to 8-bit
    const budget = { budgetBytes: Math.min(best(noF16, 'q8'), smallest(noF16, 'f32') - 1), maxBufferSize: 4 * GiB };
    expect(planRun(request(noF16), budget)).toMatchObject({ fits: true, weights: 'q8' });
    // only nf4 fits
    const nf4 = planRun(request(withF16), { budgetBytes: smallest(withF16, 'q8') - 1, maxBufferSize: 4 * GiB });
    expect(nf4).toMatchObject({ fits: true, weights: 'nf4' });
    expect(nf4.memory.total).toBeLessThan(smallest(withF16, 'q8'));
    // nothing fits: the least memory, with the advice of that plan
    const none = planRun(request(withF16), { budgetBytes: 64 << 20, maxBufferSize: 4 * GiB });
    expect(none).toMatchObject({ fits: false, weights: 'nf4' });
    expect(none.advice).toMatch(/weights alone take/);
  });

  it('a fixed precision is kept; where it cannot fit, the advice is a less precise base before a shorter sequence', () => {
    const f32 = planRun(request(withF16, { weights: 'f32' }), { budgetBytes: 64 * GiB, maxBufferSize: 4 * GiB });
    expect(f32.weightsNote).toBe('Base weights: 32-bit float (f32), as set');
    const tight = { budgetBytes: smallest(withF16, 'q8') + 1, maxBufferSize: 4 * GiB };
    const fixed = planRun(request(withF16, { weights: 'f32' }), tight);
    expect(fixed).toMatchObject({ fits: false, weights: 'f32', fix: { weights: 'auto' } });
    expect(fixed.advice).toMatch(/store the base in 8-bit \(per output channel\) \(base precision auto\)/);
    expect(planRun(request(withF16, fixed.fix!), tight)).toMatchObject({ fits: true, weights: 'q8' });
    // f16 asked of a device without shader-f16
    const noHalf = planRun(request(noF16, { weights: 'f16' }), { budgetBytes: 64 * GiB, maxBufferSize: 4 * GiB });
    expect(noHalf).toMatchObject({ fits: false, fix: { weights: 'auto' } });
    expect(noHalf.advice).toMatch(/need the shader-f16 feature, which this GPU lacks/);
  });
});

describe('checkpoint state (format 2: checksummed, verified)', () => {
  const state: TrainState = {
    step: 12, totalSteps: 40, skippedSteps: 1, rolledBackSteps: 0, dataCursor: { epoch: 1, index: 5, seed: 3 },
    run: { settings: { lr: 1e-4 }, identity: { model: 'm', data: 'd' } },
    params: Float32Array.from([1, 2, 3]), m: Float32Array.from([0.1, 0.2, 0.3]), v: Float32Array.from([4, 5, 6]),
  };
  /** Re-signs edited bytes, as a forger would. */
  const resign = (bytes: Uint8Array) => {
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(12, crc32(bytes.subarray(16)), true);
    return bytes;
  };
  const forge = (header: Record<string, unknown>, floats = [1, 2, 3, 0, 0, 0, 1, 1, 1]) => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const start = Math.ceil((16 + json.length) / 4) * 4;
    const out = new Uint8Array(start + floats.length * 4);
    out.set(new TextEncoder().encode('ASCKPT02'));
    new DataView(out.buffer).setUint32(8, json.length, true);
    out.set(json, 16);
    new Float32Array(out.buffer, start).set(floats);
    return resign(out);
  };
  const good = { step: 2, totalSteps: 5, skippedSteps: 0, rolledBackSteps: 0, dataCursor: { epoch: 0, index: 2, seed: 1 }, run: {}, size: 3 };

  it('round-trips every field through bytes', () => {
    expect(deserializeCheckpoint(serializeCheckpoint(state))).toEqual(state);
    expect(deserializeCheckpoint(forge(good)).step).toBe(2);
  });

  it('rejects truncated, foreign, damaged, old and forged files with a named reason', () => {
    const bytes = serializeCheckpoint(state);
    expect(() => deserializeCheckpoint(bytes.subarray(0, bytes.length - 4), 'run.ckpt')).toThrow(CheckpointError);
    expect(() => deserializeCheckpoint(bytes.subarray(0, bytes.length - 4), 'run.ckpt')).toThrow(/run.ckpt: checksum mismatch/);
    expect(() => deserializeCheckpoint(new Uint8Array(20))).toThrow(/magic/);
    const old = bytes.slice();
    old.set(new TextEncoder().encode('ASCKPT01'));
    expect(() => deserializeCheckpoint(old)).toThrow(/older version/);
    expect(() => deserializeCheckpoint(forge({ ...good, step: -3 }))).toThrow(/"step" is -3, not a non-negative integer/);
    expect(() => deserializeCheckpoint(forge({ ...good, step: 9 }))).toThrow(/step 9 of 5/);
    expect(() => deserializeCheckpoint(forge({ ...good, skippedSteps: 3 }))).toThrow(/3 skipped steps after 2 steps/);
    expect(() => deserializeCheckpoint(forge({ ...good, size: 4 }))).toThrow(/expected \d+ bytes for 4 parameters/);
    expect(() => deserializeCheckpoint(forge({ ...good, dataCursor: { epoch: 0 } }))).toThrow(/dataCursor/);
    expect(() => deserializeCheckpoint(forge(good, [1, NaN, 3, 0, 0, 0, 1, 1, 1]))).toThrow(/tensor "params" holds NaN at index 1/);
    expect(() => deserializeCheckpoint(forge(good, [1, 2, 3, 0, 0, 0, 1, -1, 1]))).toThrow(/tensor "v" holds -1 at index 1/);
  });

  it('a seeded fuzz: every bit flip, truncation and byte splice is a CheckpointError, never a run', () => {
    const bytes = serializeCheckpoint({ ...state, params: Float32Array.from({ length: 64 }, (_, i) => i / 7), m: new Float32Array(64), v: new Float32Array(64).fill(0.5) });
    const rng = new SeededRng(2024);
    let cases = 0;
    for (let i = 0; i < 600; i++) {
      const b = bytes.slice();
      const kind = i % 3;
      let input: Uint8Array = b;
      if (kind === 0) b[rng.nextU32() % b.length] ^= 1 << (rng.nextU32() % 8);
      else if (kind === 1) input = b.subarray(0, rng.nextU32() % b.length);
      else {
        const at = rng.nextU32() % b.length;
        for (let k = 0; k < 1 + (rng.nextU32() % 16) && at + k < b.length; k++) b[at + k] = rng.nextU32() & 0xff;
        if (b.every((x, j) => x === bytes[j])) continue;
      }
      expect(() => deserializeCheckpoint(input, `fuzz ${i}`), `case ${i} (${['bit flip', 'truncation', 'splice'][kind]})`).toThrow(CheckpointError);
      cases++;
    }
    expect(cases).toBeGreaterThan(590);
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
