import { describe, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { uploadBuffer } from '../../../src/engine/gpu/buffers';
import { createRopeInvFreq, ropeBackward, ropeForward } from '../../../src/engine/kernels/rope/rope';
import { ropeInvFreq, type RopeConfig } from '../../../src/formats/rope';
import { ropeBackwardRef, ropeForwardRef } from '../../../src/engine/kernels/rope/rope.ref';
import { gridValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference } from './util';

interface Case {
  name: string;
  N: number;
  heads: number;
  config: RopeConfig;
  positions: (n: number) => number;
}

const llama3: RopeConfig['scaling'] = { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

const cases: Case[] = [
  { name: 'N=1 single head HS=2', N: 1, heads: 1, config: { headSize: 2, theta: 10000 }, positions: () => 3 },
  { name: 'q N=7 NH=9 HS=64 theta 1e5 (SmolLM2)', N: 7, heads: 9, config: { headSize: 64, theta: 1e5 }, positions: (n) => n },
  { name: 'k N=5 KVH=1 HS=128 theta 1e6, packed positions', N: 5, heads: 1, config: { headSize: 128, theta: 1e6 }, positions: (n) => [0, 1, 2, 0, 1][n] },
  { name: 'q N=6 NH=14 HS=64 theta 1e6 (Qwen2.5, GQA ratio 7)', N: 6, heads: 14, config: { headSize: 64, theta: 1e6 }, positions: (n) => 2 * n + 1 },
  { name: 'k N=6 KVH=2 HS=64 theta 1e6 (Qwen2.5)', N: 6, heads: 2, config: { headSize: 64, theta: 1e6 }, positions: (n) => 2 * n + 1 },
  { name: 'llama3 scaling HS=64 positions to 4000', N: 9, heads: 2, config: { headSize: 64, theta: 5e5, scaling: llama3 }, positions: (n) => n * 499 },
  { name: 'large positions to 32k HS=64', N: 4, heads: 3, config: { headSize: 64, theta: 1e4 }, positions: (n) => 32000 + n * 257 },
];

describe('rope matches the float64 reference', async () => {
  const gpu = await testGpu();
  for (const c of cases) {
    const s = { N: c.N, heads: c.heads, headSize: c.config.headSize };
    const size = c.N * c.heads * c.config.headSize;
    const positions = Uint32Array.from({ length: c.N }, (_, n) => c.positions(n));
    const invFreq = Float32Array.from(ropeInvFreq(c.config));
    const x = gridValues(size, size + 1);

    for (const pass of ['forward', 'backward'] as const) {
      it(`rope ${pass} ${c.name} matches_reference`, async () => {
        const gx = uploadBuffer(gpu, `rope ${pass} x`, x);
        const gpos = uploadBuffer(gpu, 'rope positionIds', positions);
        const ginv = createRopeInvFreq(gpu, c.config);
        const rec = new Recorder(gpu, `rope ${pass} test`);
        const args = { x: gx, positionIds: gpos, invFreq: ginv, ...s };
        if (pass === 'forward') ropeForward(rec, args);
        else ropeBackward(rec, args);
        await rec.done();
        const want = pass === 'forward' ? ropeForwardRef(x, positions, invFreq, s) : ropeBackwardRef(x, positions, invFreq, s);
        await checkAgainstReference(gpu, gx, want, TOLERANCES.rope, 'rope', pass, c.name);
        for (const b of [gx, gpos, ginv]) b.destroy();
      });
    }
  }
});
