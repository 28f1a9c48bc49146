// Matmul without workgroup memory: the cheap-to-compile kernel for small problems on adapters that
// compile at first use (lavapipe). Same operation, layouts, operand readers and uniforms as
// matmul_vec4.wgsl, plus `flags`:
//
//   C[b] = alpha · op(A[b]) · op(B[b]) (+ beta · C[b] when accumulating)
//   op(A) is [M, K]: A stored [M, K], or [K, M] when transposed (flags bit 0)
//   op(B) is [K, N]: B stored [K, N], or [N, K] when transposed (flags bit 1)
//   accumulate: flags bit 2
//   C is [M, N], row-major; offsets, strides, lda and ldc in vec4 units (the vec4 rules apply).
// The layout and accumulation are uniforms, not compile-time constants as in the staged kernels:
// one pipeline serves every product of a model (per type of B), since each pipeline costs a compile.
//
// Geometry: each invocation owns a 4×4 block of C (rows 4·mb…, one vec4 of columns n4) and reads
// its operands straight from storage, four depths at a time, as two 4×4 matrices; no barriers.
// Invocations are numbered across the grid (workgroup wg.x + wg.y·num_workgroups.x, WG lanes each),
// n4 fastest, so thin products (N of 8) waste no lanes; wg.z is the batch.
// NOTE: llvmpipe turns a shader with workgroup barriers into coroutines, and its LLVM time grows with
// what lives across them: the staged kernels took 1–6 s each to compile cold there, this one a
// fraction of it (docs/performance.md, "First step"). It runs slower than the staged kernel on big
// problems, so the launcher keeps it for small and thin ones (chooseMatmulVec4Tile).
// Params and the uniform p: matmul_params.wgsl, prepended by matmul.ts.
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
// Operand B (@binding(2), and @binding(4) when quantized) and load_b4 come from b_dense_vec4.wgsl or b_quant.wgsl.
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;

const WG = 64u;
const TRANS_A = 1u;
const TRANS_B = 2u;
const ACCUMULATE = 4u;

// Element (r, c4) of a stored A of `rows` rows and `cols4` vec4s a row (zero outside).
fn a4(base: u32, r: u32, c4: u32, rows: u32, cols4: u32, ld4: u32) -> vec4<f32> {
  if (r < rows && c4 < cols4) { return A[base + r * ld4 + c4]; }
  return vec4<f32>(0.0);
}

// Element (r, c4) of a stored B of `rows` rows and `cols4` vec4s a row (zero outside).
fn b4(base: u32, r: u32, c4: u32, rows: u32, cols4: u32) -> vec4<f32> {
  if (r < rows && c4 < cols4) { return load_b4(base, r, c4, cols4); }
  return vec4<f32>(0.0);
}

// Column i: row m0 + i of op(A) at depths k…k+3.
fn load_a(base: u32, m0: u32, k: u32) -> mat4x4<f32> {
  if ((p.flags & TRANS_A) != 0u) {
    // A is [K, M]: four rows of depths, each a vec4 along m, transposed.
    let M4 = p.M / 4u;
    let ld = select(M4, p.lda, p.lda != 0u);
    let m4 = m0 / 4u;
    return transpose(mat4x4<f32>(a4(base, k, m4, p.K, M4, ld), a4(base, k + 1u, m4, p.K, M4, ld),
                                 a4(base, k + 2u, m4, p.K, M4, ld), a4(base, k + 3u, m4, p.K, M4, ld)));
  }
  let K4 = p.K / 4u;
  let ld = select(K4, p.lda, p.lda != 0u);
  let k4 = k / 4u;
  return mat4x4<f32>(a4(base, m0, k4, p.M, K4, ld), a4(base, m0 + 1u, k4, p.M, K4, ld),
                     a4(base, m0 + 2u, k4, p.M, K4, ld), a4(base, m0 + 3u, k4, p.M, K4, ld));
}

// Column t: depth k + t of op(B), columns 4·n4…4·n4+3.
fn load_b(base: u32, k: u32, n4: u32) -> mat4x4<f32> {
  if ((p.flags & TRANS_B) != 0u) {
    // B is [N, K]: four columns of op(B), each a vec4 along k, transposed.
    let K4 = p.K / 4u;
    let n = n4 * 4u;
    let k4 = k / 4u;
    return transpose(mat4x4<f32>(b4(base, n, k4, p.N, K4), b4(base, n + 1u, k4, p.N, K4),
                                 b4(base, n + 2u, k4, p.N, K4), b4(base, n + 3u, k4, p.N, K4)));
  }
  let N4 = p.N / 4u;
  return mat4x4<f32>(b4(base, k, n4, p.K, N4), b4(base, k + 1u, n4, p.K, N4),
                     b4(base, k + 2u, n4, p.K, N4), b4(base, k + 3u, n4, p.K, N4));
}

// Stores alpha·v (+ beta·C) at vec4 (row, col4) of C when it is inside the matrix.
fn store_c(base_c: u32, row: u32, col4: u32, v: vec4<f32>) {
  let N4 = p.N / 4u;
  if (row >= p.M) { return; }
  let idx = base_c + row * select(N4, p.ldc, p.ldc != 0u) + col4;
  var value = p.alpha * v;
  if ((p.flags & ACCUMULATE) != 0u) { value += p.beta * C[idx]; }
  C[idx] = value;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let N4 = p.N / 4u;
  let id = (wg.x + wg.y * groups.x) * WG + li;
  let n4 = id % N4;
  let m0 = (id / N4) * 4u;
  if (m0 >= p.M) { return; }
  let base_a = p.offset_a + wg.z * p.batch_stride_a;
  let base_b = p.offset_b + wg.z * p.batch_stride_b;
  let base_c = p.offset_c + wg.z * p.batch_stride_c;
  var acc = mat4x4<f32>(); // column i: row m0 + i of C, columns 4·n4…
  for (var k = 0u; k < p.K; k += 4u) {
    let a = load_a(base_a, m0, k);
    let b = load_b(base_b, k, n4);
    // NOTE: matrix · vector rather than fma(): SwiftShader lowers fma() to a slow exact routine.
    acc[0] += b * a[0];
    acc[1] += b * a[1];
    acc[2] += b * a[2];
    acc[3] += b * a[3];
  }
  store_c(base_c, m0, n4, acc[0]);
  store_c(base_c, m0 + 1u, n4, acc[1]);
  store_c(base_c, m0 + 2u, n4, acc[2]);
  store_c(base_c, m0 + 3u, n4, acc[3]);
}
