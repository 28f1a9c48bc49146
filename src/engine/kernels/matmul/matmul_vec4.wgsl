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
// thread (tx, ty) owns the TM×TN block at rows ty·TM…, columns tx·TN… (contiguous, so its stores
// to C are whole vec4s). K is walked in BK-deep slabs staged in workgroup memory K-contiguous,
// As[m][k/4] and Bs[n][k/4] (operands stored the other way are transposed 4×4 in registers while
// staging); per four depths a thread reads TM + TN vec4s and does TM·TN dot products. Few threads with many outputs each suits CPU-backed adapters
// (SwiftShader, lavapipe), where every barrier is a switch between invocations.
// NOTE: out-of-range vec4s load as 0 and are never stored, so M, N, K need not divide the tile.
// Params and the uniform p: matmul_params.wgsl, prepended by matmul.ts.
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
// Operand B (@binding(2), and @binding(4) when quantized) and load_b4 come from b_dense_vec4.wgsl or b_quant.wgsl.
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
const BK4 = BK / 4u;
const WX = BN / TN;
const WY = BM / TM;
const THREADS = WX * WY;
const TRANS_A = {{TRANS_A}};
const TRANS_B = {{TRANS_B}};
const ACCUMULATE = {{ACCUMULATE}};

var<workgroup> As: array<vec4<f32>, BM * BK4>; // As[m * BK4 + k/4] holds depths k…k+3 of row m
var<workgroup> Bs: array<vec4<f32>, BN * BK4>; // Bs[n * BK4 + k/4] holds depths k…k+3 of column n

// Transposes a 4×4 block held as four rows.
fn transpose4(r0: vec4<f32>, r1: vec4<f32>, r2: vec4<f32>, r3: vec4<f32>) -> array<vec4<f32>, 4> {
  return array<vec4<f32>, 4>(
    vec4<f32>(r0.x, r1.x, r2.x, r3.x), vec4<f32>(r0.y, r1.y, r2.y, r3.y),
    vec4<f32>(r0.z, r1.z, r2.z, r3.z), vec4<f32>(r0.w, r1.w, r2.w, r3.w));
}

// Stages the BM×BK slab of op(A) starting at (row0, k0), K-contiguous.
fn stage_a(base: u32, row0: u32, k0: u32, li: u32) {
  if (TRANS_A) {
    // A is [K, M]: a thread loads a 4×4 block (depths 4·k4…, rows 4·m4…) and stores its
    // transpose as four whole vec4s (SwiftShader is slow at dynamically indexed component stores).
    let M4 = p.M / 4u;
    let lda4 = select(M4, p.lda, p.lda != 0u);
    for (var i = li; i < BM4 * BK4; i += THREADS) {
      let m4 = i / BK4; let k4 = i % BK4;
      let k = k0 + k4 * 4u; let mv = row0 / 4u + m4;
      var r: array<vec4<f32>, 4>;
      for (var t = 0u; t < 4u; t++) {
        r[t] = vec4<f32>(0.0);
        if (k + t < p.K && mv < M4) { r[t] = A[base + (k + t) * lda4 + mv]; }
      }
      let c = transpose4(r[0], r[1], r[2], r[3]);
      let at = m4 * 4u * BK4 + k4;
      As[at] = c[0];
      As[at + BK4] = c[1];
      As[at + 2u * BK4] = c[2];
      As[at + 3u * BK4] = c[3];
    }
  } else {
    // A is [M, K]: vec4s run along k, straight into As.
    let K4 = p.K / 4u;
    let lda4 = select(K4, p.lda, p.lda != 0u);
    for (var i = li; i < BM * BK4; i += THREADS) {
      let mm = i / BK4; let k4 = i % BK4;
      let m = row0 + mm; let kv = k0 / 4u + k4;
      var v = vec4<f32>(0.0);
      if (m < p.M && kv < K4) { v = A[base + m * lda4 + kv]; }
      As[i] = v;
    }
  }
}

// Stages the BN×BK slab of op(B) starting at (k0, col0), K-contiguous.
fn stage_b(base: u32, k0: u32, col0: u32, li: u32) {
  if (TRANS_B) {
    // B is [N, K]: vec4s run along k, straight into Bs.
    let K4 = p.K / 4u;
    for (var i = li; i < BN * BK4; i += THREADS) {
      let nn = i / BK4; let k4 = i % BK4;
      let n = col0 + nn; let kv = k0 / 4u + k4;
      var v = vec4<f32>(0.0);
      if (n < p.N && kv < K4) { v = load_b4(base, n, kv, K4); }
      Bs[i] = v;
    }
  } else {
    // B is [K, N]: transposed through registers as for A above.
    let N4 = p.N / 4u;
    for (var i = li; i < BN4 * BK4; i += THREADS) {
      let n4 = i / BK4; let k4 = i % BK4;
      let k = k0 + k4 * 4u; let nv = col0 / 4u + n4;
      var r: array<vec4<f32>, 4>;
      for (var t = 0u; t < 4u; t++) {
        r[t] = vec4<f32>(0.0);
        if (k + t < p.K && nv < N4) { r[t] = load_b4(base, k + t, nv, N4); }
      }
      let c = transpose4(r[0], r[1], r[2], r[3]);
      let at = n4 * 4u * BK4 + k4;
      Bs[at] = c[0];
      Bs[at + BK4] = c[1];
      Bs[at + 2u * BK4] = c[2];
      Bs[at + 3u * BK4] = c[3];
    }
  }
}

// Stores alpha·v (+ beta·C) at vec4 (row, col4) of C when it is inside the matrix.
fn store_c(base_c: u32, row: u32, col4: u32, v: vec4<f32>) {
  let N4 = p.N / 4u;
  if (row >= p.M || col4 >= N4) { return; }
  let idx = base_c + row * select(N4, p.ldc, p.ldc != 0u) + col4;
  var value = p.alpha * v;
  if (ACCUMULATE) { value += p.beta * C[idx]; }
  C[idx] = value;
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
  let arow = ty * TM * BK4; // first vec4 of this thread's rows in As
  let bcol = tx * TN * BK4; // first vec4 of this thread's columns in Bs
  let crow = row0 + ty * TM;
  let ccol4 = col0 / 4u + tx * TN4;

  // acc[i * TN4 + j4] holds row crow + i, columns 4·(ccol4 + j4)…. The loops over the register
  // block are marked @unroll: written out for compilers that do not unroll (SwiftShader), so that
  // the arrays are indexed by constants and stay in registers.
  var acc: array<vec4<f32>, TM * TN4>;
  // @unroll
  for (var i = 0u; i < TM * TN4; i++) { acc[i] = vec4<f32>(0.0); }
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    stage_a(base_a, row0, k0, li);
    stage_b(base_b, k0, col0, li);
    workgroupBarrier();
    // NOTE: dot products over four depths rather than fma chains: SwiftShader lowers fma() to a
    // correctly rounded software routine, and dot() keeps the slabs K-contiguous for every layout.
    for (var k4 = 0u; k4 < BK4; k4++) {
      var b: array<vec4<f32>, TN>;
      // @unroll
      for (var j = 0u; j < TN; j++) { b[j] = Bs[bcol + j * BK4 + k4]; }
      // @unroll
      for (var i = 0u; i < TM; i++) {
        let a = As[arow + i * BK4 + k4];
        // @unroll
        for (var j4 = 0u; j4 < TN4; j4++) {
          acc[i * TN4 + j4] += vec4<f32>(dot(a, b[4u * j4]), dot(a, b[4u * j4 + 1u]), dot(a, b[4u * j4 + 2u]), dot(a, b[4u * j4 + 3u]));
        }
      }
    }
    workgroupBarrier();
  }
  // @unroll
  for (var i = 0u; i < TM; i++) {
    // @unroll
    for (var j4 = 0u; j4 < TN4; j4++) { store_c(base_c, crow + i, ccol4 + j4, acc[i * TN4 + j4]); }
  }
}
