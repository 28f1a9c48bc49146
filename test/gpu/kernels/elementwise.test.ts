import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { addForward, axpy, copy, fill, scale } from '../../../src/engine/kernels/elementwise/elementwise';
import { elementwiseWorkgroupSize, grid1d } from '../../../src/engine/kernels/elementwise/grid';
import { addForwardRef, axpyRef } from '../../../src/engine/kernels/elementwise/elementwise.ref';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference } from './util';

const counts = [1, 37, 4099];

describe('element-wise ops match the float64 reference', async () => {
  const gpu = await testGpu();
  for (const count of counts) {
    const a = gridValues(count, count);
    const b = gridValues(count, count + 1);

    it(`add forward count=${count} (residual add, alpha 1, beta -0.5) matches_reference`, async () => {
      const ga = uploadBuffer(gpu, 'add a', a);
      const gb = uploadBuffer(gpu, 'add b', b);
      const gout = createBuffer(gpu, 'add out', count * 4);
      const rec = new Recorder(gpu, 'add test');
      addForward(rec, { a: ga, b: gb, out: gout, count, beta: -0.5 });
      await rec.done();
      await checkAgainstReference(gpu, gout, addForwardRef(a, b, count, 1, -0.5), TOLERANCES.elementwise, 'add', 'forward', `count=${count}`);
    });

    it(`axpy backward count=${count} (dx_residual += dx_branch) matches_reference`, async () => {
      const gx = uploadBuffer(gpu, 'axpy x', a);
      const gy = uploadBuffer(gpu, 'axpy y', b);
      const rec = new Recorder(gpu, 'axpy test');
      axpy(rec, { x: gx, y: gy, count, alpha: 2 });
      await rec.done();
      await checkAgainstReference(gpu, gy, axpyRef(a, b, count, 2, 1), TOLERANCES.elementwise, 'axpy', 'backward', `count=${count}`);
    });
  }

  it('add and axpy with element offsets touch only their range', async () => {
    const a = gridValues(20, 1);
    const b = gridValues(20, 2);
    const ga = uploadBuffer(gpu, 'a', a);
    const gb = uploadBuffer(gpu, 'b', b);
    const gout = uploadBuffer(gpu, 'out', new Float32Array(20).fill(7));
    const rec = new Recorder(gpu, 'offsets');
    addForward(rec, { a: ga, b: gb, out: gout, count: 5, offsetA: 2, offsetB: 10, offsetOut: 13 });
    axpy(rec, { x: ga, y: gb, count: 3, offsetX: 0, offsetY: 17, alpha: -1 });
    await rec.done();
    const out = await readF32(gpu, gout);
    const want = new Float64Array(20).fill(7);
    for (let i = 0; i < 5; i++) want[13 + i] = a[2 + i] + b[10 + i];
    await checkAgainstReference(gpu, gout, want, TOLERANCES.elementwise, 'add', 'forward', 'offsets');
    const gotB = await readF32(gpu, gb);
    const wantB = Float64Array.from(b);
    for (let i = 0; i < 3; i++) wantB[17 + i] = b[17 + i] - a[i];
    await checkAgainstReference(gpu, gb, wantB, TOLERANCES.elementwise, 'axpy', 'backward', 'offsets');
    expect(out.length).toBe(20);
    expect(gotB.length).toBe(20);
  });

  it('scale, fill (overwrites NaN) and copy match_reference', async () => {
    const x = gridValues(101, 3);
    x[50] = Number.NaN;
    const gx = uploadBuffer(gpu, 'x', x);
    const gy = uploadBuffer(gpu, 'y', new Float32Array(101).fill(Number.NaN));
    const gz = createBuffer(gpu, 'z', 101 * 4);
    const rec = new Recorder(gpu, 'scale fill copy');
    fill(rec, { x: gy, count: 101, value: 0.25 });
    copy(rec, { src: gx, dst: gz, count: 40, srcOffset: 60, dstOffset: 0 });
    scale(rec, { x: gx, count: 50, scale: -3 });
    await rec.done();
    await checkAgainstReference(gpu, gy, new Float64Array(101).fill(0.25), TOLERANCES.elementwise, 'fill', 'forward', 'count=101 over NaN');
    const wantX = Float64Array.from(x, (v, i) => (i < 50 ? -3 * v : v));
    await checkAgainstReference(gpu, gx, wantX, TOLERANCES.elementwise, 'scale', 'forward', 'count=50 of 101');
    const z = await readF32(gpu, gz, 40);
    expect(Array.from(z)).toEqual(Array.from(x.subarray(60, 100)));
  });

  it('grid1d folds large launches into 2-D within maxComputeWorkgroupsPerDimension', () => {
    const max = gpu.limits.maxComputeWorkgroupsPerDimension;
    const [x, y] = grid1d(gpu, (max + 5) * 256, 256, 'big');
    expect(x).toBeLessThanOrEqual(max);
    expect(y).toBe(2);
    expect(x * y * 256).toBeGreaterThanOrEqual((max + 5) * 256);
  });

  it('a launch past 65535 workgroups (folded grid) writes every element', async () => {
    const wg = elementwiseWorkgroupSize(gpu);
    const count = (gpu.limits.maxComputeWorkgroupsPerDimension + 3) * wg + 5;
    expect(grid1d(gpu, count, wg, 'big fill')[1]).toBe(2);
    const gx = uploadBuffer(gpu, 'big x', new Float32Array(count));
    const rec = new Recorder(gpu, 'big fill');
    fill(rec, { x: gx, count, value: 1.5 });
    await rec.done();
    const got = await readF32(gpu, gx);
    let wrong = 0;
    for (let i = 0; i < count; i++) if (got[i] !== 1.5) wrong++;
    expect(wrong).toBe(0);
  });
});
