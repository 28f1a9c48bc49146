// Sums the per-token losses of a batch: lossSum (+)= Σ_n rowLoss[n], targetCount[0] (+)= #{n: label_n in [0, V)},
// targetCount[1] (+)= Σ_n rowCorrect[n] (targets whose label is the argmax: token accuracy).
//
//   rowLoss f32 [N], labels i32 [N], rowCorrect u32 [N] → lossSum f32 [1], targetCount u32 [2]
// Geometry: one workgroup of 256 threads; strided partial sums, then thread 0 adds the 256 partials
// (one barrier: llvmpipe compiles each barrier as a coroutine suspend point, see rmsnorm.wgsl).
// ACCUMULATE adds onto the buffers' values (gradient accumulation over micro-batches).

struct Params { N: u32, V: u32, accumulate: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> loss_sum: array<f32>;
@group(0) @binding(4) var<storage, read_write> target_count: array<u32>;
@group(0) @binding(5) var<storage, read> row_correct: array<u32>;

var<workgroup> sums: array<f32, 256>;
var<workgroup> counts: array<u32, 256>;
var<workgroup> corrects: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  var c = 0u;
  var k = 0u;
  for (var n = li; n < p.N; n += 256u) {
    let label = labels[n];
    if (label >= 0 && u32(label) < p.V) {
      s += row_loss[n];
      c += 1u;
      k += row_correct[n];
    }
  }
  sums[li] = s;
  counts[li] = c;
  corrects[li] = k;
  workgroupBarrier();
  if (li == 0u) {
    for (var i = 1u; i < 256u; i++) {
      sums[0] += sums[i];
      counts[0] += counts[i];
      corrects[0] += corrects[i];
    }
    if (p.accumulate != 0u) {
      loss_sum[0] = loss_sum[0] + sums[0];
      target_count[0] = target_count[0] + counts[0];
      target_count[1] = target_count[1] + corrects[0];
    } else {
      loss_sum[0] = sums[0];
      target_count[0] = counts[0];
      target_count[1] = corrects[0];
    }
  }
}
