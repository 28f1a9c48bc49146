/**
 * Float64 reference of the batched matmul, with the same arguments as the GPU launcher:
 * C[b] = alpha · op(A[b]) · op(B[b]) (+ beta · C[b] when accumulate).
 */
export interface MatmulShape {
  /** Rows of op(A) and C. */
  M: number;
  /** Columns of op(B) and C. */
  N: number;
  /** The contracted dimension. */
  K: number;
  /** A stored [K, M] instead of [M, K]. */
  transA?: boolean;
  /** B stored [N, K] instead of [K, N]. */
  transB?: boolean;
  batch?: number;
  /** Elements between consecutive batches; 0 broadcasts one matrix over the batch. */
  batchStrideA?: number;
  batchStrideB?: number;
  batchStrideC?: number;
  alpha?: number;
  /** C = alpha·AB + beta·C instead of overwriting C. */
  accumulate?: boolean;
  beta?: number;
}

export function resolveStrides(s: MatmulShape) {
  return {
    batch: s.batch ?? 1,
    strideA: s.batchStrideA ?? s.M * s.K,
    strideB: s.batchStrideB ?? s.K * s.N,
    strideC: s.batchStrideC ?? s.M * s.N,
    alpha: s.alpha ?? 1,
    beta: s.beta ?? 1,
  };
}

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, c: Float64Array, s: MatmulShape): Float64Array {
  const { batch, strideA, strideB, strideC, alpha, beta } = resolveStrides(s);
  const { M, N, K } = s;
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const av = a[z * strideA + (s.transA ? k * M + m : m * K + k)];
          const bv = b[z * strideB + (s.transB ? n * K + k : k * N + n)];
          sum += av * bv;
        }
        const idx = z * strideC + m * N + n;
        c[idx] = alpha * sum + (s.accumulate ? beta * c[idx] : 0);
      }
    }
  }
  return c;
}
