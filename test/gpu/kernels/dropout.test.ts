import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { DropoutArgumentError, dropoutBackward, dropoutForward } from '../../../src/engine/kernels/dropout/dropout';
import { dropoutBackwardRef, dropoutForwardRef } from '../../../src/engine/kernels/dropout/dropout.ref';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference } from './util';

const cases: [string, { N: number; C: number; p: number; maxBindingBytes?: number }][] = [
  ['N=1 C=1 p=0.5', { N: 1, C: 1, p: 0.5 }],
  ['N=7 C=37 p=0.1 (C not a multiple of 4)', { N: 7, C: 37, p: 0.1 }],
  ['N=20 C=768 p=0.1 (BERT hidden)', { N: 20, C: 768, p: 0.1 }],
  ['N=40 C=64 p=0.2, token windows of 16 rows (binding limit 4 KiB)', { N: 40, C: 64, p: 0.2, maxBindingBytes: 4096 }],
  ['N=5 C=12 p=0 (identity)', { N: 5, C: 12, p: 0 }],
];

describe('hidden dropout matches the float64 reference', async () => {
  const gpu = await testGpu();
  cases.forEach(([name, shape], index) => {
    const s = { ...shape, key: { seed: 1234 + index, site: 900 + index, step: 3 } };
    const count = s.N * s.C;
    const x = gridValues(count, 10 + index);
    const r = gridValues(count, 20 + index);
    const d0 = gridValues(count, 30 + index);

    it(`dropout forward ${name} matches_reference (out, residual, in place)`, async () => {
      const gx = uploadBuffer(gpu, 'dropout x', x);
      const gr = uploadBuffer(gpu, 'dropout residual', r);
      const gout = createBuffer(gpu, 'dropout out', count * 4);
      const gres = createBuffer(gpu, 'dropout out with residual', count * 4);
      const gin = uploadBuffer(gpu, 'dropout in place', x);
      const rec = new Recorder(gpu, 'dropout forward test');
      dropoutForward(rec, { ...s, x: gx, out: gout });
      dropoutForward(rec, { ...s, x: gx, residual: gr, out: gres });
      dropoutForward(rec, { ...s, x: gin });
      await rec.done();
      const want = dropoutForwardRef(x, s);
      await checkAgainstReference(gpu, gout, want, TOLERANCES.dropout, 'dropout', 'forward', name);
      await checkAgainstReference(gpu, gres, dropoutForwardRef(x, s, r), TOLERANCES.dropout, 'dropout', 'forward', `${name} residual`);
      await checkAgainstReference(gpu, gin, want, TOLERANCES.dropout, 'dropout', 'forward', `${name} in place`);
      for (const b of [gx, gr, gout, gres, gin]) b.destroy();
    });

    it(`dropout backward ${name} matches_reference (dx, dx +=, in place)`, async () => {
      const gdy = uploadBuffer(gpu, 'dropout dy', x);
      const gdx = createBuffer(gpu, 'dropout dx', count * 4);
      const gacc = uploadBuffer(gpu, 'dropout dx accumulated', d0);
      const gin = uploadBuffer(gpu, 'dropout dy in place', x);
      const rec = new Recorder(gpu, 'dropout backward test');
      dropoutBackward(rec, { ...s, dy: gdy, dx: gdx });
      dropoutBackward(rec, { ...s, dy: gdy, dx: gacc, accumulate: true });
      dropoutBackward(rec, { ...s, dy: gin });
      await rec.done();
      await checkAgainstReference(gpu, gdx, dropoutBackwardRef(x, s), TOLERANCES.dropout, 'dropout', 'backward', name);
      await checkAgainstReference(gpu, gacc, dropoutBackwardRef(x, s, d0), TOLERANCES.dropout, 'dropout', 'backward', `${name} accumulate`);
      await checkAgainstReference(gpu, gin, dropoutBackwardRef(x, s), TOLERANCES.dropout, 'dropout', 'backward', `${name} in place`);
      for (const b of [gdy, gdx, gacc, gin]) b.destroy();
    });
  });

  it('the forward mask and the backward mask are the same bits (a kept element is exactly x/(1−p))', async () => {
    const s = { N: 16, C: 32, p: 0.25, key: { seed: 9, site: 77, step: 12 } };
    const ones = new Float32Array(s.N * s.C).fill(1);
    const g1 = uploadBuffer(gpu, 'dropout ones forward', ones);
    const g2 = uploadBuffer(gpu, 'dropout ones backward', ones);
    const rec = new Recorder(gpu, 'dropout mask identity test');
    dropoutForward(rec, { ...s, x: g1 });
    dropoutBackward(rec, { ...s, dy: g2 });
    await rec.done();
    const a = await readF32(gpu, g1);
    const b = await readF32(gpu, g2);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a.filter((v) => v === 0).length).toBeGreaterThan(0);
    g1.destroy();
    g2.destroy();
  });

  it('dropout launchers refuse probabilities outside [0, 1) and a residual without out', async () => {
    const b = createBuffer(gpu, 'dropout argument test', 64);
    const rec = new Recorder(gpu, 'dropout argument test');
    const key = { seed: 1, site: 2, step: 3 };
    expect(() => dropoutForward(rec, { x: b, N: 2, C: 2, p: 1, key })).toThrow(DropoutArgumentError);
    expect(() => dropoutForward(rec, { x: b, residual: b, N: 2, C: 2, p: 0.1, key })).toThrow(/residual needs an out/);
    expect(rec.dispatches).toBe(0);
    await rec.done();
    b.destroy();
  });
});
