import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { DenseArgumentError, denseBackward, denseForward } from '../../../src/engine/kernels/dense/dense';
import { denseBackwardRef, denseForwardRef } from '../../../src/engine/kernels/dense/dense.ref';
import { firstTokenBackward, firstTokenForward } from '../../../src/engine/kernels/pooling/pooling';
import { firstTokenBackwardRef, firstTokenForwardRef } from '../../../src/engine/kernels/pooling/pooling.ref';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference, toF16Bits, weightPrecisions } from './util';

const shapes: [string, { N: number; IN: number; OUT: number }, boolean][] = [
  ['N=1 IN=1 OUT=1', { N: 1, IN: 1, OUT: 1 }, true],
  ['classifier N=6 IN=96 OUT=3', { N: 6, IN: 96, OUT: 3 }, true],
  ['pooler N=4 IN=128 OUT=128', { N: 4, IN: 128, OUT: 128 }, true],
  ['no bias N=9 IN=33 OUT=70', { N: 9, IN: 33, OUT: 70 }, false],
];

describe('dense layer with weight and bias gradients matches the float64 reference', async () => {
  const gpu = await testGpu();
  shapes.forEach(([name, s, hasBias], index) => {
    const { N, IN, OUT } = s;
    const x = gridValues(N * IN, 40 + index);
    const w = gridValues(OUT * IN, 50 + index, 0.25);
    const b = gridValues(OUT, 60 + index);
    const dy = gridValues(N * OUT, 70 + index);
    for (const f16 of weightPrecisions(gpu)) {
      const shape = `${name}${f16 ? ' f16 weight' : ''}${hasBias ? '' : ' (no bias)'}`;
      it(`dense forward ${shape} matches_reference`, async () => {
        // W and b at element offsets of one packed buffer, as in a flat parameter buffer.
        const offW = 8;
        const offB = offW + OUT * IN + 4;
        const packed = new Float32Array(offB + OUT + 4);
        packed.set(w, offW);
        packed.set(b, offB);
        const gp = uploadBuffer(gpu, 'dense packed W and b', f16 ? toF16Bits(packed) : packed);
        const gx = uploadBuffer(gpu, 'dense x', x);
        const gy = createBuffer(gpu, 'dense y', N * OUT * 4);
        const rec = new Recorder(gpu, 'dense forward test');
        denseForward(rec, { N, IN, OUT, x: gx, y: gy, w: gp, offsetW: offW, wF16: f16, bias: hasBias ? gp : null, offsetB: offB });
        await rec.done();
        await checkAgainstReference(gpu, gy, denseForwardRef(x, w, hasBias ? b : null, s), TOLERANCES.dense, 'dense', 'forward', shape);
        for (const buf of [gp, gx, gy]) buf.destroy();
      });
    }
    it(`dense backward ${name} (dx, dx +=, dW += and db += at offsets) matches_reference`, async () => {
      const ref = denseBackwardRef(dy, x, w, s);
      const dx0 = gridValues(N * IN, 80 + index);
      const flat0 = gridValues(OUT * IN + OUT + 16, 90 + index);
      const offDW = 4;
      const offDB = 4 + OUT * IN + 8;
      const gdy = uploadBuffer(gpu, 'dense dy', dy);
      const gx = uploadBuffer(gpu, 'dense x', x);
      const gw = uploadBuffer(gpu, 'dense W', w);
      const gb = uploadBuffer(gpu, 'dense b', b);
      const gdx = createBuffer(gpu, 'dense dx', N * IN * 4);
      const gdxAcc = uploadBuffer(gpu, 'dense dx accumulated', dx0);
      const gdW = uploadBuffer(gpu, 'dense flat dW', flat0);
      const gdb = uploadBuffer(gpu, 'dense flat db', flat0);
      const rec = new Recorder(gpu, 'dense backward test');
      const layer = { N, IN, OUT, w: gw, bias: hasBias ? gb : null };
      denseBackward(rec, { ...layer, dy: gdy, x: gx, dx: gdx, grads: { dW: gdW, offsetDW: offDW, db: gdb, offsetDB: offDB } });
      denseBackward(rec, { ...layer, dy: gdy, dx: gdxAcc, accumulateDx: true });
      await rec.done();
      const wantDW = Float64Array.from(flat0);
      ref.dW.forEach((v, i) => (wantDW[offDW + i] += v));
      const wantDB = Float64Array.from(flat0);
      if (hasBias) ref.db.forEach((v, i) => (wantDB[offDB + i] += v));
      await checkAgainstReference(gpu, gdx, ref.dx, TOLERANCES.dense, 'dense', 'backward', `${name} dx`);
      await checkAgainstReference(gpu, gdxAcc, ref.dx.map((v, i) => v + dx0[i]), TOLERANCES.dense, 'dense', 'backward', `${name} dx accumulate`);
      await checkAgainstReference(gpu, gdW, wantDW, TOLERANCES.dense, 'dense', 'backward', `${name} dW`);
      await checkAgainstReference(gpu, gdb, wantDB, TOLERANCES.dense, 'dense', 'backward', `${name} db`);
      for (const buf of [gdy, gx, gw, gb, gdx, gdxAcc, gdW, gdb]) buf.destroy();
    });
  });

  it('dense bias gradient over many rows (N=1000, OUT=130: several workgroups of columns) matches_reference', async () => {
    const s = { N: 1000, IN: 1, OUT: 130 };
    const dy = gridValues(s.N * s.OUT, 5);
    const ref = denseBackwardRef(dy, new Float32Array(s.N), new Float32Array(s.OUT), s);
    const gdy = uploadBuffer(gpu, 'dense dy', dy);
    const gz = uploadBuffer(gpu, 'dense zeros', new Float32Array(s.N + s.OUT));
    const gdW = uploadBuffer(gpu, 'dense dW', new Float32Array(s.OUT));
    const gdb = uploadBuffer(gpu, 'dense db', new Float32Array(s.OUT));
    const rec = new Recorder(gpu, 'dense bias grad test');
    denseBackward(rec, { ...s, w: gz, bias: gz, dy: gdy, x: gz, grads: { dW: gdW, db: gdb } });
    await rec.done();
    await checkAgainstReference(gpu, gdb, ref.db, TOLERANCES.dense, 'dense', 'backward', 'db N=1000 OUT=130');
    for (const buf of [gdy, gz, gdW, gdb]) buf.destroy();
  });

  it('dense launchers refuse a trained f16 weight and a bias without db', async () => {
    const b = createBuffer(gpu, 'dense argument test', 256);
    const rec = new Recorder(gpu, 'dense argument test');
    const layer = { N: 2, IN: 2, OUT: 2, w: b, dy: b, x: b };
    expect(() => denseBackward(rec, { ...layer, bias: b, grads: { dW: b } })).toThrow(DenseArgumentError);
    expect(() => denseBackward(rec, { ...layer, N: 0 })).toThrow(/N must be a positive integer/);
    await rec.done();
    b.destroy();
  });
});

describe('first-token pooling matches the float64 reference', async () => {
  const gpu = await testGpu();
  for (const [name, s] of [['B=1 T=1 C=1', { B: 1, T: 1, C: 1 }], ['B=5 T=7 C=96', { B: 5, T: 7, C: 96 }]] as const) {
    const x = gridValues(s.B * s.T * s.C, 3);
    const dout = gridValues(s.B * s.C, 4);
    const dx0 = gridValues(s.B * s.T * s.C, 5);
    it(`first token forward ${name} matches_reference`, async () => {
      const gx = uploadBuffer(gpu, 'pool x', x);
      const gout = createBuffer(gpu, 'pool out', s.B * s.C * 4);
      const rec = new Recorder(gpu, 'first token forward test');
      firstTokenForward(rec, { ...s, x: gx, out: gout });
      await rec.done();
      await checkAgainstReference(gpu, gout, firstTokenForwardRef(x, s), TOLERANCES.pooling, 'first_token', 'forward', name);
      gx.destroy();
      gout.destroy();
    });
    it(`first token backward ${name} (= and +=) matches_reference`, async () => {
      const gd = uploadBuffer(gpu, 'pool dout', dout);
      const gdx = uploadBuffer(gpu, 'pool dx (garbage before)', dx0);
      const gacc = uploadBuffer(gpu, 'pool dx accumulated', dx0);
      const rec = new Recorder(gpu, 'first token backward test');
      firstTokenBackward(rec, { ...s, dout: gd, dx: gdx });
      firstTokenBackward(rec, { ...s, dout: gd, dx: gacc, accumulate: true });
      await rec.done();
      await checkAgainstReference(gpu, gdx, firstTokenBackwardRef(dout, s), TOLERANCES.pooling, 'first_token', 'backward', name);
      await checkAgainstReference(gpu, gacc, firstTokenBackwardRef(dout, s, dx0), TOLERANCES.pooling, 'first_token', 'backward', `${name} accumulate`);
      for (const buf of [gd, gdx, gacc]) buf.destroy();
    });
  }
});
