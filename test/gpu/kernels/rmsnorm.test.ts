import { describe, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { rmsnormBackward, rmsnormForward } from '../../../src/engine/kernels/rmsnorm/rmsnorm';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../../../src/engine/kernels/rmsnorm/rmsnorm.ref';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference, toF16Bits, weightPrecisions } from './util';

const shapes: [string, number, number][] = [
  ['N=1 C=1', 1, 1],
  ['odd rows=5 C=37', 5, 37],
  ['rows=7 C=576 (SmolLM2 hidden)', 7, 576],
  ['per-head q norm rows=3·16 C=128 (qwen3)', 48, 128],
  ['rows=2 C=1000', 2, 1000],
];

describe('rmsnorm matches the float64 reference', async () => {
  const gpu = await testGpu();
  for (const f16 of weightPrecisions(gpu)) {
    for (const [name, rows, C] of shapes) {
      const shape = `${name}${f16 ? ' f16 weight' : ''}`;
      const s = { rows, C, eps: 1e-5 };
      const x = gridValues(rows * C, rows + C);
      const w = gridValues(C, 3 * C + 1, 0.5);
      const dy = gridValues(rows * C, 7 * rows + C);
      const dx0 = gridValues(rows * C, 11 * C);
      const ref = rmsnormForwardRef(x, w, s);

      it(`rmsnorm forward ${shape} matches_reference`, async () => {
        const gx = uploadBuffer(gpu, 'rmsnorm x', x);
        const gw = uploadBuffer(gpu, 'rmsnorm w', f16 ? toF16Bits(w) : w);
        const gout = createBuffer(gpu, 'rmsnorm out', rows * C * 4);
        const grrms = createBuffer(gpu, 'rmsnorm rrms', rows * 4);
        const rec = new Recorder(gpu, 'rmsnorm forward test');
        rmsnormForward(rec, { x: gx, weight: gw, out: gout, rrms: grrms, ...s, weightF16: f16 });
        await rec.done();
        await checkAgainstReference(gpu, gout, ref.out, TOLERANCES.rmsnorm, 'rmsnorm', 'forward', shape);
        await checkAgainstReference(gpu, grrms, ref.rrms, TOLERANCES.rmsnorm, 'rmsnorm', 'forward', `${shape} (rrms)`);
        for (const b of [gx, gw, gout, grrms]) b.destroy();
      });

      for (const accumulate of [false, true]) {
        it(`rmsnorm backward ${shape}${accumulate ? ' accumulating into dx' : ''} matches_reference`, async () => {
          const gdy = uploadBuffer(gpu, 'rmsnorm dy', dy);
          const gx = uploadBuffer(gpu, 'rmsnorm x', x);
          const gw = uploadBuffer(gpu, 'rmsnorm w', f16 ? toF16Bits(w) : w);
          const grrms = uploadBuffer(gpu, 'rmsnorm rrms', Float32Array.from(ref.rrms));
          const gdx = uploadBuffer(gpu, 'rmsnorm dx', dx0);
          const rec = new Recorder(gpu, 'rmsnorm backward test');
          rmsnormBackward(rec, { dy: gdy, x: gx, weight: gw, rrms: grrms, dx: gdx, ...s, weightF16: f16, accumulate });
          await rec.done();
          const want = rmsnormBackwardRef(dy, x, w, Float32Array.from(ref.rrms), s, accumulate ? dx0 : undefined);
          await checkAgainstReference(gpu, gdx, want, TOLERANCES.rmsnorm, 'rmsnorm', 'backward', `${shape}${accumulate ? ' accumulate' : ''}`);
          for (const b of [gdy, gx, gw, grrms, gdx]) b.destroy();
        });
      }
    }
  }

  it('rmsnorm forward rows=65600 C=1 (more rows than workgroups per dimension: folded grid) matches_reference', async () => {
    // One workgroup per row: 65600 rows need the 2-D folded grid. Forward only, as it is slow on SwiftShader.
    const s = { rows: 65_600, C: 1, eps: 1e-5 };
    const x = gridValues(s.rows, 5);
    const w = Float32Array.from([0.75]);
    const gx = uploadBuffer(gpu, 'rmsnorm x', x);
    const gw = uploadBuffer(gpu, 'rmsnorm w', w);
    const gout = uploadBuffer(gpu, 'rmsnorm out', new Float32Array(s.rows).fill(Number.NaN));
    const grrms = createBuffer(gpu, 'rmsnorm rrms', s.rows * 4);
    const rec = new Recorder(gpu, 'rmsnorm folded grid test');
    rmsnormForward(rec, { x: gx, weight: gw, out: gout, rrms: grrms, ...s });
    await rec.done();
    await checkAgainstReference(gpu, gout, rmsnormForwardRef(x, w, s).out, TOLERANCES.rmsnorm, 'rmsnorm', 'forward', 'rows=65600 C=1 folded grid');
    for (const b of [gx, gw, gout, grrms]) b.destroy();
  });
});
