import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/engine/gpu/recorder';
import { readF32, uploadBuffer } from '../../src/engine/gpu/buffers';
import { chooseMatmulVec4Tile, DIRECT_TILE, matmul, matmulVec4Applies, STAGED_MIN_WORK, type MatmulArgs, type MatmulTile } from '../../src/engine/kernels/matmul/matmul';
import type { Gpu } from '../../src/engine/gpu/device';
import { matmulRef, type MatmulShape } from '../../src/engine/kernels/matmul/matmul.ref';
import { expectClose } from '../helpers/compare';
import { gridValues } from '../helpers/random';
import { testGpu } from '../helpers/gpu';
import { TOLERANCES } from '../helpers/tolerances';
import { recordKernelError } from '../helpers/kernelErrors';

/** f16 bits of values that f16 holds exactly (the grid values do). */
function toF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    const mant = (x >>> 13) & 0x3ff;
    out[i] = values[i] === 0 ? sign : sign | (exp << 10) | mant;
  }
  return out;
}

async function runVec4(shape: MatmulShape & Partial<MatmulArgs>, seed: number, opts: { tile?: MatmulTile; f16?: boolean } = {}) {
  const gpu = await testGpu();
  const batch = shape.batch ?? 1;
  const strideA = shape.batchStrideA ?? shape.M * shape.K;
  const strideB = shape.batchStrideB ?? shape.K * shape.N;
  const a = gridValues(Math.max(1, strideA * (batch - 1) + shape.M * shape.K), seed);
  const b = gridValues(Math.max(1, strideB * (batch - 1) + shape.K * shape.N), seed + 1);
  const c0 = gridValues(batch * shape.M * shape.N, seed + 2);
  const args = { ...shape, a: null as never, b: null as never, c: null as never, tile: opts.tile, bF16: opts.f16 };
  expect(matmulVec4Applies(args), `vec4 path for ${JSON.stringify(shape)}`).toBe(true);
  const ga = uploadBuffer(gpu, 'vec4 test A', a);
  const gb = uploadBuffer(gpu, 'vec4 test B', opts.f16 ? toF16(b) : b);
  const gc = uploadBuffer(gpu, 'vec4 test C', c0);
  const rec = new Recorder(gpu, 'matmul vec4 test');
  matmul(rec, { ...args, a: ga, b: gb, c: gc });
  await rec.done();
  const got = await readF32(gpu, gc, batch * shape.M * shape.N);
  const want = matmulRef(a, b, Float64Array.from(c0), shape);
  const tol = shape.K > 256 ? TOLERANCES.matmulLargeK : TOLERANCES.matmul;
  const result = expectClose(got, want, tol, `matmul vec4 ${JSON.stringify(shape)}`);
  recordKernelError('matmul', 'forward', `vec4 ${shape.M}x${shape.N}x${shape.K}${shape.transA ? ' tA' : ''}${shape.transB ? ' tB' : ''}${opts.f16 ? ' f16' : ''}`, result, gpu.adapter.name);
  for (const buffer of [ga, gb, gc]) buffer.destroy();
}

const shapes: [string, MatmulShape][] = [
  ['X·Wᵀ, partial tiles on both sides', { M: 68, N: 72, K: 36, transB: true }],
  ['dY·W', { M: 20, N: 132, K: 40 }],
  ['dYᵀ·X', { M: 76, N: 24, K: 52, transA: true }],
  ['both transposed', { M: 12, N: 28, K: 44, transA: true, transB: true }],
  ['LoRA down-projection x·Aᵀ (N = r = 8)', { M: 140, N: 8, K: 64, transB: true }],
  ['LoRA dA = duᵀ·x (M = r = 8)', { M: 8, N: 136, K: 60, transA: true }],
  ['K = 4', { M: 36, N: 40, K: 4 }],
  ['batched with broadcast B', { M: 16, N: 20, K: 24, batch: 3, batchStrideB: 0, transB: true }],
  ['alpha + accumulate', { M: 44, N: 36, K: 28, alpha: 0.5, accumulate: true, beta: 2 }],
];

describe('matmul vec4 path matches the float64 reference', () => {
  for (const [name, shape] of shapes) {
    it(`matmul forward vec4 ${name} matches_reference`, async () => {
      await runVec4(shape, name.length * 13);
    });
  }

  // lavapipe picks the direct kernel for these small shapes by itself; other adapters run it here.
  it('matmul forward vec4 direct kernel (no workgroup memory) on every shape above matches_reference', async () => {
    for (const [name, shape] of shapes) await runVec4(shape, name.length * 17, { tile: DIRECT_TILE });
  });

  it('matmul forward vec4 with the 16×16 written-out block lavapipe takes for big problems, f16 B where the adapter has it, matches_reference', async () => {
    const gpu = await testGpu();
    const tile = chooseMatmulVec4Tile({ unrollInSource: false, compilesAtFirstDispatch: true, limits: gpu.limits } as unknown as Gpu, 256, 1536, 576);
    expect(tile.unroll).toBe(true);
    // Where blocks are written out anyway (SwiftShader) this is its own table's pipeline: no second compile.
    if (gpu.unrollInSource) delete tile.unroll;
    await runVec4({ M: 72, N: 68, K: 40, transB: true }, 31, { tile, f16: gpu.features.f16 });
  });

  it('matmul forward vec4 with every tile either table picks, in the form this adapter compiles, matches_reference', async () => {
    // The register block is written out on SwiftShader and left as loops elsewhere (lavapipe), so
    // the two GPU runs of `npm test` cover both forms without compiling each twice.
    // Both tile tables (written-out blocks and loops), whichever adapter runs the test, over shapes
    // that reach every branch: thin N and M of 8 and 16, small sides, and the general tile.
    // The big problems' tiles on lavapipe are SwiftShader's written out, and its small ones the direct kernel.
    const tables = [true, false].map((unrollInSource) => ({ unrollInSource, compilesAtFirstDispatch: false, limits: { maxComputeInvocationsPerWorkgroup: 256 } }) as unknown as Gpu);
    const sides = [8, 16, 32, 72];
    const tiles = new Map<string, MatmulTile>();
    for (const table of tables) for (const M of sides) for (const N of sides) tiles.set(JSON.stringify(chooseMatmulVec4Tile(table, M, N, STAGED_MIN_WORK)), chooseMatmulVec4Tile(table, M, N, STAGED_MIN_WORK));
    tiles.set('few threads', chooseMatmulVec4Tile({ unrollInSource: false, limits: { maxComputeInvocationsPerWorkgroup: 32 } } as unknown as Gpu, 72, 72, 72));
    tiles.set('direct', DIRECT_TILE);
    expect(tiles.size).toBeGreaterThanOrEqual(10);
    let i = 0;
    for (const tile of tiles.values()) {
      await runVec4({ M: 72, N: 40, K: 52, transB: i % 2 === 0, transA: i % 3 === 1 }, 500 + i, { tile });
      i++;
    }
  });

  it('SwiftShader gets big written-out register blocks; lavapipe the direct kernel below STAGED_MIN_WORK and written-out blocks from it; other adapters keep 64-thread workgroups', async () => {
    const real = await testGpu();
    expect(real.unrollInSource, real.adapter.name).toBe(/swiftshader/i.test(real.adapter.name));
    expect(real.compilesAtFirstDispatch, real.adapter.name).toBe(/llvmpipe/i.test(real.adapter.name));
    const limits = { maxComputeInvocationsPerWorkgroup: 256 };
    const cpu = { unrollInSource: true, compilesAtFirstDispatch: false, limits } as unknown as Gpu;
    const lavapipe = { unrollInSource: false, compilesAtFirstDispatch: true, limits } as unknown as Gpu;
    const gpu = { unrollInSource: false, compilesAtFirstDispatch: false, limits } as unknown as Gpu;
    const threads = (t: MatmulTile) => (t.BM / t.TM) * (t.BN / t.TN);
    expect(chooseMatmulVec4Tile(cpu, 256, 576, 576)).toMatchObject({ BM: 64, BN: 64, TM: 16, TN: 16 });
    expect(chooseMatmulVec4Tile(cpu, 256, 8, 576)).toMatchObject({ BN: 8, TM: 16, TN: 8 });
    expect(chooseMatmulVec4Tile(cpu, 256, 8, 576).unroll).toBeUndefined();
    // SmolLM2-135M's up projection at T 256 is big; the demo model's (1024 tokens, 64 → 256) and LoRA's rank-8 products are not.
    expect(chooseMatmulVec4Tile(lavapipe, 256, 1536, 576)).toEqual({ BM: 64, BN: 64, BK: 16, TM: 16, TN: 16, unroll: true });
    expect(chooseMatmulVec4Tile(lavapipe, 1024, 256, 64)).toEqual(DIRECT_TILE);
    expect(chooseMatmulVec4Tile(lavapipe, 256, 8, 576)).toEqual(DIRECT_TILE);
    expect(chooseMatmulVec4Tile(lavapipe, 256, 192, 576)).toMatchObject({ TM: 16, unroll: true }); // its k/v projection
    expect(chooseMatmulVec4Tile(lavapipe, 1024, 768, 64)).toEqual(DIRECT_TILE); // the demo's LM head: K = 64
    expect(chooseMatmulVec4Tile(lavapipe, 64, 128, 128, STAGED_MIN_WORK / 2 ** 20)).toMatchObject({ TM: 16, unroll: true });
    expect(chooseMatmulVec4Tile(lavapipe, 64, 128, 128, STAGED_MIN_WORK / 2 ** 20 - 1)).toEqual(DIRECT_TILE);
    expect(threads(chooseMatmulVec4Tile(gpu, 256, 576, 576))).toBe(64);
    expect(threads(chooseMatmulVec4Tile(gpu, 256, 8, 576))).toBe(64);
  });

  it('the direct kernel is one pipeline for every shape, layout and accumulation (per type of B)', async () => {
    const gpu = await testGpu();
    const before = gpu.pipelines.size;
    for (const [M, N, K] of [[8, 8, 4], [72, 40, 52], [256, 8, 36]]) await runVec4({ M, N, K, transB: true }, 900 + M, { tile: DIRECT_TILE });
    await runVec4({ M: 20, N: 12, K: 16, transA: true, accumulate: true, beta: 1 }, 950, { tile: DIRECT_TILE });
    expect(gpu.pipelines.size - before).toBeLessThanOrEqual(1);
  });

  it('matmul forward vec4 with offsets, lda and ldc (a column block of a wider C) matches_reference', async () => {
    const gpu = await testGpu();
    const [M, N, K, lda, ldc] = [20, 12, 16, 24, 32];
    const a = gridValues(4 + M * lda, 1);
    const b = gridValues(N * K, 2);
    const c0 = gridValues(8 + M * ldc, 3);
    const ga = uploadBuffer(gpu, 'lda A', a);
    const gb = uploadBuffer(gpu, 'lda B', b);
    const gc = uploadBuffer(gpu, 'ldc C', c0);
    const want = Float64Array.from(c0);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[4 + m * lda + k] * b[n * K + k];
        want[8 + m * ldc + n] = s;
      }
    // The adapter's own pick, then the direct kernel (lavapipe's pick for this size) and a staged tile (one the table test compiles anyway).
    for (const tile of [undefined, DIRECT_TILE, { BM: 32, BN: 32, BK: 32, TM: 4, TN: 4 }]) {
      gpu.device.queue.writeBuffer(gc, 0, c0 as Float32Array<ArrayBuffer>);
      const args = { a: ga, b: gb, c: gc, M, N, K, transB: true, offsetA: 4, offsetC: 8, lda, ldc, tile };
      expect(matmulVec4Applies(args)).toBe(true);
      const rec = new Recorder(gpu, 'lda ldc');
      matmul(rec, args);
      await rec.done();
      const got = await readF32(gpu, gc);
      expectClose(got.subarray(0, want.length), want, TOLERANCES.matmul, `C block via ldc, tile ${JSON.stringify(tile ?? 'default')}`);
    }
  });

  it('matmul forward vec4 with f16 B (shader-f16 adapters; f32 elsewhere) matches_reference', async () => {
    const gpu = await testGpu();
    const shape: MatmulShape = { M: 36, N: 44, K: 28, transB: true };
    if (gpu.features.f16) await runVec4(shape, 77, { f16: true });
    else await runVec4(shape, 77);
  });

  it('falls back to the scalar kernel when a contiguous dimension is not a multiple of 4', () => {
    const base = { a: null as never, b: null as never, c: null as never };
    expect(matmulVec4Applies({ ...base, M: 8, N: 8, K: 6, transB: true })).toBe(false);
    expect(matmulVec4Applies({ ...base, M: 6, N: 8, K: 8, transA: true })).toBe(false);
    expect(matmulVec4Applies({ ...base, M: 8, N: 6, K: 8 })).toBe(false);
    expect(matmulVec4Applies({ ...base, M: 8, N: 8, K: 8, offsetA: 2 })).toBe(false);
    expect(matmulVec4Applies({ ...base, M: 8, N: 8, K: 8, vec4: false })).toBe(false);
    expect(matmulVec4Applies({ ...base, M: 6, N: 8, K: 8 })).toBe(true); // A [M,K] is contiguous along K
  });
});
