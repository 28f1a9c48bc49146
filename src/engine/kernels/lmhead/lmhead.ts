/**
 * LM head + softmax cross-entropy, fused and chunked over tokens (lmhead.ref.ts has the math):
 * for each chunk of CH tokens, logits = h·Wᵀ [CH, V] in a bounded scratch buffer, then in place
 * dlogits = gradScale·(softmax − onehot) with each row's loss saved, then dh = dlogits·W. The
 * [N × V] logits never exist at once. W [V, C] (f32, f16, or q8 / nf4 rows dequantized in the
 * matmul) may be split by vocabulary rows over several bindings. CH is a multiple of the matmul's
 * 64-row tile (chunks.ts), so each product reads W once per row tile it fills. A logits-only path
 * serves generation.
 */
import type { Gpu } from '../../gpu/device';
import { GpuError } from '../../gpu/errors';
import type { Kernel } from '../../gpu/pipelines';
import type { Binding, Recorder } from '../../gpu/recorder';
import { Uniforms } from '../../gpu/uniforms';
import { matmul } from '../matmul/matmul';
import { rowWindow } from '../lora/windows';
import { resolveWeightFormat, weightOperands, type FrozenWeight } from '../quant/weights';
import type { WeightFormat } from '../quant/layout';
import { DEFAULT_MAX_LOGITS_BYTES, fullTileRows, LmHeadChunkError, lmheadChunkTokens } from './chunks';
import ceSource from './lmhead_ce.wgsl?raw';
import reduceSource from './lmhead_reduce.wgsl?raw';
import { WORKGROUP_REDUCE_WGSL } from '../elementwise/reduce';

export { IGNORE_INDEX } from './lmhead.ref';
export { DEFAULT_MAX_LOGITS_BYTES, fullTileRows, lmheadChunkTokens, LmHeadChunkError } from './chunks';

export const lmheadCrossEntropyKernel: Kernel = { name: 'lmhead_ce', source: ceSource + WORKGROUP_REDUCE_WGSL };
export const lmheadReduceKernel: Kernel = { name: 'lmhead_reduce', source: reduceSource };

/** A shape or buffer the LM head launchers cannot use; the message names it. */
export class LmHeadArgumentError extends GpuError {}

const CE_THREADS = 256;

/**
 * Tokens per chunk on this device: lmheadChunkTokens (chunks.ts) with its binding limit; a
 * [rows, V] f32 logits chunk stays within maxBytes and fills whole 64-row matmul tiles.
 */
export function lmheadChunkRows(gpu: Pick<Gpu, 'limits'>, N: number, V: number, maxBytes = DEFAULT_MAX_LOGITS_BYTES): number {
  try {
    return lmheadChunkTokens(N, V, gpu.limits.maxStorageBufferBindingSize, maxBytes);
  } catch (error) {
    if (error instanceof LmHeadChunkError) throw new LmHeadArgumentError(error.message);
    throw error;
  }
}

export interface LmHeadWeights {
  /**
   * [V, C]: one Binding, or parts split by vocabulary rows (e.g. a tied 152k embedding over several
   * buffers), f32 or f16 (wF16); or a QuantizedWeight (q8 / nf4 rows, quant/quant.ts).
   */
  w: FrozenWeight;
  wF16?: boolean;
  /** The storage format of w beside wF16; q8 / nf4 need a QuantizedWeight. Default: from w and wF16. */
  wFormat?: WeightFormat;
  /** Tokens, hidden size, vocabulary. */
  N: number;
  C: number;
  V: number;
  /** Overrides the device's binding limit when splitting a single w (tests force a split with it). */
  maxBindingBytes?: number;
  label?: string;
}

export interface LmHeadLossArgs extends LmHeadWeights {
  /** [N, C] final normed hidden states. */
  h: Binding;
  /** i32 [N]; -100 (or anything outside [0, V)) is ignored. */
  labels: Binding;
  /** dh = gradScale · d(lossSum)/dh, e.g. 1/(target tokens of the effective batch). */
  gradScale: number;
  /** f32 [chunkRows, V] scratch for one chunk of logits (size it with lmheadChunkRows). */
  logits: Binding;
  chunkRows: number;
  /** f32 [N] scratch: each token's loss. */
  rowLoss: Binding;
  /** u32 [N] scratch: 1 where the label is the row's argmax. */
  rowCorrect: Binding;
  /** f32 [1]: Σ of the target tokens' losses. */
  lossSum: Binding;
  /** u32 [2]: number of target tokens, and of those whose label is the argmax (token accuracy). */
  targetCount: Binding;
  /** Add to lossSum/targetCount instead of overwriting (micro-batch accumulation). */
  accumulateLoss?: boolean;
  /** [N, C] gradient with respect to h: overwritten, or added to with accumulateDh. */
  dh: Binding;
  accumulateDh?: boolean;
}

export interface LmHeadLogitsArgs extends LmHeadWeights {
  /** [N, C] */
  h: Binding;
  /** [N, V], overwritten. */
  logits: Binding;
}

function check(a: LmHeadWeights): void {
  const where = a.label ?? 'lm head';
  for (const name of ['N', 'C', 'V'] as const) {
    if (!Number.isInteger(a[name]) || a[name] < 1) throw new LmHeadArgumentError(`${where}: ${name} must be a positive integer, got ${a[name]}`);
  }
}

/** Records logits [N, V] = h·Wᵀ, one vocabulary block of W at a time (generation / sampling). */
export function lmheadLogits(rec: Recorder, a: LmHeadLogitsArgs): void {
  check(a);
  const label = a.label ?? 'lm head';
  let v0 = 0;
  const format = resolveWeightFormat(a.w, a.wFormat, a.wF16, label);
  for (const part of weightOperands(rec.gpu, a.w, format, a.V, a.C, label, a.maxBindingBytes)) {
    matmul(rec, {
      ...part.operand, a: a.h, c: a.logits, M: a.N, N: part.rows, K: a.C, transB: true,
      offsetC: v0, ldc: a.V, label: `${label} logits`,
    });
    v0 += part.rows;
  }
}

/** Records lossSum, targetCount and dh of mean-free cross-entropy over all N tokens, chunk by chunk. */
export function lmheadLoss(rec: Recorder, a: LmHeadLossArgs): void {
  check(a);
  const label = a.label ?? 'lm head';
  const { N, C, V } = a;
  if (!Number.isInteger(a.chunkRows) || a.chunkRows < 1) throw new LmHeadArgumentError(`${label}: chunkRows must be a positive integer, got ${a.chunkRows}`);
  const limit = Math.min(a.maxBindingBytes ?? Infinity, rec.gpu.limits.maxStorageBufferBindingSize);
  if (a.chunkRows * V * 4 > limit) {
    throw new LmHeadArgumentError(`${label}: a logits chunk of ${a.chunkRows}×${V} f32 exceeds the binding limit of ${limit} bytes`);
  }
  const format = resolveWeightFormat(a.w, a.wFormat, a.wF16, label);
  const parts = weightOperands(rec.gpu, a.w, format, V, C, label, a.maxBindingBytes);
  // h and dh beyond the binding limit are bound one chunk at a time, at aligned offsets.
  const windowed = N * C * 4 > limit;
  // Chunks fill whole row tiles of the matmul (chunks.ts): a scratch sized for 85 rows runs 64.
  let chunkRows = N > a.chunkRows ? fullTileRows(a.chunkRows) : a.chunkRows;
  if (windowed) {
    const align = Math.max(256, rec.gpu.limits.minStorageBufferOffsetAlignment || 256);
    const step = align / gcd(C * 4, align);
    chunkRows = Math.floor(Math.min(chunkRows, Math.floor(limit / (C * 4))) / step) * step;
    if (chunkRows < 1) throw new LmHeadArgumentError(`${label}: h [${N}, ${C}] exceeds the binding limit and chunks of ${a.chunkRows} rows cannot be aligned to ${align} bytes`);
  }
  const maxDim = rec.gpu.limits.maxComputeWorkgroupsPerDimension;
  for (let row0 = 0; row0 < N; row0 += chunkRows) {
    const rows = Math.min(chunkRows, N - row0);
    const h = windowed ? rowWindow(a.h, row0, rows, C) : a.h;
    const dh = windowed ? rowWindow(a.dh, row0, rows, C) : a.dh;
    const hOffset = windowed ? 0 : row0 * C;
    // logits[rows, V] = h[row0 : row0+rows] · Wᵀ
    let v0 = 0;
    for (const part of parts) {
      matmul(rec, {
        ...part.operand, a: h, c: a.logits, M: rows, N: part.rows, K: C, transB: true,
        offsetA: hOffset, offsetC: v0, ldc: V, label: `${label} logits chunk`,
      });
      v0 += part.rows;
    }
    // logits → gradScale·(softmax − onehot), rowLoss   (backward of loss = lse − logit[label])
    const gx = Math.min(rows, maxDim);
    rec.dispatch({
      kernel: lmheadCrossEntropyKernel,
      label: `${label} cross-entropy`,
      constants: { WG: CE_THREADS },
      uniforms: new Uniforms().u32(V).u32(rows).u32(row0).f32(a.gradScale),
      bindings: [a.logits, a.labels, a.rowLoss, a.rowCorrect],
      workgroups: [gx, Math.ceil(rows / gx)],
    });
    // dh[row0 : row0+rows] (+)= dlogits · W   (backward of logits = h·Wᵀ)
    v0 = 0;
    parts.forEach((part, i) => {
      matmul(rec, {
        ...part.operand, a: a.logits, c: dh, M: rows, N: C, K: part.rows,
        offsetA: v0, lda: V, offsetC: hOffset,
        accumulate: Boolean(a.accumulateDh) || i > 0, beta: 1, label: `${label} dh chunk`,
      });
      v0 += part.rows;
    });
  }
  rec.dispatch({
    kernel: lmheadReduceKernel,
    label: `${label} loss sum`,
    uniforms: new Uniforms().u32(N).u32(V).u32(a.accumulateLoss ? 1 : 0).u32(0),
    bindings: [a.rowLoss, a.labels, a.lossSum, a.targetCount, a.rowCorrect],
    workgroups: [1],
  });
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
