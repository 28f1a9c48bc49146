import { describe, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { reluBackward, reluForward, tanhBackward, tanhForward } from '../../../src/engine/kernels/activation/activation';
import { activationBackwardRef, activationForwardRef } from '../../../src/engine/kernels/activation/activation.ref';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference } from './util';

const dense = Float32Array.from({ length: 40 * 1024 }, (_, i) => -20 + i / 1024);
const extremes = Float32Array.from([0, -0, 1e-30, -1e-30, 25, -25, 88, -88, 100, -100, 1e30, -1e30, 3.4e38, -3.4e38]);
const cases: [string, Float32Array][] = [
  ['grid values count 1', gridValues(1, 1)],
  ['grid values count 777', gridValues(777, 2, 2)],
  ['dense [−20, 20) step 2⁻¹⁰', dense],
  ['extremes up to ±3.4e38 (finite outputs)', extremes],
];

describe('tanh and relu match the float64 reference', async () => {
  const gpu = await testGpu();
  const launchers = {
    tanh: [tanhForward, tanhBackward],
    relu: [reluForward, reluBackward],
  } as const;
  for (const act of ['tanh', 'relu'] as const) {
    const [forward, backward] = launchers[act];
    for (const [name, x] of cases) {
      const dy = gridValues(x.length, 9);
      const y = activationForwardRef(act, x);
      it(`${act} forward ${name} matches_reference`, async () => {
        const gx = uploadBuffer(gpu, `${act} x`, x);
        const gy = createBuffer(gpu, `${act} y`, x.length * 4);
        const rec = new Recorder(gpu, `${act} forward test`);
        forward(rec, { x: gx, y: gy, count: x.length });
        await rec.done();
        await checkAgainstReference(gpu, gy, y, TOLERANCES.activation, act, 'forward', name);
        gx.destroy();
        gy.destroy();
      });
      it(`${act} backward ${name} matches_reference`, async () => {
        const yf = Float32Array.from(y);
        const gdy = uploadBuffer(gpu, `${act} dy`, dy);
        const gy = uploadBuffer(gpu, `${act} y`, yf);
        const gdx = createBuffer(gpu, `${act} dx`, x.length * 4);
        const rec = new Recorder(gpu, `${act} backward test`);
        backward(rec, { dy: gdy, y: gy, dx: gdx, count: x.length });
        await rec.done();
        await checkAgainstReference(gpu, gdx, activationBackwardRef(act, dy, yf), TOLERANCES.activation, act, 'backward', name);
        for (const b of [gdy, gy, gdx]) b.destroy();
      });
    }
  }
});
