import { describe, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { swigluBackward, swigluForward } from '../../../src/engine/kernels/swiglu/swiglu';
import { swigluBackwardRef, swigluForwardRef } from '../../../src/engine/kernels/swiglu/swiglu.ref';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference } from './util';

const shapes: [string, number, number][] = [
  ['N=1 I=1', 1, 1],
  ['N=3 I=37 odd', 3, 37],
  ['N=5 I=1536 (SmolLM2 intermediate)', 5, 1536],
];

describe('swiglu matches the float64 reference', async () => {
  const gpu = await testGpu();
  for (const [shape, N, I] of shapes) {
    const count = N * I;
    // Scale 4 spreads gate over [−8, 8], through both tails of the sigmoid.
    const gate = gridValues(count, N + I, 4);
    const up = gridValues(count, 2 * N + I);
    const dh = gridValues(count, 3 * N + I);

    it(`swiglu forward ${shape} matches_reference`, async () => {
      const gg = uploadBuffer(gpu, 'swiglu gate', gate);
      const gu = uploadBuffer(gpu, 'swiglu up', up);
      const gh = createBuffer(gpu, 'swiglu h', count * 4);
      const rec = new Recorder(gpu, 'swiglu forward test');
      swigluForward(rec, { gate: gg, up: gu, h: gh, count });
      await rec.done();
      await checkAgainstReference(gpu, gh, swigluForwardRef(gate, up, count), TOLERANCES.swiglu, 'swiglu', 'forward', shape);
      for (const b of [gg, gu, gh]) b.destroy();
    });

    it(`swiglu backward ${shape} matches_reference`, async () => {
      const gdh = uploadBuffer(gpu, 'swiglu dh', dh);
      const gg = uploadBuffer(gpu, 'swiglu gate', gate);
      const gu = uploadBuffer(gpu, 'swiglu up', up);
      const gdg = createBuffer(gpu, 'swiglu dgate', count * 4);
      const gdu = createBuffer(gpu, 'swiglu dup', count * 4);
      const rec = new Recorder(gpu, 'swiglu backward test');
      swigluBackward(rec, { dh: gdh, gate: gg, up: gu, dgate: gdg, dup: gdu, count });
      await rec.done();
      const want = swigluBackwardRef(dh, gate, up, count);
      await checkAgainstReference(gpu, gdg, want.dgate, TOLERANCES.swiglu, 'swiglu', 'backward', `${shape} (dgate)`);
      await checkAgainstReference(gpu, gdu, want.dup, TOLERANCES.swiglu, 'swiglu', 'backward', `${shape} (dup)`);
      for (const b of [gdh, gg, gu, gdg, gdu]) b.destroy();
    });
  }
});
