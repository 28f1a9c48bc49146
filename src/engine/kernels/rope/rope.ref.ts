/**
 * Float64 reference of RoPE (HF rotate_half), same argument names as rope.ts.
 * x [N, H*HS], positionIds [N], invFreq [HS/2] (from ropeInvFreq).
 */
export interface RopeShape {
  N: number;
  /** Heads in x: NH for q, KVH for k. */
  heads: number;
  headSize: number;
}

/**
 * The rotation angle of (position, frequency). NOTE: HF forms it as an f32 product of the f32
 * inv_freq and the position, so the reference rounds the same way; cos and sin are then float64.
 */
export function ropeAngle(position: number, invFreq: number): number {
  return Math.fround(position * Math.fround(invFreq));
}

function rotate(x: ArrayLike<number>, positionIds: ArrayLike<number>, invFreq: ArrayLike<number>, s: RopeShape, sign: number): Float64Array {
  const { N, heads, headSize } = s;
  const half = headSize / 2;
  const out = new Float64Array(N * heads * headSize);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < heads; h++) {
      const base = (n * heads + h) * headSize;
      for (let i = 0; i < half; i++) {
        const a = ropeAngle(positionIds[n], invFreq[i]);
        const c = Math.cos(a);
        const sn = sign * Math.sin(a);
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        out[base + i] = x1 * c - x2 * sn;
        out[base + i + half] = x2 * c + x1 * sn;
      }
    }
  }
  return out;
}

/** out = x·cos + rotate_half(x)·sin, rotate_half(x) = [−x2, x1]. */
export function ropeForwardRef(x: ArrayLike<number>, positionIds: ArrayLike<number>, invFreq: ArrayLike<number>, s: RopeShape): Float64Array {
  return rotate(x, positionIds, invFreq, s, 1);
}

/**
 * Backward of `out = x·cos + rotate_half(x)·sin`: the map is a rotation R(a) of each pair
 * (x1, x2), so dx = R(a)ᵀ·dy = R(−a)·dy.
 */
export function ropeBackwardRef(dy: ArrayLike<number>, positionIds: ArrayLike<number>, invFreq: ArrayLike<number>, s: RopeShape): Float64Array {
  return rotate(dy, positionIds, invFreq, s, -1);
}
