import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import { Uniforms } from '../../gpu/uniforms';
import type { Kernel } from '../../gpu/pipelines';
import { resolveStrides, type MatmulShape } from './matmul.ref';
import source from './matmul.wgsl?raw';

export const matmulKernel: Kernel = { name: 'matmul', source };

export interface MatmulTile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/** Picks a tile for the shape within the device's workgroup limits. */
export function chooseMatmulTile(gpu: Gpu, M: number, N: number): MatmulTile {
  const maxThreads = gpu.limits.maxComputeInvocationsPerWorkgroup;
  if (M <= 16 || N <= 16) return { BM: 16, BN: 16, BK: 16, TM: 1, TN: 1 };
  if (maxThreads >= 256 && M >= 64 && N >= 64) return { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
  return { BM: 32, BN: 32, BK: 16, TM: 2, TN: 2 };
}

export interface MatmulArgs extends MatmulShape {
  a: Binding;
  b: Binding;
  c: Binding;
  /** B holds f16 values (frozen weights on shader-f16 devices). */
  bF16?: boolean;
  /** Element offsets into each buffer. */
  offsetA?: number;
  offsetB?: number;
  offsetC?: number;
  /** Row stride of stored A (elements; default packed: K, or M when transA). */
  lda?: number;
  /** Row stride of C (elements; default N): write a column block of a wider matrix. */
  ldc?: number;
  tile?: MatmulTile;
  label?: string;
}

/** Records C = alpha·op(A)·op(B) (+ beta·C) — see matmul.wgsl for the layouts. */
export function matmul(rec: Recorder, args: MatmulArgs): void {
  const { batch, strideA, strideB, strideC, alpha, beta } = resolveStrides(args);
  const tile = args.tile ?? chooseMatmulTile(rec.gpu, args.M, args.N);
  const uniforms = new Uniforms()
    .u32(args.M).u32(args.N).u32(args.K).u32(strideA)
    .u32(strideB).u32(strideC).u32(args.offsetA ?? 0).u32(args.offsetB ?? 0)
    .u32(args.offsetC ?? 0).f32(alpha).f32(beta).u32(args.lda ?? 0)
    .u32(args.ldc ?? 0).u32(0).u32(0).u32(0);
  rec.dispatch({
    kernel: matmulKernel,
    label: args.label,
    constants: {
      ...tile,
      TRANS_A: Boolean(args.transA),
      TRANS_B: Boolean(args.transB),
      ACCUMULATE: Boolean(args.accumulate),
      B_TYPE: args.bF16 ? 'f16' : 'f32',
      ENABLE_F16: args.bF16 ? 'enable f16;' : '',
    },
    uniforms,
    bindings: [args.a, args.b, args.c],
    workgroups: [Math.ceil(args.N / tile.BN), Math.ceil(args.M / tile.BM), batch],
  });
}

/** Y[M,N] = X[M,K] · W[N,K]ᵀ — the forward of a linear layer. */
export function matmulXWt(rec: Recorder, x: Binding, w: Binding, y: Binding, M: number, K: number, N: number, extra: Partial<MatmulArgs> = {}): void {
  matmul(rec, { ...extra, a: x, b: w, c: y, M, N, K, transB: true });
}

/** dX[M,K] = dY[M,N] · W[N,K] — the gradient of a linear layer with respect to its input. */
export function matmulDyW(rec: Recorder, dy: Binding, w: Binding, dx: Binding, M: number, N: number, K: number, extra: Partial<MatmulArgs> = {}): void {
  matmul(rec, { ...extra, a: dy, b: w, c: dx, M, N: K, K: N });
}

/** dW[N,K] = dY[M,N]ᵀ · X[M,K] — the gradient with respect to a weight (LoRA's A and B). */
export function matmulDyTX(rec: Recorder, dy: Binding, x: Binding, dw: Binding, M: number, N: number, K: number, extra: Partial<MatmulArgs> = {}): void {
  matmul(rec, { ...extra, a: dy, b: x, c: dw, M: N, N: K, K: M, transA: true });
}
