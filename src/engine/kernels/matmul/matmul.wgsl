// Batched, tiled matmul: C[b] = alpha · op(A[b]) · op(B[b]) (+ beta · C[b] when ACCUMULATE).
//
//   op(A) is [M, K]: A stored [M, K], or [K, M] when TRANS_A
//   op(B) is [K, N]: B stored [K, N], or [N, K] when TRANS_B
//   C is [M, N], row-major.
//
// The three layouts of training are instances of it:
//   forward       Y  = X · Wᵀ    A = X [M,K],            B = W [N,K]  (TRANS_B)
//   input grad    dX = dY · W    A = dY [M,N→K],          B = W [K,N]
//   weight grad   dW = dYᵀ · X   A = dY stored [K,M] (TRANS_A), B = X [K,N]
//
// Geometry: one workgroup computes a BM×BN tile of C for batch wg.z; each of its
// (BN/TN)·(BM/TM) threads owns TM×TN outputs strided across the tile (rows ty + i·WY,
// cols tx + j·WX) so that global stores are coalesced. K is walked in BK-deep slabs staged
// in workgroup memory. Out-of-range elements load as 0, so any M, N, K (including 1) work.
// B may be stored as f16 (frozen weights on shader-f16 devices); accumulation is f32.
// lda / ldc (0 = packed) are the row strides of stored A and of C, so a kernel can read or write
// a column block of a wider matrix (a weight split by output rows, a logits chunk).
// Params and the uniform p: matmul_params.wgsl, prepended by matmul.ts.
@group(0) @binding(1) var<storage, read> A: array<f32>;
// Operand B (@binding(2), and @binding(4) when quantized) and load_b1 come from b_dense.wgsl or b_quant.wgsl.
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const TM = {{TM}}u;
const TN = {{TN}}u;
const WX = BN / TN;
const WY = BM / TM;
const THREADS = WX * WY;
const TRANS_A = {{TRANS_A}};
const TRANS_B = {{TRANS_B}};
const ACCUMULATE = {{ACCUMULATE}};

var<workgroup> As: array<f32, BK * BM>; // As[k * BM + m]
var<workgroup> Bs: array<f32, BK * BN>; // Bs[k * BN + n]

fn load_a(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TRANS_A) { return A[base + k * select(p.M, p.lda, p.lda != 0u) + m]; }
  return A[base + m * select(p.K, p.lda, p.lda != 0u) + k];
}

fn load_b(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANS_B) { return load_b1(base, n, k, p.K); }
  return load_b1(base, k, n, p.N);
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tx = li % WX;
  let ty = li / WX;
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let base_a = p.offset_a + wg.z * p.batch_stride_a;
  let base_b = p.offset_b + wg.z * p.batch_stride_b;
  let base_c = p.offset_c + wg.z * p.batch_stride_c;

  var acc: array<f32, TM * TN>;
  for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Stage the slabs; the fast-moving index follows the contiguous dimension in memory.
    for (var i = li; i < BK * BM; i += THREADS) {
      if (TRANS_A) {
        let kk = i / BM; let mm = i % BM;
        As[kk * BM + mm] = load_a(base_a, row0 + mm, k0 + kk);
      } else {
        let mm = i / BK; let kk = i % BK;
        As[kk * BM + mm] = load_a(base_a, row0 + mm, k0 + kk);
      }
    }
    for (var i = li; i < BK * BN; i += THREADS) {
      if (TRANS_B) {
        let nn = i / BK; let kk = i % BK;
        Bs[kk * BN + nn] = load_b(base_b, k0 + kk, col0 + nn);
      } else {
        let kk = i / BN; let nn = i % BN;
        Bs[kk * BN + nn] = load_b(base_b, k0 + kk, col0 + nn);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, TM>;
      var b: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { a[i] = As[kk * BM + ty + i * WY]; }
      for (var j = 0u; j < TN; j++) { b[j] = Bs[kk * BN + tx + j * WX]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
          acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let row = row0 + ty + i * WY;
    if (row >= p.M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let col = col0 + tx + j * WX;
      if (col >= p.N) { continue; }
      let idx = base_c + row * select(p.N, p.ldc, p.ldc != 0u) + col;
      var value = p.alpha * acc[i * TN + j];
      if (ACCUMULATE) { value += p.beta * C[idx]; }
      C[idx] = value;
    }
  }
}
