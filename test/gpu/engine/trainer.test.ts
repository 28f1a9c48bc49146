import { describe, expect, it } from 'vitest';
import { arrayDataset } from '../../../src/data/batches';
import { LlamaGpu } from '../../../src/engine/model/llama';
import { initAdapter } from '../../../src/engine/model/lora';
import { deserializeCheckpoint, serializeCheckpoint } from '../../../src/formats/checkpoint';
import { Trainer } from '../../../src/engine/train/trainer';
import { expectClose } from '../../helpers/compare';
import { examples, LAYOUT, referenceRun, runAll, settings } from '../../helpers/referenceRun';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { tinySpec, tinyWeights } from '../../unit/engine/tinyModel';

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
