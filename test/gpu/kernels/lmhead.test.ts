import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, readU32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { lmheadChunkRows, lmheadLogits, lmheadLoss } from '../../../src/engine/kernels/lmhead/lmhead';
import { lmheadLogitsRef, lmheadLossRef } from '../../../src/engine/kernels/lmhead/lmhead.ref';
import { weightParts, type WeightPart } from '../../../src/engine/kernels/lora/weightParts';
import { chooseMatmulVec4Tile } from '../../../src/engine/kernels/matmul/matmul';
import { LMHEAD_ROW_TILE, LMHEAD_SMALL_ROW_TILE } from '../../../src/engine/kernels/lmhead/chunks';
import { embeddingForward, uploadSplitWeight } from '../../../src/engine/kernels/embedding/embedding';
import { embeddingForwardRef } from '../../../src/engine/kernels/embedding/embedding.ref';
import { quantBindings } from '../../../src/engine/kernels/quant/quant';
import { dequantizeRef } from '../../../src/engine/kernels/quant/quant.ref';
import { uploadQuantizedRef } from '../../helpers/quant';
import { expectClose } from '../../helpers/compare';
import { recordKernelError } from '../../helpers/kernelErrors';
import { gridValues, rng, uniformValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';

/** f32 → f16 bits, exact for the grid values the f16 test uses. */
function toF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  values.forEach((v, i) => {
    f[0] = v;
    const bits = u[0];
    const sign = (bits >>> 16) & 0x8000;
    const exp = ((bits >>> 23) & 0xff) - 127 + 15;
    out[i] = v === 0 ? sign : sign | (exp << 10) | ((bits >>> 13) & 0x3ff);
  });
  return out;
}

interface Case {
  N: number;
  C: number;
  V: number;
  /** Fraction of labels set to -100 (1 = every row ignored). */
  ignored: number;
  chunkRows: number;
  gradScale?: number;
  /** Force W into parts of at most this many bytes. */
  maxBindingBytes?: number;
  /** Pass W as separate buffers split at these vocabulary rows. */
  splitAt?: number[];
  accumulate?: boolean;
}

const cases: [string, Case][] = [
  ['small, V not a multiple of any tile, 3 chunks', { N: 7, C: 16, V: 37, ignored: 0.3, chunkRows: 3 }],
  ['V 5003 small C, one chunk', { N: 10, C: 8, V: 5003, ignored: 0.2, chunkRows: 10, gradScale: 0.125 }],
  ['V 5003, W split by the binding limit, 4 chunks', { N: 9, C: 12, V: 5003, ignored: 0.1, chunkRows: 3, maxBindingBytes: 64 * 1024 }],
  ['W given as three buffers, loss and dh accumulated', { N: 6, C: 20, V: 301, ignored: 0.2, chunkRows: 4, splitAt: [100, 250], accumulate: true }],
  ['h and dh beyond the binding limit: bound chunk by chunk', { N: 40, C: 16, V: 61, ignored: 0.2, chunkRows: 4, maxBindingBytes: 1024 }],
  ['all rows ignored', { N: 5, C: 8, V: 50, ignored: 1, chunkRows: 2 }],
];

async function run(c: Case, seed: number) {
  const gpu = await testGpu();
  const { N, C, V } = c;
  const r = rng(seed);
  const h = uniformValues(N * C, seed, -2, 2);
  const w = uniformValues(V * C, seed + 1, -1, 1);
  const labels = new Int32Array(N).map(() => (r() < c.ignored ? -100 : Math.floor(r() * V)));
  if (c.ignored < 1 && labels.every((l) => l === -100)) labels[0] = V - 1;
  const gradScale = c.gradScale ?? 1 / Math.max(1, labels.filter((l) => l >= 0).length);
  const ref = lmheadLossRef({ N, C, V, h, w, labels, gradScale });
  const made: GPUBuffer[] = [];
  const up = (label: string, data: Float32Array | Int32Array | Uint32Array) => {
    const b = uploadBuffer(gpu, `lmhead test ${label}`, data);
    made.push(b);
    return b;
  };
  let wArg: GPUBuffer | WeightPart[];
  if (c.splitAt) {
    const bounds = [0, ...c.splitAt, V];
    wArg = bounds.slice(1).map((end, i) => ({ w: up(`W part ${i}`, w.slice(bounds[i] * C, end * C)), rows: end - bounds[i] }));
  } else {
    wArg = up('W', w);
  }
  if (c.maxBindingBytes) expect(weightParts(gpu, wArg, V, C, false, 'W', c.maxBindingBytes).length).toBeGreaterThan(1);
  const dh0 = c.accumulate ? uniformValues(N * C, seed + 2) : new Float32Array(N * C);
  const buf = {
    h: up('h', h),
    labels: up('labels', labels),
    logits: up('logits chunk', new Float32Array(c.chunkRows * V)),
    rowLoss: up('row loss', new Float32Array(N)),
    rowCorrect: up('row correct', new Uint32Array(N)),
    lossSum: up('loss sum', new Float32Array([c.accumulate ? 1.5 : 123])),
    targetCount: up('target count', new Uint32Array([c.accumulate ? 7 : 99, c.accumulate ? 3 : 98])),
    dh: up('dh', dh0),
  };
  const rec = new Recorder(gpu, 'lmhead test');
  lmheadLoss(rec, {
    N, C, V, w: wArg, gradScale, chunkRows: c.chunkRows, maxBindingBytes: c.maxBindingBytes,
    accumulateLoss: c.accumulate, accumulateDh: c.accumulate, ...buf,
  });
  await rec.done();
  const got = {
    lossSum: (await readF32(gpu, buf.lossSum, 1))[0],
    targetCount: (await readU32(gpu, buf.targetCount, 2))[0],
    correct: (await readU32(gpu, buf.targetCount, 2))[1],
    dh: await readF32(gpu, buf.dh, N * C),
  };
  for (const b of made) b.destroy();
  const want = {
    lossSum: ref.lossSum + (c.accumulate ? 1.5 : 0),
    targetCount: ref.targetCount + (c.accumulate ? 7 : 0),
    correct: ref.correct + (c.accumulate ? 3 : 0),
    dh: ref.dh.map((v, i) => v + dh0[i]),
  };
  return { want, got };
}

describe('lm head + cross-entropy matches the float64 reference', () => {
  cases.forEach(([name, c], index) => {
    const label = `N${c.N} C${c.C} V${c.V} chunk${c.chunkRows}${c.maxBindingBytes || c.splitAt ? ' split W' : ''}${c.ignored === 1 ? ' all ignored' : ''}`;
    let result: ReturnType<typeof run> | undefined;
    const once = () => (result ??= run(c, 50 + 10 * index));
    it(`lmhead forward ${name} matches_reference`, async () => {
      const gpu = await testGpu();
      const { want, got } = await once();
      expect(got.targetCount).toBe(want.targetCount);
      expect(got.correct, 'targets whose label is the argmax').toBe(want.correct);
      const cmp = expectClose([got.lossSum], [want.lossSum], TOLERANCES.lmheadLoss, `lossSum ${label}`);
      recordKernelError('lmhead', 'forward', label, cmp, gpu.adapter.name);
    });
    it(`lmhead backward ${name} matches_reference`, async () => {
      const gpu = await testGpu();
      const { want, got } = await once();
      recordKernelError('lmhead', 'backward', label, expectClose(got.dh, want.dh, TOLERANCES.lmhead, `dh ${label}`), gpu.adapter.name);
    });
  });

  it('lmhead logits (generation path) with W split by the binding limit match_reference', async () => {
    const gpu = await testGpu();
    const [N, C, V] = [3, 8, 5003];
    const h = uniformValues(N * C, 7, -2, 2);
    const w = uniformValues(V * C, 8);
    const gh = uploadBuffer(gpu, 'lmhead logits test h', h);
    const gw = uploadBuffer(gpu, 'lmhead logits test W', w);
    const logits = createBuffer(gpu, 'lmhead logits test logits', N * V * 4);
    const rec = new Recorder(gpu, 'lmhead logits test');
    lmheadLogits(rec, { N, C, V, h: gh, w: gw, logits, maxBindingBytes: 40_000 });
    await rec.done();
    const got = await readF32(gpu, logits, N * V);
    const cmp = expectClose(got, lmheadLogitsRef({ N, C, V, h, w }), TOLERANCES.lmhead, 'logits');
    recordKernelError('lmhead', 'forward', `logits N${N} C${C} V${V} split W`, cmp, gpu.adapter.name);
    for (const b of [gh, gw, logits]) b.destroy();
  });

  it('lmheadChunkRows bounds a chunk of logits', async () => {
    const gpu = await testGpu();
    // 110 rows of 151936 logits fit in 64 MiB; chunks fill whole 64-row tiles (chunks.ts).
    expect(lmheadChunkRows(gpu, 4096, 151936, 64 * 1024 * 1024)).toBe(64);
    expect(lmheadChunkRows(gpu, 4096, 49152, 16 << 20)).toBe(64);
    expect(lmheadChunkRows(gpu, 3, 1000)).toBe(3);
    expect(() => lmheadChunkRows(gpu, 3, 1000, 100)).toThrow(/exceeds the chunk bound/);
  });
  it('lmhead loss and logits with f16 W match_reference where the adapter has shader-f16', async () => {
    const gpu = await testGpu();
    if (!gpu.features.f16) {
      // SwiftShader has no shader-f16; lavapipe and real GPUs run the f16 path below.
      console.log(`[lmhead] f16 path not exercised: ${gpu.adapter.name} has no shader-f16`);
      expect(gpu.features.f16).toBe(false);
      return;
    }
    const [N, C, V] = [6, 12, 301];
    const h = gridValues(N * C, 3);
    const w = gridValues(V * C, 4, 0.25);
    const labels = new Int32Array([5, -100, 300, 0, 17, 42]);
    const ref = lmheadLossRef({ N, C, V, h, w, labels, gradScale: 0.2 });
    const made = [
      uploadBuffer(gpu, 'lmhead f16 h', h),
      uploadBuffer(gpu, 'lmhead f16 W', toF16(w)),
      uploadBuffer(gpu, 'lmhead f16 labels', labels),
      createBuffer(gpu, 'lmhead f16 logits', 4 * V * 4),
      createBuffer(gpu, 'lmhead f16 row loss', N * 4),
      createBuffer(gpu, 'lmhead f16 loss', 4),
      createBuffer(gpu, 'lmhead f16 count', 8),
      createBuffer(gpu, 'lmhead f16 dh', N * C * 4),
      createBuffer(gpu, 'lmhead f16 full logits', N * V * 4),
      createBuffer(gpu, 'lmhead f16 row correct', N * 4),
    ];
    const [gh, gw, gl, logits, rowLoss, lossSum, targetCount, dh, full, rowCorrect] = made;
    const rec = new Recorder(gpu, 'lmhead f16 test');
    lmheadLoss(rec, { N, C, V, h: gh, w: gw, wF16: true, labels: gl, gradScale: 0.2, logits, chunkRows: 4, rowLoss, rowCorrect, lossSum, targetCount, dh });
    lmheadLogits(rec, { N, C, V, h: gh, w: gw, wF16: true, logits: full });
    await rec.done();
    expectClose(await readF32(gpu, lossSum, 1), [ref.lossSum], TOLERANCES.lmheadLoss, 'lossSum f16');
    expect((await readU32(gpu, targetCount, 1))[0]).toBe(ref.targetCount);
    expectClose(await readF32(gpu, dh, N * C), ref.dh, TOLERANCES.lmhead, 'dh f16');
    expectClose(await readF32(gpu, full, N * V), lmheadLogitsRef({ N, C, V, h, w }), TOLERANCES.lmhead, 'logits f16');
    for (const b of made) b.destroy();
  });

  it('the chunk sizes fill the row tiles the matmul picks for the two LM-head products on this adapter', async () => {
    const gpu = await testGpu();
    for (const [V, C] of [[49152, 576], [151936, 896]]) {
      expect(chooseMatmulVec4Tile(gpu, LMHEAD_ROW_TILE, V, C).BM).toBe(LMHEAD_ROW_TILE); // logits = h·Wᵀ
      expect(chooseMatmulVec4Tile(gpu, LMHEAD_ROW_TILE, C, V).BM).toBe(LMHEAD_ROW_TILE); // dh = dlogits·W
      expect(chooseMatmulVec4Tile(gpu, LMHEAD_SMALL_ROW_TILE, V, C).BM).toBe(LMHEAD_SMALL_ROW_TILE);
      expect(chooseMatmulVec4Tile(gpu, LMHEAD_SMALL_ROW_TILE, C, V).BM).toBe(LMHEAD_SMALL_ROW_TILE);
    }
  });

  // The tied head: the embedding gather and the LM head read the same table, f16 on shader-f16
  // devices, or q8 / nf4 rows (quantized on the CPU here, so the test measures the kernels).
  const tiedFormats = (gpu: Awaited<ReturnType<typeof testGpu>>) => [...(gpu.features.f16 ? (['f16'] as const) : []), 'q8', 'nf4'] as const;
  for (const format of ['f16', 'q8', 'nf4'] as const) {
    it(`tied ${format} table: embedding gather and lmhead loss/logits, in parts, match_reference`, async () => {
      const gpu = await testGpu();
      if (!(tiedFormats(gpu) as readonly string[]).includes(format)) {
        console.log(`[lmhead] ${format} table not exercised: ${gpu.adapter.name} has no shader-f16`);
        expect(gpu.features.f16).toBe(false);
        return;
      }
      // 130 tokens in 64-row chunks (64, 64, 2); V and C off every tile.
      const [N, C, V] = [130, 40, 301];
      const h = gridValues(N * C, 11, 0.5);
      const w = gridValues(V * C, 12, 0.25);
      const labels = Int32Array.from({ length: N }, (_, n) => (n % 7 === 3 ? -100 : (n * 31) % V));
      const made: GPUBuffer[] = [];
      let table: Float64Array | Float32Array = w;
      let weight: Parameters<typeof lmheadLoss>[1]['w'];
          if (format === 'f16') {
        const parts = uploadSplitWeight(gpu, 'tied f16 table', toF16(w), V, C, { f16: true, maxBindingBytes: 100 * C * 2 });
        expect(parts.length).toBe(4);
        made.push(...parts.map((p) => p.w as GPUBuffer));
        weight = parts;
      } else {
        // Stored as three parts (a large vocabulary's buffers); binding windows are tested in embedding.test.ts.
        const q = uploadQuantizedRef(gpu, `tied ${format} table`, format, w, V, C, { splitAt: [100, 150] });
        made.push(...q.buffers);
        table = dequantizeRef(q.ref);
        weight = q.weight;
        expect(quantBindings(gpu, q.weight, 'W').length).toBe(3);
      }
      const chunkRows = lmheadChunkRows(gpu, N, V, 85 * V * 4);
      expect(chunkRows).toBe(64);
      const ref = lmheadLossRef({ N, C, V, h, w: table, labels, gradScale: 0.01 });
      const ids = Int32Array.from({ length: N }, (_, n) => (n * 13) % V);
      const up = (label: string, data: Float32Array | Int32Array) => {
        const b = uploadBuffer(gpu, `tied ${format} ${label}`, data);
        made.push(b);
        return b;
      };
      const mk = (label: string, bytes: number) => {
        const b = createBuffer(gpu, `tied ${format} ${label}`, bytes);
        made.push(b);
        return b;
      };
      const buf = {
        h: up('h', h), labels: up('labels', labels), ids: up('ids', ids), x: mk('x', N * C * 4),
        logits: mk('logits chunk', chunkRows * V * 4), rowLoss: mk('row loss', N * 4), lossSum: mk('loss', 4),
        targetCount: mk('count', 8), dh: mk('dh', N * C * 4), full: mk('full logits', 3 * V * 4),
        rowCorrect: mk('row correct', N * 4),
      };
      const wArgs = { w: weight, wF16: format === 'f16' };
      const rec = new Recorder(gpu, `tied ${format} test`);
      embeddingForward(rec, { ...wArgs, ids: buf.ids, V, C, N, out: buf.x });
      lmheadLoss(rec, { ...wArgs, N, C, V, h: buf.h, labels: buf.labels, gradScale: 0.01, logits: buf.logits, chunkRows, rowLoss: buf.rowLoss, lossSum: buf.lossSum, targetCount: buf.targetCount, rowCorrect: buf.rowCorrect, dh: buf.dh });
      lmheadLogits(rec, { ...wArgs, N: 3, C, V, h: buf.h, logits: buf.full });
      await rec.done();
      const f32Table = Float64Array.from(table, Math.fround);
      expectClose(await readF32(gpu, buf.x, N * C), embeddingForwardRef(ids, f32Table, V, C), { atol: 0, rtol: 0 }, `gather ${format}`);
      const loss = expectClose(await readF32(gpu, buf.lossSum, 1), [ref.lossSum], TOLERANCES.lmheadLoss, `lossSum ${format}`);
      expect((await readU32(gpu, buf.targetCount, 1))[0]).toBe(ref.targetCount);
      const dh = expectClose(await readF32(gpu, buf.dh, N * C), ref.dh, TOLERANCES.lmhead, `dh ${format}`);
      const logits = expectClose(await readF32(gpu, buf.full, 3 * V), lmheadLogitsRef({ N: 3, C, V, h, w: table }), TOLERANCES.lmhead, `logits ${format}`);
      if (format !== 'f16') {
        recordKernelError('lmhead quantized', 'forward', `${format} N${N} C${C} V${V} chunk${chunkRows} split W`, loss.maxAbs > logits.maxAbs ? loss : logits, gpu.adapter.name);
        recordKernelError('lmhead quantized', 'backward', `${format} N${N} C${C} V${V} chunk${chunkRows} split W`, dh, gpu.adapter.name);
      }
      for (const b of made) b.destroy();
    });
  }
});
