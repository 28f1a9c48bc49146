import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, uploadBuffer, writeBuffer } from '../../../src/engine/gpu/buffers';
import { adamwStep } from '../../../src/engine/kernels/adamw/adamw';
import { GpuOptimizer } from '../../../src/engine/kernels/adamw/optimizer';
import { adamwRef, type AdamwHyper } from '../../../src/engine/kernels/adamw/adamw.ref';
import { globalGradNorm, gradNormPartialsLength, readStepControl, STEP_CONTROL_BYTES } from '../../../src/engine/kernels/gradnorm/gradnorm';
import { stepControlRef } from '../../../src/engine/kernels/gradnorm/gradnorm.ref';
import { bindingChunks } from '../../../src/engine/kernels/gradnorm/chunks';
import { uniformValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference } from './util';

interface Case {
  name: string;
  count: number;
  steps: number;
  tokenCount: number;
  gradScale: number;
  maxNorm: number;
  hyper: Omit<AdamwHyper, 'step'>;
  maxBindingBytes?: number;
}

const cases: Case[] = [
  { name: 'count=1, 2 steps', count: 1, steps: 2, tokenCount: 1, gradScale: 1, maxNorm: 1, hyper: { lr: 1e-2 } },
  { name: 'count=1001, 3 steps, clipped, wd 0.1', count: 1001, steps: 3, tokenCount: 17, gradScale: 20, maxNorm: 1, hyper: { lr: 1e-3, weightDecay: 0.1 } },
  { name: 'count=5000, 3 steps, no clipping, betas (0.8, 0.99)', count: 5000, steps: 3, tokenCount: 4, gradScale: 0.01, maxNorm: 0, hyper: { lr: 1e-4, beta1: 0.8, beta2: 0.99 } },
  { name: 'chunked into 3 bindings, count=6000, 2 steps', count: 6000, steps: 2, tokenCount: 9, gradScale: 1, maxNorm: 1, hyper: { lr: 1e-3 }, maxBindingBytes: 2560 * 4 },
  // A LoRA + head layout: weights decayed, biases (the tail) not, as HF's Trainer decides.
  { name: 'count=1001, wd 0.5 on a decayed prefix of 700', count: 1001, steps: 3, tokenCount: 5, gradScale: 1, maxNorm: 1, hyper: { lr: 1e-2, weightDecay: 0.5, decayCount: 700 } },
  { name: 'chunked into 3 bindings, decayed prefix ends inside the second chunk', count: 6000, steps: 2, tokenCount: 3, gradScale: 1, maxNorm: 0, hyper: { lr: 1e-2, weightDecay: 0.5, decayCount: 3001 }, maxBindingBytes: 2560 * 4 },
];

async function setup(count: number, seed: number) {
  const gpu = await testGpu();
  const params = uniformValues(count, seed, -0.5, 0.5);
  return {
    gpu,
    params,
    gparams: uploadBuffer(gpu, 'flat params', params),
    ggrads: createBuffer(gpu, 'flat grads', count * 4),
    gm: uploadBuffer(gpu, 'adam m', new Float32Array(count)),
    gv: uploadBuffer(gpu, 'adam v', new Float32Array(count)),
    partials: createBuffer(gpu, 'grad norm partials', gradNormPartialsLength(gpu, count) * 4),
    control: createBuffer(gpu, 'step control', STEP_CONTROL_BYTES),
  };
}

describe('adamw matches the float64 reference', () => {
  for (const c of cases) {
    it(`adamw step ${c.name} matches_reference`, async () => {
      const s = await setup(c.count, c.count);
      const { gpu } = s;
      const partials = createBuffer(gpu, 'grad norm partials', gradNormPartialsLength(gpu, c.count, c.maxBindingBytes) * 4);
      if (c.maxBindingBytes) expect(bindingChunks(gpu, c.count, c.maxBindingBytes).length).toBe(3);
      const p = Float64Array.from(s.params);
      const m = new Float64Array(c.count);
      const v = new Float64Array(c.count);
      for (let step = 1; step <= c.steps; step++) {
        const grads = uniformValues(c.count, 100 * step + c.count, -c.gradScale, c.gradScale);
        const stats = uploadBuffer(gpu, 'loss stats', Float32Array.from([3 * c.tokenCount]));
        writeBuffer(gpu, s.ggrads, grads);
        // The whole optimizer step in one recorder, no readback until it is done.
        const rec = new Recorder(gpu, `optimizer step ${step}`);
        globalGradNorm(rec, {
          grads: s.ggrads, count: c.count, partials, stats, lossIndex: 0, tokenCount: c.tokenCount, maxNorm: c.maxNorm,
          control: s.control, maxBindingBytes: c.maxBindingBytes,
        });
        adamwStep(rec, { ...c.hyper, decayCount: c.hyper.decayCount, tMin: step, params: s.gparams, grads: s.ggrads, m: s.gm, v: s.gv, control: s.control, count: c.count, maxBindingBytes: c.maxBindingBytes });
        await rec.done();
        // The reference uses the GPU's own gradScale so that each step's comparison measures AdamW alone.
        const control = await readStepControl(gpu, s.control);
        expect(control.finite).toBe(true);
        const want = stepControlRef(grads, 3 * c.tokenCount, c.tokenCount, c.maxNorm);
        expect(control.gradScale).toBeCloseTo(want.gradScale, 6);
        adamwRef(p, grads, m, v, { finite: true, gradScale: control.gradScale }, { ...c.hyper, step });
        const shape = `${c.name}, step ${step}`;
        await checkAgainstReference(gpu, s.gparams, p, TOLERANCES.adamw, 'adamw', 'step', `${shape} (params)`);
        await checkAgainstReference(gpu, s.gm, m, TOLERANCES.adamw, 'adamw', 'step', `${shape} (m)`);
        await checkAgainstReference(gpu, s.gv, v, TOLERANCES.adamw, 'adamw', 'step', `${shape} (v)`);
        // Keep GPU and reference on the same state so errors do not compound across steps.
        p.set(await readF32(gpu, s.gparams, c.count));
        m.set(await readF32(gpu, s.gm, c.count));
        v.set(await readF32(gpu, s.gv, c.count));
        stats.destroy();
      }
    });
  }

  it('adamw step through GpuOptimizer (clip, counters, t from the GPU) matches_reference', async () => {
    const gpu = await testGpu();
    const count = 777;
    const opt = new GpuOptimizer(gpu, count, { weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1 }, 'test');
    const init = uniformValues(count, 21, -0.5, 0.5);
    opt.load({ params: init });
    const p = Float64Array.from(init);
    const m = new Float64Array(count);
    const v = new Float64Array(count);
    for (let step = 1; step <= 3; step++) {
      const grads = uniformValues(count, 30 + step, -4, 4);
      writeBuffer(gpu, opt.grads, grads);
      const stats = uploadBuffer(gpu, 'loss sum', Float32Array.from([7.5]));
      const rec = new Recorder(gpu, 'optimizer step');
      // t is read from the GPU's counter: the CPU offers t ∈ [1, step] as if earlier steps were unknown.
      opt.recordStep(rec, { lossSum: stats, tokenCount: 16, lr: 1e-3, tMin: 1, tCount: Math.min(step, 4) });
      await rec.done();
      const control = await readStepControl(gpu, opt.control);
      expect(control).toMatchObject({ finite: true, updated: true, applied: step, skipped: 0 });
      expect(control.loss).toBeCloseTo(7.5 / 16, 6);
      adamwRef(p, grads, m, v, { finite: true, gradScale: control.gradScale }, { lr: 1e-3, weightDecay: 0.01, step });
      await checkAgainstReference(gpu, opt.params, p, TOLERANCES.adamw, 'adamw', 'step', `GpuOptimizer count=777 step ${step} (params)`);
      const snap = await opt.snapshot();
      p.set(snap.params);
      m.set(snap.m);
      v.set(snap.v);
      stats.destroy();
    }
    opt.destroy();
  });

  it('a step skipped on the GPU while the next is already recorded: the next takes t from the GPU counter (pipelined steps) matches_reference', async () => {
    const gpu = await testGpu();
    const count = 500;
    const opt = new GpuOptimizer(gpu, count, { weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1 }, 'pipelined');
    const init = uniformValues(count, 3, -0.5, 0.5);
    opt.load({ params: init });
    const p = Float64Array.from(init);
    const m = new Float64Array(count);
    const v = new Float64Array(count);
    const grads = [1, 2, 3].map((k) => uniformValues(count, 60 + k, -2, 2));
    const losses = [2, NaN, 3];
    // Three steps recorded and submitted back to back, as the trainer does: the CPU knows no outcome
    // yet, so step k offers t ∈ [1, k]; step 2's loss is not finite and the GPU skips it.
    for (let k = 0; k < 3; k++) {
      writeBuffer(gpu, opt.grads, grads[k]);
      const stats = uploadBuffer(gpu, `loss ${k}`, Float32Array.from([losses[k]]));
      const rec = new Recorder(gpu, `step ${k + 1}`);
      opt.recordStep(rec, { lossSum: stats, tokenCount: 4, lr: 1e-3, tMin: 1, tCount: k + 1 });
      rec.submit();
    }
    const control = await readStepControl(gpu, opt.control);
    expect(control).toMatchObject({ applied: 2, skipped: 1, updated: true });
    // The reference: step 1 with t = 1, step 2 skipped, step 3 with t = 2 (not 3).
    const scale = (g: Float32Array) => stepControlRef(g, 0, 4, 1).gradScale;
    adamwRef(p, grads[0], m, v, { finite: true, gradScale: scale(grads[0]) }, { lr: 1e-3, weightDecay: 0.01, step: 1 });
    adamwRef(p, grads[2], m, v, { finite: true, gradScale: scale(grads[2]) }, { lr: 1e-3, weightDecay: 0.01, step: 2 });
    await checkAgainstReference(gpu, opt.params, p, TOLERANCES.adamw, 'adamw', 'step', 'pipelined: step 3 after a skipped step 2 (params)');
    await checkAgainstReference(gpu, opt.m, m, TOLERANCES.adamw, 'adamw', 'step', 'pipelined: step 3 after a skipped step 2 (m)');
    opt.destroy();
  });

  it('adamw refuses an update that would make a parameter non-finite: rolled back, counted, nothing written', async () => {
    const count = 300;
    const s = await setup(count, 8);
    const { gpu } = s;
    const grads = uniformValues(count, 9);
    writeBuffer(gpu, s.ggrads, grads);
    const stats = uploadBuffer(gpu, 'loss', Float32Array.from([1]));
    const rec = new Recorder(gpu, 'exploding update');
    globalGradNorm(rec, { grads: s.ggrads, count, partials: s.partials, stats, lossIndex: 0, tokenCount: 1, maxNorm: 0, control: s.control });
    // A learning rate past f32's range: every update overflows.
    adamwStep(rec, { lr: 1e39, weightDecay: 0, tMin: 1, params: s.gparams, grads: s.ggrads, m: s.gm, v: s.gv, control: s.control, count });
    await rec.done();
    const control = await readStepControl(gpu, s.control);
    expect(control).toMatchObject({ finite: true, updated: false, applied: 0, skipped: 1, rolledBack: 1 });
    expect(control.reasons.join('; ')).toMatch(/rolled back/);
    expect(Buffer.from((await readF32(gpu, s.gparams, count)).buffer).equals(Buffer.from(s.params.buffer))).toBe(true);
    expect((await readF32(gpu, s.gm, count)).every((x) => x === 0)).toBe(true);
  });

  for (const poison of ['NaN in the gradients', 'Inf in the gradients', 'NaN loss'] as const) {
    it(`adamw step with ${poison} is skipped: params, m and v unchanged, and reported`, async () => {
      const count = 513;
      const s = await setup(count, 5);
      const { gpu } = s;
      const grads = uniformValues(count, 6);
      const stats = uploadBuffer(gpu, 'loss stats', Float32Array.from([poison === 'NaN loss' ? NaN : 1]));
      writeBuffer(gpu, s.ggrads, grads);
      // One good step first so that m and v are not zeros.
      const good = new Recorder(gpu, 'good step');
      globalGradNorm(good, { grads: s.ggrads, count, partials: s.partials, stats: uploadBuffer(gpu, 'ok stats', Float32Array.from([1])), lossIndex: 0, tokenCount: 2, maxNorm: 1, control: s.control });
      adamwStep(good, { lr: 1e-3, tMin: 1, params: s.gparams, grads: s.ggrads, m: s.gm, v: s.gv, control: s.control, count });
      await good.done();
      const before = await Promise.all([s.gparams, s.gm, s.gv].map((b) => readF32(gpu, b, count)));

      if (poison !== 'NaN loss') grads[100] = poison === 'NaN in the gradients' ? NaN : Infinity;
      writeBuffer(gpu, s.ggrads, grads);
      const bad = new Recorder(gpu, 'bad step');
      globalGradNorm(bad, { grads: s.ggrads, count, partials: s.partials, stats, lossIndex: 0, tokenCount: 2, maxNorm: 1, control: s.control });
      adamwStep(bad, { lr: 1e-3, tMin: 2, params: s.gparams, grads: s.ggrads, m: s.gm, v: s.gv, control: s.control, count });
      await bad.done();
      const control = await readStepControl(gpu, s.control);
      expect(control.finite).toBe(false);
      expect(control.reasons.join('; ')).toMatch(poison === 'NaN loss' ? /loss is not finite/ : /gradient norm is not finite/);
      const after = await Promise.all([s.gparams, s.gm, s.gv].map((b) => readF32(gpu, b, count)));
      ['params', 'm', 'v'].forEach((name, i) => {
        expect(Buffer.from(after[i].buffer).equals(Buffer.from(before[i].buffer)), `${name} changed by a skipped step`).toBe(true);
      });
      expect(before[1].some((x) => x !== 0)).toBe(true);
    });
  }
});
