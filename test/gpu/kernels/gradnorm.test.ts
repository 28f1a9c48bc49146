import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, uploadBuffer } from '../../../src/engine/gpu/buffers';
import {
  globalGradNorm,
  gradNormPartials,
  gradNormPartialsLength,
  readStepControl,
  stepControl,
  STEP_CONTROL_BYTES,
  type TokenCountSource,
} from '../../../src/engine/kernels/gradnorm/gradnorm';
import { stepControlRef } from '../../../src/engine/kernels/gradnorm/gradnorm.ref';
import { bindingChunks } from '../../../src/engine/kernels/gradnorm/chunks';
import { compare } from '../../helpers/compare';
import { recordKernelError } from '../../helpers/kernelErrors';
import { uniformValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';

interface Case {
  name: string;
  count: number;
  tokenCount: number;
  /** How the token count reaches the GPU. */
  countFrom: 'uniform' | 'u32' | 'f32';
  maxNorm: number;
  gradScale?: number;
  lossSum?: number;
  maxBindingBytes?: number;
  poison?: number;
}

const cases: Case[] = [
  { name: 'count=1 no clipping', count: 1, tokenCount: 1, countFrom: 'uniform', maxNorm: 1, gradScale: 0.1 },
  { name: 'count=1001 clipped, token count as u32 in stats', count: 1001, tokenCount: 37, countFrom: 'u32', maxNorm: 1, gradScale: 40 },
  { name: 'count=4099 token count as f32 in stats, clipping off', count: 4099, tokenCount: 12, countFrom: 'f32', maxNorm: 0 },
  { name: '2M elements (accuracy)', count: 2_000_003, tokenCount: 1000, countFrom: 'uniform', maxNorm: 1, gradScale: 5 },
  { name: 'chunked: 10000 elements in 4 bindings of 2560', count: 10_000, tokenCount: 3, countFrom: 'u32', maxNorm: 1, maxBindingBytes: 2560 * 4 },
  { name: 'NaN gradient', count: 300, tokenCount: 5, countFrom: 'uniform', maxNorm: 1, poison: NaN },
  { name: 'Inf gradient', count: 300, tokenCount: 5, countFrom: 'uniform', maxNorm: 1, poison: Infinity },
  { name: 'NaN loss', count: 300, tokenCount: 5, countFrom: 'uniform', maxNorm: 1, lossSum: NaN },
  { name: 'zero target tokens', count: 30, tokenCount: 0, countFrom: 'u32', maxNorm: 1 },
];

describe('global grad norm and step control match the float64 reference', async () => {
  const gpu = await testGpu();
  for (const c of cases) {
    it(`gradnorm step ${c.name} matches_reference`, async () => {
      const grads = uniformValues(c.count, c.count + 7, -(c.gradScale ?? 1), c.gradScale ?? 1);
      if (c.poison !== undefined) grads[Math.floor(c.count / 2)] = c.poison;
      const lossSum = c.lossSum ?? 2.5 * c.tokenCount;
      const statsWords = new ArrayBuffer(16);
      new Float32Array(statsWords)[1] = lossSum;
      if (c.countFrom === 'u32') new Uint32Array(statsWords)[3] = c.tokenCount;
      if (c.countFrom === 'f32') new Float32Array(statsWords)[3] = c.tokenCount;
      const tokenCount: TokenCountSource = c.countFrom === 'uniform' ? c.tokenCount : { index: 3, type: c.countFrom };

      if (c.maxBindingBytes) expect(bindingChunks(gpu, c.count, c.maxBindingBytes).length).toBe(4);
      const ggrads = uploadBuffer(gpu, 'flat grads', grads);
      const gstats = uploadBuffer(gpu, 'loss stats', statsWords);
      const partials = createBuffer(gpu, 'grad norm partials', gradNormPartialsLength(gpu, c.count, c.maxBindingBytes) * 4);
      const control = createBuffer(gpu, 'step control', STEP_CONTROL_BYTES);
      const rec = new Recorder(gpu, 'grad norm test');
      globalGradNorm(rec, {
        grads: ggrads, count: c.count, partials, stats: gstats, lossIndex: 1, tokenCount, maxNorm: c.maxNorm, control,
        maxBindingBytes: c.maxBindingBytes,
      });
      await rec.done();
      const got = await readStepControl(gpu, control);
      const want = stepControlRef(grads, Math.fround(lossSum), c.tokenCount, c.maxNorm);

      expect(got.finite, `finite (${got.reasons.join('; ')})`).toBe(want.finite);
      expect(got.flags).toBe(want.flags);
      if (want.finite) {
        const result = compare([got.gradNorm, got.clipScale, got.gradScale, got.loss], [want.gradNorm, want.clipScale, want.gradScale, want.loss], TOLERANCES.gradNorm);
        recordKernelError('gradnorm', 'step', c.name, result, gpu.adapter.name);
        expect(result.mismatches, `${c.name}: [gradNorm, clipScale, gradScale, loss] ${result.report}`).toBe(0);
        if (c.maxNorm > 0 && want.gradNorm > c.maxNorm) expect(got.clipScale).toBeLessThan(1);
      } else {
        expect(got.reasons.length).toBeGreaterThan(0);
      }
      for (const b of [ggrads, gstats, partials, control]) b.destroy();
    });
  }

  it('gradnorm step over several gradient buffers appended into one partials buffer matches_reference', async () => {
    const a = uniformValues(777, 1, -3, 3);
    const b = uniformValues(1234, 2, -3, 3);
    const ga = uploadBuffer(gpu, 'grads a', a);
    const gb = uploadBuffer(gpu, 'grads b', b);
    const na = gradNormPartialsLength(gpu, a.length);
    const partials = createBuffer(gpu, 'partials', (na + gradNormPartialsLength(gpu, b.length)) * 4);
    const stats = uploadBuffer(gpu, 'stats', Float32Array.from([7]));
    const control = createBuffer(gpu, 'control', STEP_CONTROL_BYTES);
    const rec = new Recorder(gpu, 'two buffers');
    const wrote = gradNormPartials(rec, { grads: ga, count: a.length, partials });
    expect(wrote).toBe(na);
    const total = wrote + gradNormPartials(rec, { grads: gb, count: b.length, partials, partialsOffset: wrote });
    stepControl(rec, { partials, numPartials: total, stats, lossIndex: 0, tokenCount: 1, maxNorm: 1, control });
    await rec.done();
    const got = await readStepControl(gpu, control);
    const want = stepControlRef([...a, ...b], 7, 1, 1);
    const result = compare([got.gradNorm, got.clipScale], [want.gradNorm, want.clipScale], TOLERANCES.gradNorm);
    recordKernelError('gradnorm', 'step', 'two buffers appended', result, gpu.adapter.name);
    expect(result.mismatches, result.report).toBe(0);
  });

  for (const poisoned of [false, true]) {
    it(`gradnorm step summing ${poisoned ? 'per-token losses with a NaN (skipped)' : '300 per-token losses (lossCount)'} matches_reference`, async () => {
      const N = 300;
      const losses = uniformValues(N, 9, 0, 4);
      for (let i = 0; i < N; i += 7) losses[i] = 0; // ignored labels contribute 0
      if (poisoned) losses[123] = NaN;
      const grads = uniformValues(500, 10);
      const ggrads = uploadBuffer(gpu, 'grads', grads);
      const stats = uploadBuffer(gpu, 'per-token losses', Float32Array.from([99, ...losses]));
      const partials = createBuffer(gpu, 'partials', gradNormPartialsLength(gpu, grads.length) * 4);
      const control = createBuffer(gpu, 'control', STEP_CONTROL_BYTES);
      const rec = new Recorder(gpu, 'per-token losses');
      globalGradNorm(rec, { grads: ggrads, count: grads.length, partials, stats, lossIndex: 1, lossCount: N, tokenCount: 250, maxNorm: 1, control });
      await rec.done();
      const got = await readStepControl(gpu, control);
      const want = stepControlRef(grads, losses.reduce((a, b) => a + b, 0), 250, 1);
      expect(got.finite).toBe(!poisoned);
      expect(got.flags).toBe(want.flags);
      if (!poisoned) {
        const result = compare([got.loss, got.gradNorm], [want.loss, want.gradNorm], TOLERANCES.gradNorm);
        recordKernelError('gradnorm', 'step', 'per-token losses', result, gpu.adapter.name);
        expect(result.mismatches, result.report).toBe(0);
      }
    });
  }

  it('gradnorm step with the loss sum and the u32 target count in separate buffers (as the LM head writes them) matches_reference', async () => {
    const grads = uniformValues(999, 12, -2, 2);
    const ggrads = uploadBuffer(gpu, 'grads', grads);
    const lossSum = uploadBuffer(gpu, 'lossSum', Float32Array.from([42.5]));
    const targetCount = uploadBuffer(gpu, 'targetCount', Uint32Array.from([17]));
    const partials = createBuffer(gpu, 'partials', gradNormPartialsLength(gpu, grads.length) * 4);
    const control = createBuffer(gpu, 'control', STEP_CONTROL_BYTES);
    const rec = new Recorder(gpu, 'separate count buffer');
    globalGradNorm(rec, {
      grads: ggrads, count: grads.length, partials, stats: lossSum, lossIndex: 0,
      tokenCount: { buffer: targetCount, index: 0, type: 'u32' }, maxNorm: 1, control,
    });
    await rec.done();
    const got = await readStepControl(gpu, control);
    const want = stepControlRef(grads, 42.5, 17, 1);
    expect(got.tokenCount).toBe(17);
    const result = compare([got.loss, got.gradNorm, got.gradScale], [want.loss, want.gradNorm, want.gradScale], TOLERANCES.gradNorm);
    recordKernelError('gradnorm', 'step', 'separate count buffer', result, gpu.adapter.name);
    expect(result.mismatches, result.report).toBe(0);
  });

  it('gradnorm refuses a partials buffer that is too small', async () => {
    const grads = createBuffer(gpu, 'grads', 4096 * 4);
    const partials = createBuffer(gpu, 'partials too small', 4);
    const rec = new Recorder(gpu, 'refusal');
    expect(() => gradNormPartials(rec, { grads, count: 4096, partials })).toThrow(/partials too small.*needs/);
  });
});
