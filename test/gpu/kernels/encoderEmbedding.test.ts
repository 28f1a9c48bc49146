import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { encoderEmbeddingForward, uploadSplitWeight } from '../../../src/engine/kernels/embedding/embedding';
import { encoderEmbeddingForwardRef } from '../../../src/engine/kernels/embedding/embedding.ref';
import { absolutePositionIds, robertaPositionIds } from '../../../src/engine/kernels/embedding/positions';
import { gridValues, rng } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference, toF16Bits, weightPrecisions } from './util';

interface Case {
  name: string;
  B: number;
  T: number;
  V: number;
  C: number;
  P: number;
  /** Token types (0 = DistilBERT, none). */
  TV: number;
  roberta?: boolean;
  rowsPerBinding?: number;
}

const cases: Case[] = [
  { name: 'BERT-like B=2 T=5 V=40 C=8, sentence pair', B: 2, T: 5, V: 40, C: 8, P: 16, TV: 2 },
  { name: 'RoBERTa-like padded, positions from padding_idx + 1, word table split in 3', B: 3, T: 6, V: 50, C: 12, P: 10, TV: 1, roberta: true, rowsPerBinding: 20 },
  { name: 'DistilBERT-like (no token types) B=1 T=9 V=30 C=768', B: 1, T: 9, V: 30, C: 768, P: 12, TV: 0 },
];

describe('encoder embeddings match the float64 reference', async () => {
  const gpu = await testGpu();
  for (const f16 of weightPrecisions(gpu)) {
    cases.forEach((c, index) => {
      const shape = `${c.name}${f16 ? ' f16 tables' : ''}`;
      it(`encoder embedding forward ${shape} matches_reference`, async () => {
        const N = c.B * c.T;
        const r = rng(index + 1);
        const pad = 1;
        const ids = Int32Array.from({ length: N }, () => 2 + Math.floor(r() * (c.V - 2)));
        if (c.roberta) for (let b = 0; b < c.B; b++) for (let t = c.T - b; t < c.T; t++) ids[b * c.T + t] = pad;
        const positionIds = c.roberta ? robertaPositionIds(ids, c.B, c.T, pad) : absolutePositionIds(c.B, c.T);
        const tokenTypeIds = c.TV > 0 ? Uint32Array.from({ length: N }, (_, n) => (c.TV > 1 && n % c.T >= 2 ? 1 : 0)) : null;
        const W = gridValues(c.V * c.C, 10 + index);
        const wPos = gridValues(c.P * c.C, 20 + index, 0.5);
        const wType = c.TV > 0 ? gridValues(c.TV * c.C, 30 + index, 0.25) : null;
        const up = (label: string, v: Float32Array) => uploadBuffer(gpu, label, f16 ? toF16Bits(v) : v);
        const maxBindingBytes = c.rowsPerBinding ? c.rowsPerBinding * c.C * (f16 ? 2 : 4) : undefined;
        const parts = uploadSplitWeight(gpu, 'encoder embedding W', f16 ? toF16Bits(W) : W, c.V, c.C, { f16, maxBindingBytes });
        if (c.rowsPerBinding) expect(parts.length).toBe(3);
        const buf = {
          ids: uploadBuffer(gpu, 'encoder embedding ids', Uint32Array.from(ids)),
          positionIds: uploadBuffer(gpu, 'encoder embedding position ids', positionIds),
          wPos: up('encoder embedding Wpos', wPos),
          tokenTypeIds: tokenTypeIds ? uploadBuffer(gpu, 'encoder embedding token type ids', tokenTypeIds) : null,
          wType: wType ? up('encoder embedding Wtype', wType) : null,
          out: createBuffer(gpu, 'encoder embedding out', N * c.C * 4),
        };
        const rec = new Recorder(gpu, 'encoder embedding test');
        encoderEmbeddingForward(rec, { ...buf, w: parts, wF16: f16, V: c.V, C: c.C, N, P: c.P, TV: c.TV });
        await rec.done();
        const want = encoderEmbeddingForwardRef({ ids, positionIds, tokenTypeIds, w: W, wPos, wType, V: c.V, P: c.P, TV: c.TV, C: c.C });
        await checkAgainstReference(gpu, buf.out, want, TOLERANCES.encoderEmbedding, 'encoder_embedding', 'forward', shape);
        for (const b of [...Object.values(buf), ...parts.map((p) => p.w as GPUBuffer)]) b?.destroy();
      });
    });
  }
});
