import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readU32 } from '../../../src/engine/gpu/buffers';
import { philox4x32, philoxFill } from '../../../src/engine/kernels/philox/philox';
import { testGpu } from '../../helpers/gpu';

describe('philox in WGSL is bit-identical to philox.ts', () => {
  const cases: [string, [number, number, number, number], [number, number]][] = [
    ['zero counter and key', [0, 0, 0, 0], [0, 0]],
    ['all ones (wraps the counter)', [0xffffff00, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]],
    ['pi digits', [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]],
    ['dropout-style counter', [0, 17, 123456, 0], [0xdeadbeef, 7]],
  ];
  for (const [name, counter, key] of cases) {
    it(`philox forward ${name} matches_reference`, async () => {
      const gpu = await testGpu();
      const count = 1000;
      const out = createBuffer(gpu, 'philox out', count * 16);
      const rec = new Recorder(gpu, 'philox test');
      philoxFill(rec, out, count, counter, key);
      await rec.done();
      const got = await readU32(gpu, out, count * 4);
      const want = new Uint32Array(count * 4);
      for (let i = 0; i < count; i++) {
        want.set(philox4x32([(counter[0] + i) >>> 0, counter[1], counter[2], counter[3]], key), 4 * i);
      }
      let mismatches = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) mismatches++;
      expect(mismatches, `first words got ${Array.from(got.slice(0, 4))}, want ${Array.from(want.slice(0, 4))}`).toBe(0);
      out.destroy();
    });
  }
});
