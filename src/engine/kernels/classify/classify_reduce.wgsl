// Sums a batch's classification rows: lossSum (+)= Σ_b rowLoss[b], count (+)= what the mean divides
// by, correct (+)= right predictions (classify.ref.ts: labelled rows for CE; B·L elements for MSE and
// BCE, whose correct counts elements with (logit > 0) = (target > 0.5); MSE's correct adds 0).
//
//   CE   rowLoss f32 [B], labels i32 [B], predictions u32 [B]    → lossSum f32 [1], count u32 [1], correct u32 [1]
//   MSE  rowLoss                                                → the same
//   BCE  rowLoss, targets f32 [B, L], logits [B, L]             → the same
// Geometry: one workgroup of 256 threads; strided partial sums, then a tree reduction.
// ACCUMULATE adds onto the buffers' values (micro-batches of a step, or batches of an evaluation).

struct Params { B: u32, L: u32, accumulate: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
#if CE
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read> predictions: array<u32>;
@group(0) @binding(4) var<storage, read_write> loss_sum: array<f32>;
@group(0) @binding(5) var<storage, read_write> count: array<u32>;
@group(0) @binding(6) var<storage, read_write> correct: array<u32>;
#endif
#if MSE
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss_sum: array<f32>;
@group(0) @binding(3) var<storage, read_write> count: array<u32>;
@group(0) @binding(4) var<storage, read_write> correct: array<u32>;
#endif
#if BCE
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss_sum: array<f32>;
@group(0) @binding(5) var<storage, read_write> count: array<u32>;
@group(0) @binding(6) var<storage, read_write> correct: array<u32>;
#endif

var<workgroup> sums: array<f32, 256>;
var<workgroup> counts: array<vec2<u32>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  var c = vec2<u32>(0u); // (count, correct)
  for (var b = li; b < p.B; b += 256u) {
    s += row_loss[b];
#if CE
    let label = labels[b];
    if (label >= 0 && u32(label) < p.L) {
      c += vec2<u32>(1u, select(0u, 1u, predictions[b] == u32(label)));
    }
#endif
#if MSE
    c.x += p.L;
#endif
#if BCE
    c.x += p.L;
    for (var l = 0u; l < p.L; l++) {
      c.y += select(0u, 1u, (logits[b * p.L + l] > 0.0) == (labels[b * p.L + l] > 0.5));
    }
#endif
  }
  sums[li] = s;
  counts[li] = c;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (li < stride) {
      sums[li] = sums[li] + sums[li + stride];
      counts[li] = counts[li] + counts[li + stride];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    if (p.accumulate != 0u) {
      loss_sum[0] = loss_sum[0] + sums[0];
      count[0] = count[0] + counts[0].x;
      correct[0] = correct[0] + counts[0].y;
    } else {
      loss_sum[0] = sums[0];
      count[0] = counts[0].x;
      correct[0] = counts[0].y;
    }
  }
}
