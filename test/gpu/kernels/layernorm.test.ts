import { describe, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { layernormBackward, layernormForward, layernormParamGrads } from '../../../src/engine/kernels/layernorm/layernorm';
import { layernormBackwardRef, layernormForwardRef, layernormParamGradsRef } from '../../../src/engine/kernels/layernorm/layernorm.ref';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference, toF16Bits, weightPrecisions } from './util';

const shapes: [string, number, number, number, number, number?][] = [
  // name, rows, C, eps, offset added to x (a large mean checks the two-pass variance), binding limit
  ['N=1 C=1', 1, 1, 1e-12, 0],
  ['odd rows=5 C=37', 5, 37, 1e-12, 0],
  ['rows=6 C=768 (BERT hidden)', 6, 768, 1e-12, 0],
  ['rows=3 C=96 mean 100 eps 1e-5 (roberta eps)', 3, 96, 1e-5, 100],
  ['rows=70 C=64', 70, 64, 1e-12, 0],
  ['rows=70 C=64 in row windows of 64 (binding limit 16 KiB)', 70, 64, 1e-12, 0, 16384],
];

describe('layernorm matches the float64 reference', async () => {
  const gpu = await testGpu();
  for (const f16 of weightPrecisions(gpu)) {
    for (const [name, rows, C, eps, shift, maxBindingBytes] of shapes) {
      const shape = `${name}${f16 ? ' f16 weight' : ''}`;
      const s = { rows, C, eps };
      const limits = { maxBindingBytes };
      const x = gridValues(rows * C, rows + C).map((v) => v + shift);
      const w = gridValues(C, 3 * C + 1, 0.5);
      const b = gridValues(C, 5 * C + 2, 0.25);
      const dy = gridValues(rows * C, 7 * rows + C);
      const dx0 = gridValues(rows * C, 11 * C);
      const ref = layernormForwardRef(x, w, b, s);
      const upW = (label: string, v: Float32Array) => uploadBuffer(gpu, label, f16 ? toF16Bits(v) : v);

      it(`layernorm forward ${shape} matches_reference`, async () => {
        const gx = uploadBuffer(gpu, 'layernorm x', x);
        const gw = upW('layernorm weight', w);
        const gb = upW('layernorm bias', b);
        const gout = createBuffer(gpu, 'layernorm out', rows * C * 4);
        const gmean = createBuffer(gpu, 'layernorm mean', rows * 4);
        const grstd = createBuffer(gpu, 'layernorm rstd', rows * 4);
        const rec = new Recorder(gpu, 'layernorm forward test');
        layernormForward(rec, { x: gx, weight: gw, bias: gb, out: gout, mean: gmean, rstd: grstd, ...s, ...limits, weightF16: f16 });
        await rec.done();
        await checkAgainstReference(gpu, gout, ref.out, TOLERANCES.layernorm, 'layernorm', 'forward', shape);
        await checkAgainstReference(gpu, gmean, ref.mean, TOLERANCES.layernorm, 'layernorm', 'forward', `${shape} (mean)`);
        await checkAgainstReference(gpu, grstd, ref.rstd, TOLERANCES.layernorm, 'layernorm', 'forward', `${shape} (rstd)`);
        for (const buf of [gx, gw, gb, gout, gmean, grstd]) buf.destroy();
      });

      for (const accumulate of [false, true]) {
        it(`layernorm backward ${shape}${accumulate ? ' accumulating into dx' : ''} matches_reference`, async () => {
          const mean = Float32Array.from(ref.mean);
          const rstd = Float32Array.from(ref.rstd);
          const gdy = uploadBuffer(gpu, 'layernorm dy', dy);
          const gx = uploadBuffer(gpu, 'layernorm x', x);
          const gw = upW('layernorm weight', w);
          const gmean = uploadBuffer(gpu, 'layernorm mean', mean);
          const grstd = uploadBuffer(gpu, 'layernorm rstd', rstd);
          const gdx = uploadBuffer(gpu, 'layernorm dx', dx0);
          const rec = new Recorder(gpu, 'layernorm backward test');
          layernormBackward(rec, { dy: gdy, x: gx, weight: gw, mean: gmean, rstd: grstd, dx: gdx, ...s, ...limits, weightF16: f16, accumulate });
          await rec.done();
          const want = layernormBackwardRef(dy, x, w, mean, rstd, s, accumulate ? dx0 : undefined);
          await checkAgainstReference(gpu, gdx, want, TOLERANCES.layernorm, 'layernorm', 'backward', `${shape}${accumulate ? ' accumulate' : ''}`);
          for (const buf of [gdy, gx, gw, gmean, grstd, gdx]) buf.destroy();
        });
      }
    }
  }

  for (const [name, rows, C, offsets] of [['rows=5 C=37', 5, 37, false], ['rows=33 C=130 at offsets of flat gradient buffers', 33, 130, true]] as const) {
    it(`layernorm param grads ${name} (accumulated) matches_reference`, async () => {
      const s = { rows, C, eps: 1e-12 };
      const x = gridValues(rows * C, 21);
      const dy = gridValues(rows * C, 22);
      const ref = layernormForwardRef(x, new Float32Array(C).fill(1), new Float32Array(C), s);
      const mean = Float32Array.from(ref.mean);
      const rstd = Float32Array.from(ref.rstd);
      const offW = offsets ? 3 : 0;
      const offB = offsets ? 200 : 0;
      const flat = gridValues(400, 23);
      const grads = layernormParamGradsRef(dy, x, mean, rstd, s);
      const want = Float64Array.from(flat);
      for (let c = 0; c < C; c++) {
        want[offW + c] += grads.dweight[c];
        want[offB + c] += grads.dbias[c];
      }
      const gdy = uploadBuffer(gpu, 'layernorm dy', dy);
      const gx = uploadBuffer(gpu, 'layernorm x', x);
      const gmean = uploadBuffer(gpu, 'layernorm mean', mean);
      const grstd = uploadBuffer(gpu, 'layernorm rstd', rstd);
      const gw = uploadBuffer(gpu, 'layernorm dweight (flat)', flat);
      const gb = offsets ? gw : uploadBuffer(gpu, 'layernorm dbias', flat);
      if (!offsets) for (let c = 0; c < C; c++) want[c] = flat[c] + grads.dweight[c];
      const rec = new Recorder(gpu, 'layernorm param grads test');
      if (offsets) {
        // dweight and dbias in one flat buffer: two bindings of the same buffer would alias a writable
        // binding, so bind disjoint aligned windows of it instead.
        layernormParamGrads(rec, { ...s, dy: gdy, x: gx, mean: gmean, rstd: grstd, dweight: { buffer: gw, offset: 0, size: 768 }, dbias: { buffer: gw, offset: 768, size: 832 }, offsetDW: offW, offsetDB: offB - 192 });
      } else {
        layernormParamGrads(rec, { ...s, dy: gdy, x: gx, mean: gmean, rstd: grstd, dweight: gw, dbias: gb });
      }
      await rec.done();
      await checkAgainstReference(gpu, gw, offsets ? want : want.subarray(0, 400), TOLERANCES.layernormParams, 'layernorm', 'backward', `params ${name} (dweight)`);
      if (!offsets) {
        const wantB = Float64Array.from(flat);
        for (let c = 0; c < C; c++) wantB[c] += grads.dbias[c];
        await checkAgainstReference(gpu, gb, wantB, TOLERANCES.layernormParams, 'layernorm', 'backward', `params ${name} (dbias)`);
      }
      for (const buf of new Set([gdy, gx, gmean, grstd, gw, gb])) buf.destroy();
    });
  }
});
