import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { embeddingForward, uploadSplitWeight } from '../../../src/engine/kernels/embedding/embedding';
import { embeddingForwardRef } from '../../../src/engine/kernels/embedding/embedding.ref';
import { gridValues, rng } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { checkAgainstReference, toF16Bits, weightPrecisions } from './util';
import { quantBindings } from '../../../src/engine/kernels/quant/quant';
import { dequantizeRef } from '../../../src/engine/kernels/quant/quant.ref';
import { uploadQuantizedRef } from '../../helpers/quant';

interface Case {
  name: string;
  V: number;
  C: number;
  N: number;
  /** Forces the table split: at most this many rows per binding. */
  rowsPerBinding?: number;
  signedIds?: boolean;
}

const cases: Case[] = [
  { name: 'N=1 V=1 C=1', V: 1, C: 1, N: 1 },
  { name: 'N=13 V=37 C=5 odd', V: 37, C: 5, N: 13 },
  { name: 'N=9 V=300 C=576', V: 300, C: 576, N: 9 },
  { name: 'split into 6 parts of 7 rows, N=40 V=37 C=5', V: 37, C: 5, N: 40, rowsPerBinding: 7 },
  { name: 'split into 2 parts, N=17 V=64 C=33', V: 64, C: 33, N: 17, rowsPerBinding: 40 },
  { name: 'i32 ids with -1 and ≥ V give zero rows, split', V: 20, C: 3, N: 8, rowsPerBinding: 6, signedIds: true },
];

describe('embedding matches the float64 reference', async () => {
  const gpu = await testGpu();
  for (const f16 of weightPrecisions(gpu)) {
    for (const c of cases) {
      const shape = `${c.name}${f16 ? ' f16 table' : ''}`;
      it(`embedding forward ${shape} matches_reference`, async () => {
        const W = gridValues(c.V * c.C, c.V + c.C);
        const r = rng(c.N);
        const ids = Int32Array.from({ length: c.N }, (_, n) => (n === 0 ? c.V - 1 : n === 1 ? 0 : Math.floor(r() * c.V)));
        if (c.signedIds) {
          ids[2] = -1;
          ids[3] = c.V;
        }
        const maxBindingBytes = c.rowsPerBinding ? c.rowsPerBinding * c.C * (f16 ? 2 : 4) : undefined;
        const parts = uploadSplitWeight(gpu, 'embedding W', f16 ? toF16Bits(W) : W, c.V, c.C, { f16, maxBindingBytes });
        if (c.rowsPerBinding) {
          // f16 parts keep a byte length that is a multiple of 4: odd C loses one row per part.
          const rowsPerPart = f16 && (c.rowsPerBinding * c.C * 2) % 4 !== 0 ? c.rowsPerBinding - 1 : c.rowsPerBinding;
          expect(parts.length).toBe(Math.ceil(c.V / rowsPerPart));
        }
        const gids = uploadBuffer(gpu, 'embedding ids', c.signedIds ? ids : Uint32Array.from(ids));
        // Stale NaNs in the output must all be overwritten.
        const gx = uploadBuffer(gpu, 'embedding x', new Float32Array(c.N * c.C).fill(Number.NaN));
        const rec = new Recorder(gpu, 'embedding test');
        embeddingForward(rec, { ids: gids, w: parts, wF16: f16, V: c.V, C: c.C, out: gx, N: c.N });
        await rec.done();
        await checkAgainstReference(gpu, gx, embeddingForwardRef(ids, W, c.V, c.C), TOLERANCES.embedding, 'embedding', 'forward', shape);
        for (const part of parts) (part.w as GPUBuffer).destroy();
        gids.destroy();
        gx.destroy();
      });
    }
  }

  it('embedding forward of one large buffer cut into aligned windows (weightParts) matches_reference', async () => {
    // V·C beyond the (forced) binding limit in a single buffer: split at 256-byte aligned offsets.
    const [V, C, N] = [300, 16, 25];
    const W = gridValues(V * C, 77);
    const ids = Uint32Array.from({ length: N }, (_, n) => (n * 37) % V);
    const gw = uploadBuffer(gpu, 'embedding W (one buffer)', W);
    const gids = uploadBuffer(gpu, 'ids', ids);
    const gx = createBuffer(gpu, 'x', N * C * 4);
    const rec = new Recorder(gpu, 'embedding windows');
    embeddingForward(rec, { ids: gids, w: gw, V, C, N, out: gx, maxBindingBytes: 4096 });
    await rec.done();
    expect(rec.dispatches).toBeGreaterThan(4);
    await checkAgainstReference(gpu, gx, embeddingForwardRef(ids, W, V, C), TOLERANCES.embedding, 'embedding', 'forward', 'one buffer in 4 KiB windows');
  });

  // The gather from a q8 / nf4 table (e.g. the quantized tied embedding): the rows of the
  // dequantized table exactly (f32(code)·scale is one correctly rounded multiply).
  const quantCases: [string, { format: 'q8' | 'nf4'; scaleF16?: boolean; V: number; C: number; N: number; maxBindingBytes?: number; splitAt?: number[] }][] = [
    ['q8, C 576', { format: 'q8', V: 300, C: 576, N: 9 }],
    ['q8 f16 scales, odd C, two parts', { format: 'q8', scaleF16: true, V: 37, C: 13, N: 40, splitAt: [20] }],
    ['nf4, C 200 (partial block), binding windows', { format: 'nf4', V: 100, C: 200, N: 33, maxBindingBytes: 2048 }],
    ['nf4, C 5', { format: 'nf4', V: 20, C: 5, N: 8 }],
  ];
  for (const [name, c] of quantCases) {
    it(`embedding forward from a quantized table, ${name}, matches_reference`, async () => {
      const W = gridValues(c.V * c.C, c.V + c.C, 0.5);
      const ids = Int32Array.from({ length: c.N }, (_, n) => (n === 0 ? c.V - 1 : n === 1 ? 0 : n === 2 ? -1 : n === 3 ? c.V : (n * 37) % c.V));
      const q = uploadQuantizedRef(gpu, 'embedding quant W', c.format, W, c.V, c.C, { scaleF16: c.scaleF16, splitAt: c.splitAt });
      if (c.maxBindingBytes) expect(quantBindings(gpu, q.weight, 'W', c.maxBindingBytes).length).toBeGreaterThan(2);
      const gids = uploadBuffer(gpu, 'embedding quant ids', ids);
      const gx = uploadBuffer(gpu, 'embedding quant x', new Float32Array(c.N * c.C).fill(Number.NaN));
      const rec = new Recorder(gpu, 'embedding quant test');
      embeddingForward(rec, { ids: gids, w: q.weight, V: c.V, C: c.C, out: gx, N: c.N, maxBindingBytes: c.maxBindingBytes });
      await rec.done();
      const table = dequantizeRef(q.ref).map(Math.fround);
      await checkAgainstReference(gpu, gx, embeddingForwardRef(ids, table, c.V, c.C), TOLERANCES.embedding, 'embedding quantized', 'forward', `${name} V${c.V} C${c.C} N${c.N}`);
      for (const b of [...q.buffers, gids, gx]) b.destroy();
    });
  }
});
