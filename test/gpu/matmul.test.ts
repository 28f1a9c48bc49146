import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/engine/gpu/recorder';
import { readF32, uploadBuffer, createBuffer } from '../../src/engine/gpu/buffers';
import { matmul, matmulDyTX, matmulDyW, matmulXWt } from '../../src/engine/kernels/matmul/matmul';
import { matmulRef, type MatmulShape } from '../../src/engine/kernels/matmul/matmul.ref';
import { expectClose } from '../helpers/compare';
import { gridValues, uniformValues } from '../helpers/random';
import { testGpu } from '../helpers/gpu';
import { TOLERANCES } from '../helpers/tolerances';

async function runCase(shape: MatmulShape, seed: number) {
  const gpu = await testGpu();
  const batch = shape.batch ?? 1;
  const strideA = shape.batchStrideA ?? shape.M * shape.K;
  const strideB = shape.batchStrideB ?? shape.K * shape.N;
  const a = gridValues(Math.max(1, strideA * (batch - 1) + shape.M * shape.K), seed);
  const b = gridValues(Math.max(1, strideB * (batch - 1) + shape.K * shape.N), seed + 1);
  const c0 = gridValues(batch * shape.M * shape.N, seed + 2);
  const ga = uploadBuffer(gpu, 'test A', a);
  const gb = uploadBuffer(gpu, 'test B', b);
  const gc = uploadBuffer(gpu, 'test C', c0);
  const rec = new Recorder(gpu, 'matmul test');
  matmul(rec, { ...shape, a: ga, b: gb, c: gc });
  await rec.done();
  const got = await readF32(gpu, gc, batch * shape.M * shape.N);
  const want = matmulRef(a, b, Float64Array.from(c0), shape);
  const tol = shape.K > 256 ? TOLERANCES.matmulLargeK : TOLERANCES.matmul;
  const result = expectClose(got, want, tol, `matmul ${JSON.stringify(shape)}`);
  for (const buffer of [ga, gb, gc]) buffer.destroy();
  return result;
}

const shapes: [string, MatmulShape][] = [
  ['1x1x1', { M: 1, N: 1, K: 1 }],
  ['K = 1', { M: 37, N: 29, K: 1 }],
  ['odd sizes', { M: 33, N: 17, K: 65 }],
  ['transB (X·Wᵀ) odd', { M: 19, N: 70, K: 23, transB: true }],
  ['transA (dYᵀ·X) odd', { M: 70, N: 13, K: 41, transA: true }],
  ['both transposed', { M: 9, N: 66, K: 130, transA: true, transB: true }],
  ['large tile multiple', { M: 128, N: 128, K: 64, transB: true }],
  ['large K', { M: 8, N: 24, K: 4099 }],
  ['batched', { M: 21, N: 35, K: 18, batch: 3 }],
  ['batched broadcast B', { M: 21, N: 35, K: 18, batch: 4, batchStrideB: 0, transB: true }],
  ['alpha + accumulate', { M: 31, N: 47, K: 12, alpha: 0.5, accumulate: true, beta: 2 }],
];

describe('matmul matches the float64 reference', () => {
  for (const [name, shape] of shapes) {
    it(`matmul forward ${name} matches_reference`, async () => {
      await runCase(shape, name.length * 7);
    });
  }

  it('the three training layouts (X·Wᵀ, dY·W, dYᵀ·X) match_reference', async () => {
    const gpu = await testGpu();
    const [M, K, N] = [45, 67, 23]; // tokens, in features, out features
    const x = uniformValues(M * K, 1);
    const w = uniformValues(N * K, 2);
    const dy = uniformValues(M * N, 3);
    const gx = uploadBuffer(gpu, 'X', x);
    const gw = uploadBuffer(gpu, 'W', w);
    const gdy = uploadBuffer(gpu, 'dY', dy);
    const gy = createBuffer(gpu, 'Y', M * N * 4);
    const gdx = createBuffer(gpu, 'dX', M * K * 4);
    const gdw = createBuffer(gpu, 'dW', N * K * 4);
    const rec = new Recorder(gpu, 'layouts');
    matmulXWt(rec, gx, gw, gy, M, K, N);
    matmulDyW(rec, gdy, gw, gdx, M, N, K);
    matmulDyTX(rec, gdy, gx, gdw, M, N, K);
    await rec.done();
    const y = new Float64Array(M * N);
    const dx = new Float64Array(M * K);
    const dw = new Float64Array(N * K);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
        y[m * N + n] = s;
      }
    for (let m = 0; m < M; m++)
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += dy[m * N + n] * w[n * K + k];
        dx[m * K + k] = s;
      }
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let m = 0; m < M; m++) s += dy[m * N + n] * x[m * K + k];
        dw[n * K + k] = s;
      }
    expectClose(await readF32(gpu, gy), y, TOLERANCES.matmul, 'Y = X·Wᵀ');
    expectClose(await readF32(gpu, gdx), dx, TOLERANCES.matmul, 'dX = dY·W');
    expectClose(await readF32(gpu, gdw), dw, TOLERANCES.matmul, 'dW = dYᵀ·X');
  });

  it('random shapes match_reference', async () => {
    let seed = 1234;
    const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % 97;
    for (let i = 0; i < 12; i++) {
      const shape: MatmulShape = { M: 1 + next(), N: 1 + next(), K: 1 + next(), transA: next() % 2 === 0, transB: next() % 2 === 0 };
      await runCase(shape, 100 + i);
    }
  });

  it('the pipeline cache compiles each (kernel, constants) once', async () => {
    const gpu = await testGpu();
    const before = gpu.pipelines.compiled;
    await runCase({ M: 5, N: 6, K: 7 }, 1);
    const after = gpu.pipelines.compiled;
    await runCase({ M: 9, N: 3, K: 2 }, 2); // same constants, other sizes: no new pipeline
    expect(gpu.pipelines.compiled).toBe(after);
    expect(after - before).toBeLessThanOrEqual(1);
  });
});
