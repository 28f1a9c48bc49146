import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { uploadBuffer } from '../../../src/engine/gpu/buffers';
import { findNonFinite, finiteResults, readFiniteResults } from '../../../src/engine/kernels/finite/finite';
import { firstNonFiniteRef } from '../../../src/engine/kernels/finite/finite.ref';
import { f32ToF16 } from '../../../src/formats/dtype';
import { uniformValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';

describe('finite scan matches the reference', () => {
  const cases: { name: string; count: number; bad: [number, number][]; f16: boolean; maxBindingBytes?: number }[] = [
    { name: 'f32 all finite', count: 1000, bad: [], f16: false },
    { name: 'f32 NaN and Inf', count: 5000, bad: [[4321, NaN], [77, Infinity], [4999, -Infinity]], f16: false },
    { name: 'f16 odd count, Inf in the high half', count: 999, bad: [[501, Infinity]], f16: true },
    { name: 'f16 overflow of a finite f32 (7e4)', count: 64, bad: [[10, 7e4]], f16: true },
    { name: 'f32 chunked over 3 bindings', count: 3000, bad: [[2500, NaN]], f16: false, maxBindingBytes: 256 * 5 },
    { name: 'f16 chunked', count: 3001, bad: [[3000, NaN], [1800, Infinity]], f16: true, maxBindingBytes: 256 * 3 },
  ];
  it('finite scan of every case matches_reference, one readback for all', async () => {
    const gpu = await testGpu();
    const result = finiteResults(gpu, cases.length);
    const rec = new Recorder(gpu, 'finite scans');
    const want: number[] = [];
    const made: GPUBuffer[] = [];
    cases.forEach((c, slot) => {
      const values = uniformValues(c.count, 100 + slot, -2, 2);
      for (const [i, v] of c.bad) values[i] = v;
      const bits = c.f16 ? f32ToF16(values) : null;
      want.push(firstNonFiniteRef(bits ?? values, c.f16));
      const data = uploadBuffer(gpu, c.name, bits ?? values);
      made.push(data);
      findNonFinite(rec, { data, count: c.count, f16: c.f16, result, slot, maxBindingBytes: c.maxBindingBytes, label: c.name });
    });
    rec.submit();
    expect(await readFiniteResults(gpu, result, cases.length)).toEqual(want);
    expect(want).toEqual([-1, 77, 501, 10, 2500, 1800]);
    for (const b of made) b.destroy();
    result.destroy();
  });
});
