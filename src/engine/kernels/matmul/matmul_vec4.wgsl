// Register-blocked matmul with vec4 loads and stores: the fast path of matmul.wgsl, for shapes whose
// contiguous dimensions are multiples of 4 (every projection of the supported models is).
//
//   C[b] = alpha · op(A[b]) · op(B[b]) (+ beta · C[b] when ACCUMULATE)
//   op(A) is [M, K]: A stored [M, K], or [K, M] when TRANS_A
//   op(B) is [K, N]: B stored [K, N], or [N, K] when TRANS_B
//   C is [M, N], row-major.
//
// The launcher picks this kernel only when the dimension each operand is contiguous along (A: K, or
// M when TRANS_A; B: N, or K when TRANS_B; C: N) and every offset and batch stride are multiples of 4;
// offsets, strides and lda / ldc (row strides of stored A and of C, 0 = packed; see matmul.wgsl)
// in the uniforms are then in vec4 units.
//
// Geometry: one workgroup computes a BM×BN tile of C for batch wg.z with (BM/TM)·(BN/TN) threads;
// thread (tx, ty) owns the TM×TN block at rows ty·TM…, columns tx·TN… (contiguous, so its reads of
// the staged slabs and its stores to C are whole vec4s). K is walked in BK-deep slabs staged in
// workgroup memory as As[k][m] and Bs[k][n] in vec4 units; per k step a thread reads TM/4 + TN/4
// vec4s and does TM·TN/4 vec4 FMAs. Few threads with many outputs each suits CPU-backed adapters
// (SwiftShader, lavapipe), where every barrier is a switch between invocations.
// NOTE: out-of-range vec4s load as 0 and are never stored, so M, N, K need not divide the tile.
{{ENABLE_F16}}

struct Params {
  M: u32, N: u32, K: u32, batch_stride_a: u32,
  batch_stride_b: u32, batch_stride_c: u32, offset_a: u32, offset_b: u32,
  offset_c: u32, alpha: f32, beta: f32, lda: u32,
  ldc: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<{{B_TYPE}}>>;
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;

const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const TM = {{TM}}u;
const TN = {{TN}}u;
const BM4 = BM / 4u;
const BN4 = BN / 4u;
const TM4 = TM / 4u;
const TN4 = TN / 4u;
const WX = BN / TN;
const WY = BM / TM;
const THREADS = WX * WY;
const TRANS_A = {{TRANS_A}};
const TRANS_B = {{TRANS_B}};
const ACCUMULATE = {{ACCUMULATE}};

var<workgroup> As: array<vec4<f32>, BK * BM4>; // As[k * BM4 + m/4] holds rows m…m+3 at depth k
var<workgroup> Bs: array<vec4<f32>, BK * BN4>; // Bs[k * BN4 + n/4] holds columns n…n+3 at depth k

// Stages the BK×BM slab of op(A) starting at (row0, k0).
fn stage_a(base: u32, row0: u32, k0: u32, li: u32) {
  if (TRANS_A) {
    // A is [K, M]: vec4s run along m, straight into As.
    let M4 = p.M / 4u;
    let lda4 = select(M4, p.lda, p.lda != 0u);
    for (var i = li; i < BK * BM4; i += THREADS) {
      let kk = i / BM4; let m4 = i % BM4;
      let k = k0 + kk; let mv = row0 / 4u + m4;
      var v = vec4<f32>(0.0);
      if (k < p.K && mv < M4) { v = A[base + k * lda4 + mv]; }
      As[i] = v;
    }
  } else {
    // A is [M, K]: vec4s run along k; each is scattered over four depths of As.
    let K4 = p.K / 4u;
    let lda4 = select(K4, p.lda, p.lda != 0u);
    for (var i = li; i < BM * (BK / 4u); i += THREADS) {
      let mm = i / (BK / 4u); let k4 = i % (BK / 4u);
      let m = row0 + mm; let kv = k0 / 4u + k4;
      var v = vec4<f32>(0.0);
      if (m < p.M && kv < K4) { v = A[base + m * lda4 + kv]; }
      let at = (k4 * 4u) * BM4 + mm / 4u;
      let lane = mm % 4u;
      As[at][lane] = v.x;
      As[at + BM4][lane] = v.y;
      As[at + 2u * BM4][lane] = v.z;
      As[at + 3u * BM4][lane] = v.w;
    }
  }
}

// Stages the BK×BN slab of op(B) starting at (k0, col0).
fn stage_b(base: u32, k0: u32, col0: u32, li: u32) {
  if (TRANS_B) {
    // B is [N, K]: vec4s run along k; each is scattered over four depths of Bs.
    let K4 = p.K / 4u;
    for (var i = li; i < BN * (BK / 4u); i += THREADS) {
      let nn = i / (BK / 4u); let k4 = i % (BK / 4u);
      let n = col0 + nn; let kv = k0 / 4u + k4;
      var v = vec4<f32>(0.0);
      if (n < p.N && kv < K4) { v = vec4<f32>(B[base + n * K4 + kv]); }
      let at = (k4 * 4u) * BN4 + nn / 4u;
      let lane = nn % 4u;
      Bs[at][lane] = v.x;
      Bs[at + BN4][lane] = v.y;
      Bs[at + 2u * BN4][lane] = v.z;
      Bs[at + 3u * BN4][lane] = v.w;
    }
  } else {
    // B is [K, N]: vec4s run along n, straight into Bs.
    let N4 = p.N / 4u;
    for (var i = li; i < BK * BN4; i += THREADS) {
      let kk = i / BN4; let n4 = i % BN4;
      let k = k0 + kk; let nv = col0 / 4u + n4;
      var v = vec4<f32>(0.0);
      if (k < p.K && nv < N4) { v = vec4<f32>(B[base + k * N4 + nv]); }
      Bs[i] = v;
    }
  }
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

  var acc: array<vec4<f32>, TM * TN4>; // acc[i * TN4 + j4]: row ty·TM + i, columns tx·TN + 4·j4…
  for (var i = 0u; i < TM * TN4; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    stage_a(base_a, row0, k0, li);
    stage_b(base_b, k0, col0, li);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var b: array<vec4<f32>, TN4>;
      for (var j4 = 0u; j4 < TN4; j4++) { b[j4] = Bs[kk * BN4 + tx * TN4 + j4]; }
      for (var i4 = 0u; i4 < TM4; i4++) {
        let a = As[kk * BM4 + ty * TM4 + i4];
        for (var j4 = 0u; j4 < TN4; j4++) {
          let r = i4 * 4u * TN4 + j4;
          acc[r] = fma(vec4<f32>(a.x), b[j4], acc[r]);
          acc[r + TN4] = fma(vec4<f32>(a.y), b[j4], acc[r + TN4]);
          acc[r + 2u * TN4] = fma(vec4<f32>(a.z), b[j4], acc[r + 2u * TN4]);
          acc[r + 3u * TN4] = fma(vec4<f32>(a.w), b[j4], acc[r + 3u * TN4]);
        }
      }
    }
    workgroupBarrier();
  }

  let N4 = p.N / 4u;
  let ldc4 = select(N4, p.ldc, p.ldc != 0u);
  for (var i = 0u; i < TM; i++) {
    let row = row0 + ty * TM + i;
    if (row >= p.M) { break; }
    for (var j4 = 0u; j4 < TN4; j4++) {
      let col4 = col0 / 4u + tx * TN4 + j4;
      if (col4 >= N4) { break; }
      let idx = base_c + row * ldc4 + col4;
      var value = p.alpha * acc[i * TN4 + j4];
      if (ACCUMULATE) { value += p.beta * C[idx]; }
      C[idx] = value;
    }
  }
}
