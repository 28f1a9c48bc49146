// Softmax cross-entropy over one chunk of logits, in place: logits → dlogits.
//
//   logits [CH, V] (rows row0 .. row0+CH of the token batch), labels i32 [N] (out of [0, V): ignored)
//   rowLoss[n] = lse_n − logits_n[label_n]  (0 when ignored)
//   rowCorrect[n] = 1 when the label's logit is the row's largest (argmax = label; a tie counts), else 0
//   logits_n  ← gradScale · (softmax(logits_n) − onehot(label_n))   (0 when ignored)
// Geometry: one workgroup of WG threads per row (x + y·nx over a 2-D grid); three strided passes
// over the row (max, Σ exp, gradient) with reductions in workgroup memory.
// NOTE: the ignore decision is folded in arithmetically, not by branching around the barriers.

struct Params { V: u32, rows: u32, row0: u32, grad_scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_correct: array<u32>;

const WG = {{WG}}u;
// reduce_sum, reduce_max: ../elementwise/workgroup_reduce.wgsl, appended.

var<workgroup> target_logit: f32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = wg.y * nwg.x + wg.x;
  if (r >= p.rows) { return; } // whole workgroup leaves together
  let n = p.row0 + r;
  let label = labels[n];
  let is_target = label >= 0 && u32(label) < p.V;
  let lbl = select(0u, u32(label), is_target);
  let base = r * p.V;

  if (li == 0u) { target_logit = logits[base + lbl]; }
  var m = -3.0e38;
  for (var v = li; v < p.V; v += WG) { m = max(m, logits[base + v]); }
  m = reduce_max(li, m);
  var s = 0.0;
  for (var v = li; v < p.V; v += WG) { s += exp(logits[base + v] - m); }
  s = reduce_sum(li, s);
  let lse = m + log(s);
  let scale = select(0.0, p.grad_scale, is_target);
  for (var v = li; v < p.V; v += WG) {
    let onehot = select(0.0, 1.0, is_target && v == lbl);
    logits[base + v] = scale * (exp(logits[base + v] - lse) - onehot);
  }
  if (li == 0u) {
    row_loss[n] = select(0.0, lse - target_logit, is_target);
    row_correct[n] = select(0u, 1u, is_target && target_logit >= m);
  }
}
