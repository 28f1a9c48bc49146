import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { erfProbe, geluBackward, geluForward } from '../../../src/engine/kernels/gelu/gelu';
import { erf, geluBackwardRef, geluForwardRef } from '../../../src/engine/kernels/gelu/gelu.ref';
import { compare } from '../../helpers/compare';
import { recordKernelError } from '../../helpers/kernelErrors';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference } from './util';

/** Every multiple of 2⁻¹⁴ in [−lim, lim): exact in f32, dense enough to find the worst error. */
function denseRange(lim: number): Float32Array {
  const step = 2 ** -14;
  const n = Math.round((2 * lim) / step);
  return Float32Array.from({ length: n }, (_, i) => -lim + i * step);
}

describe('gelu matches the float64 reference', async () => {
  const gpu = await testGpu();

  it('erf of erf.wgsl over [−10, 10) in steps of 2⁻¹⁴ matches_reference (max abs error is f32-level)', async () => {
    const x = denseRange(10);
    const want = Float64Array.from(x, (v) => erf(v));
    const gx = uploadBuffer(gpu, 'erf probe x', x);
    const gy = createBuffer(gpu, 'erf probe y', x.length * 4);
    const rec = new Recorder(gpu, 'erf probe test');
    erfProbe(rec, gx, gy, x.length);
    await rec.done();
    const got = await readF32(gpu, gy);
    const result = compare(got, want, TOLERANCES.erf);
    let worst = 0;
    for (let i = 0; i < x.length; i++) if (Math.abs(got[i] - want[i]) > Math.abs(got[worst] - want[worst])) worst = i;
    console.log(`[erf] ${gpu.adapter.name}: max |erf_f32 − erf| = ${result.maxAbs.toExponential(3)} at x = ${x[worst]} over ${x.length} points in [−10, 10)`);
    recordKernelError('erf', 'forward', 'dense [-10, 10) step 2^-14', result, gpu.adapter.name);
    expect(result.mismatches, result.report).toBe(0);
    gx.destroy();
    gy.destroy();
  });

  const cases: [string, Float32Array, number?][] = [
    ['grid values N·I = 1', gridValues(1, 1, 2)],
    ['grid values N·I = 1000 in [−4, 4]', gridValues(1000, 2, 2)],
    ['grid values N·I = 1000 in windows of 256 (binding limit 1 KiB)', gridValues(1000, 4, 2), 1024],
    ['dense [−12, 12) step 2⁻¹⁴', denseRange(12)],
  ];
  for (const [name, x, maxBindingBytes] of cases) {
    const dy = gridValues(x.length, 3);
    it(`gelu forward ${name} matches_reference`, async () => {
      const gx = uploadBuffer(gpu, 'gelu x', x);
      const gy = createBuffer(gpu, 'gelu y', x.length * 4);
      const rec = new Recorder(gpu, 'gelu forward test');
      geluForward(rec, { x: gx, y: gy, count: x.length, maxBindingBytes });
      await rec.done();
      await checkAgainstReference(gpu, gy, geluForwardRef(x), TOLERANCES.gelu, 'gelu', 'forward', name);
      gx.destroy();
      gy.destroy();
    });
    it(`gelu backward ${name} matches_reference`, async () => {
      const gdy = uploadBuffer(gpu, 'gelu dy', dy);
      const gx = uploadBuffer(gpu, 'gelu x', x);
      const gdx = createBuffer(gpu, 'gelu dx', x.length * 4);
      const rec = new Recorder(gpu, 'gelu backward test');
      geluBackward(rec, { dy: gdy, x: gx, dx: gdx, count: x.length, maxBindingBytes });
      await rec.done();
      await checkAgainstReference(gpu, gdx, geluBackwardRef(dy, x), TOLERANCES.gelu, 'gelu', 'backward', name);
      for (const b of [gdy, gx, gdx]) b.destroy();
    });
  }
});
