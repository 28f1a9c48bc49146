import { describe, expect, it } from 'vitest';
import { arrayDataset, Batcher, type Example } from '../../../src/data/batches';
import { LlamaGpu, llamaAdapterLayout } from '../../../src/engine/model/llama';
import { llamaReference } from '../../../src/engine/model/llama.ref';
import { initAdapter } from '../../../src/engine/model/lora';
import { adamwRef } from '../../../src/engine/kernels/adamw/adamw.ref';
import { stepControlRef } from '../../../src/engine/kernels/gradnorm/gradnorm.ref';
import { deserializeCheckpoint, serializeCheckpoint } from '../../../src/formats/checkpoint';
import { learningRate } from '../../../src/engine/train/schedule';
import { Trainer, MAX_IN_FLIGHT, type StepReport, type TrainLayout } from '../../../src/engine/train/trainer';
import { DEFAULT_SETTINGS, TARGET_MODULES, type LoraSettings, type RunSettings } from '../../../src/settings/settings';
import { SeededRng } from '../../../src/engine/train/rng';
import { expectClose } from '../../helpers/compare';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { tinySpec, tinyWeights } from '../../unit/engine/tinyModel';

function examples(V: number, count: number, seed: number, maxLen = 10): Example[] {
  const rng = new SeededRng(seed);
  return Array.from({ length: count }, () => {
    const L = 3 + (rng.nextU32() % (maxLen - 2));
    const ids = Int32Array.from({ length: L }, () => 1 + (rng.nextU32() % (V - 2)));
    const lossMask = Uint8Array.from({ length: L }, (_, i) => (i < 2 ? 0 : 1));
    return { ids, lossMask };
  });
}

const LORA: LoraSettings = { r: 2, alpha: 4, dropout: 0, targets: [...TARGET_MODULES], layers: null, useRslora: false };

function settings(train: Partial<RunSettings['train']> = {}, lora: Partial<LoraSettings> = {}): RunSettings {
  return {
    ...DEFAULT_SETTINGS,
    lora: { ...LORA, ...lora },
    // warmup 0.15 of 20 steps = 3 warmup steps
    train: { ...DEFAULT_SETTINGS.train, learningRate: 5e-3, epochs: 100, maxSteps: 20, batchSize: 4, microBatch: 2, maxLength: 8, warmupRatio: 0.15, seed: 7, ...train },
  };
}

const LAYOUT: TrainLayout = { microBatch: 2, gradAccum: 2, seqLen: 8, checkpointing: false, padId: 0 };

/** Every step of a trainer, pipelined as the run driver does it (MAX_IN_FLIGHT steps ahead). */
async function runAll(trainer: Trainer, limit = Infinity): Promise<StepReport[]> {
  const out: StepReport[] = [];
  while (out.length + trainer.inFlight < limit && trainer.submit()) {
    if (trainer.inFlight >= MAX_IN_FLIGHT) out.push(await trainer.next());
  }
  out.push(...(await trainer.drain()));
  return out;
}

/**
 * The same run in float64 on the CPU: the same batches, gradients of the whole network from the
 * reference model, PyTorch's clipping and AdamW. `skip(batches)` marks steps the GPU must skip.
 */
function referenceRun(s: RunSettings, layout: TrainLayout, spec: ReturnType<typeof tinySpec>, weights: Map<string, Float32Array>, data: ReturnType<typeof arrayDataset>, steps: number, skip: (micro: ReturnType<Batcher['next']>[]) => boolean = () => false) {
  const lay = llamaAdapterLayout(spec, s.lora);
  const params = Float64Array.from(initAdapter(lay, s.train.seed));
  const m = new Float64Array(lay.size);
  const v = new Float64Array(lay.size);
  const batcher = new Batcher(data, { batchSize: layout.microBatch, seqLen: layout.seqLen, padId: 0, seed: s.train.seed, epochs: s.train.epochs, shuffle: true });
  const losses: number[] = [];
  let t = 0;
  for (let step = 0; step < steps; step++) {
    const micro = Array.from({ length: layout.gradAccum }, () => batcher.next()!);
    if (skip(micro)) {
      losses.push(NaN);
      continue;
    }
    const targets = micro.reduce((a, b) => a + b!.targetTokens, 0);
    const grads = new Float64Array(lay.size);
    let loss = 0;
    for (const b of micro) {
      const r = llamaReference(spec, weights, b!, { adapter: { layout: lay, params }, grads: true, lossNormalizer: targets });
      loss += r.loss;
      for (let i = 0; i < grads.length; i++) grads[i] += r.grads![i];
    }
    losses.push(loss);
    const lr = learningRate({ kind: s.train.schedule, lr: s.train.learningRate, warmupSteps: Math.ceil(steps * s.train.warmupRatio), totalSteps: steps }, step);
    // The grads are already means over the step's target tokens (token count 1).
    adamwRef(params, grads, m, v, stepControlRef(grads, loss, 1, s.train.maxGradNorm), { lr, weightDecay: s.train.weightDecay, step: ++t });
  }
  return { losses, params, layout: lay };
}

describe('trainer (optimizer on the GPU, one submission per step, pipelined)', () => {
  it('20 AdamW steps with grad accumulation and clipping follow the float64 CPU trajectory', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('qwen2');
    const weights = tinyWeights(spec, 41);
    const model = await LlamaGpu.load(gpu, spec, async (n) => weights.get(n)!, { weights: 'f32' });
    const data = arrayDataset(examples(spec.vocabSize, 12, 3));
    const s = settings({ maxGradNorm: 0.5 }, { targets: ['q_proj', 'v_proj', 'down_proj'] });
    const trainer = new Trainer(model, data, s, LAYOUT);
    const reports = await runAll(trainer);
    expect(reports.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(reports.every((r) => !r.skipped)).toBe(true);
    const ref = referenceRun(s, LAYOUT, spec, weights, data, 20);
    const result = expectClose(reports.map((r) => r.loss), ref.losses, TOLERANCES.engineTrajectory, 'loss trajectory');
    console.log(`[trainer] 20-step loss trajectory: ${ref.losses[0].toFixed(4)} → ${ref.losses[19].toFixed(4)}; GPU vs float64 max abs error ${result.maxAbs.toExponential(2)}`);
    const params = await trainer.parameters();
    const init = initAdapter(ref.layout, s.train.seed);
    expect(Math.max(...params.map((x, i) => Math.abs(x - init[i])))).toBeGreaterThan(1e-3); // the adapter moved
    expectClose(params, ref.params, { atol: 2e-4, rtol: 1e-3 }, 'adapter after 20 steps');
    expect(reports.at(-1)!.applied).toBe(20);
    trainer.destroy();
    model.destroy();
  });

  it('a run interrupted and resumed from its checkpoint ends with the same adapter as an uninterrupted run', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('llama');
    const weights = tinyWeights(spec, 8);
    const model = await LlamaGpu.load(gpu, spec, async (n) => weights.get(n)!, { weights: 'f32' });
    const data = arrayDataset(examples(spec.vocabSize, 7, 5));
    const s = settings({ maxSteps: 0, epochs: 3, batchSize: 2 }, { dropout: 0.1, targets: ['q_proj', 'v_proj', 'o_proj'] });
    const layout = { ...LAYOUT, gradAccum: 1 };
    const whole = new Trainer(model, data, s, layout);
    const wholeLosses = (await runAll(whole)).map((r) => r.loss);
    const a = new Trainer(model, data, s, layout);
    const losses = (await runAll(a, 5)).map((r) => r.loss);
    expect(losses.length).toBe(5);
    const bytes = serializeCheckpoint(await a.state());
    a.destroy();
    const b = new Trainer(model, data, s, layout, { resume: deserializeCheckpoint(bytes) });
    losses.push(...(await runAll(b)).map((r) => r.loss));
    expect(losses).toEqual(wholeLosses);
    expect(Buffer.from((await b.parameters()).buffer).equals(Buffer.from((await whole.parameters()).buffer))).toBe(true);
    expect(b.step).toBe(whole.step);
    whole.destroy();
    b.destroy();
    model.destroy();
  });

  it('a step whose loss is not finite is skipped and reported, never applied', async () => {
    const gpu = await testGpu();
    const spec = tinySpec('llama');
    const weights = tinyWeights(spec, 8);
    const data = arrayDataset(examples(spec.vocabSize, 4, 5));
    // Finite weights (a non-finite one is refused at load) whose logits overflow f32: h·Wᵀ ≈ 1e20·1e20·C.
    const bad = new Map(weights);
    bad.set('model.norm.weight', new Float32Array(spec.hiddenSize).fill(1e20));
    bad.set('lm_head.weight', new Float32Array(spec.vocabSize * spec.hiddenSize).fill(1e20));
    const model = await LlamaGpu.load(gpu, spec, async (n) => bad.get(n)!, { weights: 'f32' });
    const trainer = new Trainer(model, data, settings({ maxSteps: 2, batchSize: 2 }), { ...LAYOUT, gradAccum: 1 });
    // A weight that is itself NaN or Inf never loads: the tensor and the first bad index are named.
    const nan = new Map(weights);
    const q = Float32Array.from(weights.get('model.layers.1.self_attn.q_proj.weight')!);
    q[37] = NaN;
    nan.set('model.layers.1.self_attn.q_proj.weight', q);
    await expect(LlamaGpu.load(gpu, spec, async (n) => nan.get(n)!, { weights: 'f32' })).rejects.toThrow(/tensor "model.layers.1.self_attn.q_proj.weight" holds a non-finite value \(NaN or Inf\) at index 37/);
    const before = await trainer.parameters();
    expect(trainer.submit()).toBe(true);
    const r = await trainer.next();
    expect(r.skipped).toBe(true);
    expect(Number.isFinite(r.loss) && Number.isFinite(r.gradNorm)).toBe(false);
    expect(await trainer.parameters()).toEqual(before);
    expect((await trainer.state()).skippedSteps).toBe(1);
    trainer.destroy();
    model.destroy();
  });
});
