import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import { Uniforms } from '../../gpu/uniforms';
import { GpuError } from '../../gpu/errors';
import { grid1d } from '../elementwise/grid';
import type { Kernel } from '../../gpu/pipelines';
import { resolveStrides, type MatmulShape } from './matmul.ref';
import { quantReaderWgsl } from '../quant/quant';
import type { QuantFormat } from '../quant/layout';
import paramsSource from './matmul_params.wgsl?raw';
import source from './matmul.wgsl?raw';
import vec4Source from './matmul_vec4.wgsl?raw';
import directSource from './matmul_direct.wgsl?raw';
import bDense from './b_dense.wgsl?raw';
import bDenseVec4 from './b_dense_vec4.wgsl?raw';
import bQuant from './b_quant.wgsl?raw';

// The kernels are the shader body followed by the reader of operand B (dense or quantized).
export const matmulKernel: Kernel = { name: 'matmul', source: paramsSource + source + bDense };
/** The fast path: vec4 loads and stores, register-blocked (see matmul_vec4.wgsl for when it applies). */
export const matmulVec4Kernel: Kernel = { name: 'matmul_vec4', source: paramsSource + vec4Source + bDenseVec4 };
/** The vec4 layouts without workgroup memory: cheap to compile (see matmul_direct.wgsl for when it is chosen). */
export const matmulDirectKernel: Kernel = { name: 'matmul_direct', source: paramsSource + directSource + bDenseVec4 };

/** The three kernels: scalar (any shape), vec4 staged in workgroup memory, vec4 direct (no workgroup memory). */
export type MatmulKind = 'scalar' | 'vec4' | 'direct';
/** Each kind's kernel with a dense B, and its shader body (which the quantized kernels take with another B reader). */
const KIND_KERNEL: Record<MatmulKind, Kernel> = { scalar: matmulKernel, vec4: matmulVec4Kernel, direct: matmulDirectKernel };
const KIND_SOURCE: Record<MatmulKind, string> = { scalar: source, vec4: vec4Source, direct: directSource };

const quantKernels = new Map<string, Kernel>();
/** The matmul with a quantized B, dequantized while a slab is staged (b_quant.wgsl). */
export function matmulQuantKernel(format: QuantFormat, kind: MatmulKind): Kernel {
  const name = `${KIND_KERNEL[kind].name}_${format}`;
  let kernel = quantKernels.get(name);
  if (!kernel) {
    kernel = { name, source: paramsSource + KIND_SOURCE[kind] + bQuant + quantReaderWgsl(format) };
    quantKernels.set(name, kernel);
  }
  return kernel;
}

/**
 * A quantized frozen B (quant/layout.ts): \`b\` binds its packed values and \`offsetB\` is the word of
 * its row 0 there. B must be the weight [rows, cols] as stored: transB (X·Wᵀ, N = rows, K = cols)
 * or not (dY·W, K = rows, N = cols); no batch.
 */
export interface QuantOperand {
  format: QuantFormat;
  scales: Binding;
  /** Scale index of row 0 inside \`scales\`. */
  scaleOffset: number;
  /** q8 scales stored f16 (nf4 ignores it: always f16). */
  scaleF16: boolean;
  rowWords: number;
  scalesPerRow: number;
}

export interface MatmulTile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
  /** Write the register block out (true) or keep loops (false); default: Gpu.unrollInSource. */
  unroll?: boolean;
  /** The kernel without workgroup memory (matmul_direct.wgsl): a 4×4 block per invocation, no workgroup tile. */
  direct?: boolean;
}

/** The direct kernel's tile: each invocation a 4×4 block of C read straight from storage. */
export const DIRECT_TILE: MatmulTile = { BM: 4, BN: 4, BK: 4, TM: 4, TN: 4, direct: true };

/**
 * Where lavapipe takes the staged kernel with written-out 16×16 blocks rather than the direct one:
 * at least STAGED_MIN_WORK multiply-adds (M·N·K·batch) and a weight-sized product, N and K both at
 * least STAGED_MIN_SIDE. Below, a pipeline's cold compile (5–30 s for a written-out block, ~1 s
 * direct) outweighs what the staged kernel saves per dispatch, and a thin side (LoRA's rank, the
 * demo model's hidden size of 64) leaves 64×64 tiles mostly empty (docs/performance.md).
 */
export const STAGED_MIN_WORK = 2 ** 24;
export const STAGED_MIN_SIDE = 128;

/** Whether lavapipe gives this product the staged kernel (see STAGED_MIN_WORK). */
export function stagedOnFirstDispatchCompilers(M: number, N: number, K: number, batch = 1): boolean {
  return M * N * K * batch >= STAGED_MIN_WORK && Math.min(N, K) >= STAGED_MIN_SIDE;
}

/** Picks a tile for the shape within the device's workgroup limits. */
export function chooseMatmulTile(gpu: Gpu, M: number, N: number): MatmulTile {
  const maxThreads = gpu.limits.maxComputeInvocationsPerWorkgroup;
  if (M <= 16 || N <= 16) return { BM: 16, BN: 16, BK: 16, TM: 1, TN: 1 };
  if (maxThreads >= 256 && M >= 64 && N >= 64) return { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
  return { BM: 32, BN: 32, BK: 16, TM: 2, TN: 2 };
}

/**
 * Tile of the vec4 kernels for a problem of M·N·K (× batch) on this adapter — the one table of the
 * matmul's kernel choice, measured in docs/performance.md:
 * - Where the register block is written out (`Gpu.unrollInSource`: SwiftShader), few invocations
 *   with big blocks: 16×16 outputs per thread in a 64×64 tile (16 threads) ran 1.4–1.7× the 8×8
 *   block, and LoRA's thin rank-r products take 16×8 / 8×16 blocks (1.6–3.8× the 4×4 ones).
 * - Where pipelines compile at their first dispatch (`Gpu.compilesAtFirstDispatch`: lavapipe), by
 *   size. Small or thin products (stagedOnFirstDispatchCompilers false: the demo model's, LoRA's
 *   rank-r ones) take the direct kernel (DIRECT_TILE: no workgroup memory), ~7× cheaper to compile
 *   than the staged one, 9–14× faster than the 4×4 tiles on rank-8 products, 0.3–0.8× the written-out
 *   block on SmolLM2's projections. Those take the same written-out 16×16 blocks as SwiftShader:
 *   1.1–1.7× the 8×8 loops, for 3–7× their compile (a few pipelines per model).
 * - Elsewhere (GPUs) the block stays loops for the driver's compiler to unroll: 64-thread
 *   workgroups of 8×8 blocks (4×4 on thin shapes), not yet measured on hardware here.
 */
export function chooseMatmulVec4Tile(gpu: Gpu, M: number, N: number, K: number, batch = 1): MatmulTile {
  const maxThreads = gpu.limits.maxComputeInvocationsPerWorkgroup;
  if (maxThreads < 64) return { BM: 16, BN: 16, BK: 16, TM: 4, TN: 4 };
  if (gpu.compilesAtFirstDispatch && !stagedOnFirstDispatchCompilers(M, N, K, batch)) return DIRECT_TILE;
  if (gpu.unrollInSource || gpu.compilesAtFirstDispatch) {
    // Written out on lavapipe too (its LLVM compiles the loops' form to slower code on the backward layouts).
    const unroll = gpu.unrollInSource ? {} : { unroll: true };
    if (N <= 16) return { ...(N <= 8 ? { BM: 128, BN: 8, BK: 16, TM: 16, TN: 8 } : { BM: 64, BN: 16, BK: 16, TM: 16, TN: 16 }), ...unroll };
    if (M <= 16) return { ...(M <= 8 ? { BM: 8, BN: 128, BK: 16, TM: 8, TN: 16 } : { BM: 16, BN: 64, BK: 16, TM: 16, TN: 16 }), ...unroll };
    if (M <= 32 || N <= 32) return { BM: 32, BN: 32, BK: 16, TM: 16, TN: 16, ...unroll };
    return { BM: 64, BN: 64, BK: 16, TM: 16, TN: 16, ...unroll };
  }
  if (N <= 16) return { BM: 128, BN: 8, BK: 16, TM: 4, TN: 4 };
  if (M <= 16) return { BM: 8, BN: 128, BK: 16, TM: 4, TN: 4 };
  if (M <= 32 || N <= 32) return { BM: 32, BN: 32, BK: 32, TM: 4, TN: 4 };
  return { BM: 64, BN: 64, BK: 16, TM: 8, TN: 8 };
}

/**
 * Whether the vec4 kernel applies: every operand's contiguous dimension, offset and batch stride
 * (and lda, ldc) are multiples of 4 (so whole vec4s never straddle a row), and a given tile fits its vec4 layout.
 */
export function matmulVec4Applies(args: MatmulArgs): boolean {
  if (args.vec4 === false) return false;
  const { strideA, strideB, strideC } = resolveStrides(args);
  const contiguousA = args.transA ? args.M : args.K;
  const contiguousB = args.transB ? args.K : args.N;
  // A quantized B is addressed in words and rows of its own layout: only its columns count.
  const bOffsets = args.bQuant ? [] : [strideB, args.offsetB ?? 0];
  const offsets = [args.offsetA ?? 0, args.offsetC ?? 0, args.lda ?? 0, args.ldc ?? 0];
  const all = [contiguousA, contiguousB, args.N, strideA, strideC, ...bOffsets, ...offsets];
  if (!all.every((v) => v % 4 === 0)) return false;
  const t = args.tile;
  return !t || (t.TM % 4 === 0 && t.TN % 4 === 0 && t.BK % 4 === 0 && t.BM % t.TM === 0 && t.BN % t.TN === 0);
}

export interface MatmulArgs extends MatmulShape {
  a: Binding;
  b: Binding;
  c: Binding;
  /** B holds f16 values (frozen weights on shader-f16 devices). */
  bF16?: boolean;
  /** B is a quantized weight (q8 / nf4): \`b\` binds its packed values, \`offsetB\` counts words. */
  bQuant?: QuantOperand;
  /** Element offsets into each buffer. */
  offsetA?: number;
  offsetB?: number;
  offsetC?: number;
  /** Row stride of stored A (elements; default packed: K, or M when transA). */
  lda?: number;
  /** Row stride of C (elements; default N): write a column block of a wider matrix. */
  ldc?: number;
  tile?: MatmulTile;
  /** false forces the scalar kernel (tests of the general path); otherwise vec4 where it applies. */
  vec4?: boolean;
  label?: string;
}

/** Records C = alpha·op(A)·op(B) (+ beta·C) — see matmul.wgsl for the layouts. */
export function matmul(rec: Recorder, args: MatmulArgs): void {
  const { batch, strideA, strideB, strideC, alpha, beta } = resolveStrides(args);
  const q = args.bQuant;
  if (q && (batch !== 1 || args.bF16)) throw new GpuError(`matmul "${args.label ?? 'matmul'}": a quantized B takes no batch and no bF16`, args.label);
  const vec4 = matmulVec4Applies(args);
  const tile = args.tile ?? (vec4 ? chooseMatmulVec4Tile(rec.gpu, args.M, args.N, args.K, batch) : chooseMatmulTile(rec.gpu, args.M, args.N));
  const kind: MatmulKind = !vec4 ? 'scalar' : tile.direct ? 'direct' : 'vec4';
  // The vec4 kernel indexes its arrays in vec4 units; a quantized B is addressed in words.
  const unit = vec4 ? 4 : 1;
  const bUnit = q ? 1 : unit;
  const uniforms = new Uniforms()
    .u32(args.M).u32(args.N).u32(args.K).u32(strideA / unit)
    .u32(q ? 0 : strideB / unit).u32(strideC / unit).u32((args.offsetA ?? 0) / unit).u32((args.offsetB ?? 0) / bUnit)
    .u32((args.offsetC ?? 0) / unit).f32(alpha).f32(beta).u32((args.lda ?? 0) / unit)
    .u32((args.ldc ?? 0) / unit).u32(q?.scaleOffset ?? 0).u32(q?.rowWords ?? 0).u32(q?.scalesPerRow ?? 0);
  const layout = { TRANS_A: Boolean(args.transA), TRANS_B: Boolean(args.transB), ACCUMULATE: Boolean(args.accumulate) };
  // The layout as flags too (matmul_params.wgsl): the direct kernel reads them, the staged ones take constants.
  uniforms.u32((layout.TRANS_A ? 1 : 0) | (layout.TRANS_B ? 2 : 0) | (layout.ACCUMULATE ? 4 : 0));
  const { unroll, direct: _, ...sizes } = tile;
  rec.dispatch({
    kernel: q ? matmulQuantKernel(q.format, kind) : KIND_KERNEL[kind],
    label: args.label,
    constants: {
      // The direct kernel has no tile or layout constants: one pipeline per type of B, whatever the product.
      ...(kind === 'direct' ? {} : { ...sizes, ...layout }),
      // The register block's loops are written out where the compiler does not unroll
      // (Gpu.unrollInSource); a tile may say otherwise (tile sweeps).
      ...(kind === 'vec4' && unroll !== undefined ? { UNROLL: unroll } : {}),
      ...(q ? { SCALE_F16: q.format === 'q8' && q.scaleF16 } : { B_TYPE: args.bF16 ? 'f16' : 'f32' }),
      ENABLE_F16: args.bF16 ? 'enable f16;' : '',
    },
    uniforms,
    bindings: q ? [args.a, args.b, args.c, q.scales] : [args.a, args.b, args.c],
    workgroups: kind === 'direct'
      ? [...grid1d(rec.gpu, Math.ceil(args.M / 4) * (args.N / 4), 64, args.label ?? 'matmul'), batch]
      : [Math.ceil(args.N / tile.BN), Math.ceil(args.M / tile.BM), batch],
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
