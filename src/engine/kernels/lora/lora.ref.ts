/**
 * Float64 reference of the LoRA linear fused with its frozen base projection (DESIGN.md §2):
 *
 *   x [N, IN], W [OUT, IN] frozen, b [OUT] optional, A [R, IN], B [OUT, R], s = scale
 *   xd = x ⊙ mask/(1−p)            inverted dropout, mask from Philox keyed by (seed, site, step, n, k)
 *   u  = xd·Aᵀ                     [N, R]   saved for backward
 *   y  = x·Wᵀ + b + s·u·Bᵀ         [N, OUT]
 * Without an adapter (a, b absent) it is the plain linear y = x·Wᵀ + b.
 */
import { dropoutScaleMask, type DropoutKey } from '../philox/philox';

export interface LoraShape {
  /** Tokens. */
  N: number;
  IN: number;
  OUT: number;
  /** LoRA rank (0 or absent: no adapter). */
  R?: number;
  /** s = alpha/r (or alpha/√r for rsLoRA). */
  scale?: number;
  /** Dropout probability on x before A, in [0, 1). */
  dropout?: number;
  /** Where the dropout mask is drawn (needed when dropout > 0). */
  dropoutKey?: DropoutKey;
}

export interface LoraForwardRefArgs extends LoraShape {
  x: ArrayLike<number>;
  w: ArrayLike<number>;
  bias?: ArrayLike<number> | null;
  a?: ArrayLike<number> | null;
  b?: ArrayLike<number> | null;
}

/** mask/(1−p) for every element of x (all ones without dropout). */
export function loraDropoutScale(s: LoraShape): Float64Array {
  const p = s.dropout ?? 0;
  if (p === 0) return new Float64Array(s.N * s.IN).fill(1);
  if (!s.dropoutKey) throw new RangeError('lora reference: dropout > 0 needs a dropoutKey');
  return dropoutScaleMask(s.dropoutKey, s.N, s.IN, p);
}

export function loraForwardRef(a: LoraForwardRefArgs): { y: Float64Array; u: Float64Array } {
  const { N, IN, OUT } = a;
  const R = a.a ? (a.R ?? 0) : 0;
  const s = a.scale ?? 1;
  const y = new Float64Array(N * OUT);
  const u = new Float64Array(N * R);
  const mask = loraDropoutScale(a);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < R; r++) {
      let sum = 0;
      for (let k = 0; k < IN; k++) sum += a.x[n * IN + k] * mask[n * IN + k] * a.a![r * IN + k];
      u[n * R + r] = sum;
    }
    for (let o = 0; o < OUT; o++) {
      let sum = a.bias ? a.bias[o] : 0;
      for (let k = 0; k < IN; k++) sum += a.x[n * IN + k] * a.w[o * IN + k];
      let lora = 0;
      for (let r = 0; r < R; r++) lora += u[n * R + r] * a.b![o * R + r];
      y[n * OUT + o] = sum + s * lora;
    }
  }
  return { y, u };
}

export interface LoraBackwardRefArgs extends LoraShape {
  dy: ArrayLike<number>;
  x: ArrayLike<number>;
  w: ArrayLike<number>;
  a?: ArrayLike<number> | null;
  b?: ArrayLike<number> | null;
  /** The forward's u = xd·Aᵀ [N, R]. */
  u?: ArrayLike<number> | null;
}

/**
 * Backward of `y = x·Wᵀ + b + s·(xd·Aᵀ)·Bᵀ` (gradients of this call alone; the GPU adds dA, dB into
 * existing buffers):
 *   dB = s·dyᵀ·u,  du = s·dy·B,  dA = duᵀ·xd,  dx = dy·W + (du·A) ⊙ mask/(1−p)
 */
export function loraBackwardRef(a: LoraBackwardRefArgs): { dx: Float64Array; dA: Float64Array; dB: Float64Array } {
  const { N, IN, OUT } = a;
  const R = a.a ? (a.R ?? 0) : 0;
  const s = a.scale ?? 1;
  const mask = loraDropoutScale(a);
  const dx = new Float64Array(N * IN);
  const dA = new Float64Array(R * IN);
  const dB = new Float64Array(OUT * R);
  const du = new Float64Array(N * R);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < R; r++) {
      let sum = 0;
      for (let o = 0; o < OUT; o++) sum += a.dy[n * OUT + o] * a.b![o * R + r];
      du[n * R + r] = s * sum;
    }
    for (let k = 0; k < IN; k++) {
      let base = 0;
      for (let o = 0; o < OUT; o++) base += a.dy[n * OUT + o] * a.w[o * IN + k];
      let lora = 0;
      for (let r = 0; r < R; r++) lora += du[n * R + r] * a.a![r * IN + k];
      dx[n * IN + k] = base + lora * mask[n * IN + k];
    }
  }
  for (let o = 0; o < OUT; o++)
    for (let r = 0; r < R; r++) {
      let sum = 0;
      for (let n = 0; n < N; n++) sum += a.dy[n * OUT + o] * a.u![n * R + r];
      dB[o * R + r] = s * sum;
    }
  for (let r = 0; r < R; r++)
    for (let k = 0; k < IN; k++) {
      let sum = 0;
      for (let n = 0; n < N; n++) sum += du[n * R + r] * a.x[n * IN + k] * mask[n * IN + k];
      dA[r * IN + k] = sum;
    }
  return { dx, dA, dB };
}
