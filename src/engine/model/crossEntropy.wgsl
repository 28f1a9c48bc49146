// Softmax cross-entropy over one chunk of logits, in place: the engine's unfused LM-head loss
// (logits chunk = hf·Wᵀ by the matmul, then this, then dhf = dlogits·W by the matmul).
//
//   logits [rows, V] (read, then overwritten with dlogits), labels i32 [N] (-100 = ignore)
//   loss[rowOffset + r] = lse_r − logits[r, label]           (0 for ignored rows)
//   dlogits[r, j]       = gradScale · (softmax_r[j] − [j = label])   (0 for ignored rows)
//
// Geometry: one workgroup of WG threads per row (2-D folded grid); each thread strides over V,
// then tree reductions for the max and the sum in workgroup memory.

struct Params {
  rows: u32, V: u32, row_offset: u32, grad_scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

const WG = {{WG}}u;
var<workgroup> partial: array<f32, WG>;

fn reduce(li: u32, value: f32, is_max: bool) -> f32 {
  partial[li] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (li < stride) {
      if (is_max) { partial[li] = max(partial[li], partial[li + stride]); }
      else { partial[li] = partial[li] + partial[li + stride]; }
    }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.rows) { return; } // uniform per workgroup
  let base = row * p.V;
  let label = labels[p.row_offset + row];
  var m = -3.4e38;
  for (var j = li; j < p.V; j += WG) { m = max(m, logits[base + j]); }
  m = reduce(li, m, true);
  var s = 0.0;
  for (var j = li; j < p.V; j += WG) { s += exp(logits[base + j] - m); }
  s = reduce(li, s, false);
  let lse = m + log(s);
  let ignored = label < 0;
  let label_index = u32(max(label, 0));
  if (li == 0u) { loss[p.row_offset + row] = select(lse - logits[base + label_index], 0.0, ignored); }
  workgroupBarrier();
  for (var j = li; j < p.V; j += WG) {
    let onehot = select(0.0, 1.0, j == label_index);
    logits[base + j] = select(p.grad_scale * (exp(logits[base + j] - lse) - onehot), 0.0, ignored);
  }
}
