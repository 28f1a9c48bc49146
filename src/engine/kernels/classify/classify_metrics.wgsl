// Evaluation statistics of a classifier, accumulated over the batches of one evaluation (one
// dispatch per batch, in order: the stream serializes them) and read back once at its end.
// classify.ref.ts (classificationStatsRef) has the math, metrics.ts turns the statistics into
// eval_accuracy, eval_f1, … as compute_metrics computes them.
//
//   CONFUSION  (single_label_classification)  labels i32 [B] (outside [0, L): ignored), predictions u32 [B]
//              counts u32 [L, L]: counts[label·L + prediction] += 1                       (atomicAdd)
//   MULTI      (multi_label_classification)   logits f32 [B, L], targets f32 [B, L]
//              counts u32 [3L + 2]: tp[l], fp[l], fn[l] at (logit > 0) vs (target > 0.5),
//              then exact-match rows and rows                                              (atomicAdd)
//   MOMENTS    (regression)  logits f32 [B, L], targets f32 [B, L]; pairs (x = logit, y = target)
//              stats f32 [8]: n, mean x, mean y, M2x, M2y, Cxy, Σ(x − y)², Σ|x − y|
//              Each batch's moments come from a two-pass reduction (its means first, then centred
//              sums) and join the running ones by Chan et al.'s pairwise update, so Pearson's r
//              keeps its digits when the targets' mean is far from zero.
//              NOTE: Σ(x − y)² and Σ|x − y| are plain f32 sums: relative error ~ √n·2⁻²⁴.
//
// Geometry: one workgroup of 256 threads, rows strided over them; the buffers are cleared by the
// launcher at the start of an evaluation.

struct Params { B: u32, L: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;

#if CONFUSION
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> predictions: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  for (var b = li; b < p.B; b += 256u) {
    let label = labels[b];
    if (label >= 0 && u32(label) < p.L) {
      atomicAdd(&counts[u32(label) * p.L + predictions[b]], 1u);
    }
  }
}
#endif

#if MULTI
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  for (var b = li; b < p.B; b += 256u) {
    var exact = true;
    for (var l = 0u; l < p.L; l++) {
      let predicted = logits[b * p.L + l] > 0.0;
      let truth = targets[b * p.L + l] > 0.5;
      if (predicted && truth) { atomicAdd(&counts[l], 1u); }
      if (predicted && !truth) { atomicAdd(&counts[p.L + l], 1u); }
      if (!predicted && truth) { atomicAdd(&counts[2u * p.L + l], 1u); }
      exact = exact && (predicted == truth);
    }
    if (exact) { atomicAdd(&counts[3u * p.L], 1u); }
    atomicAdd(&counts[3u * p.L + 1u], 1u);
  }
}
#endif

#if MOMENTS
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

var<workgroup> part: array<vec4<f32>, 256>;

fn reduce(li: u32, v: vec4<f32>) -> vec4<f32> {
  part[li] = v;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (li < stride) { part[li] = part[li] + part[li + stride]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  let count = p.B * p.L;
  // pass 1: the batch's sums of x, y and the error terms
  var s1 = vec4<f32>(0.0);
  for (var i = li; i < count; i += 256u) {
    let x = logits[i];
    let y = targets[i];
    let d = x - y;
    s1 += vec4<f32>(x, y, d * d, abs(d));
  }
  let t1 = reduce(li, s1);
  let nb = f32(count);
  let mx = t1.x / nb;
  let my = t1.y / nb;
  // pass 2: centred second moments of the batch
  var s2 = vec4<f32>(0.0);
  for (var i = li; i < count; i += 256u) {
    let dx = logits[i] - mx;
    let dy = targets[i] - my;
    s2 += vec4<f32>(dx * dx, dy * dy, dx * dy, 0.0);
  }
  let t2 = reduce(li, s2);
  if (li == 0u && count > 0u) {
    let na = stats[0];
    let n = na + nb;
    let ddx = mx - stats[1];
    let ddy = my - stats[2];
    let w = na * nb / n;
    stats[3] = stats[3] + t2.x + ddx * ddx * w;
    stats[4] = stats[4] + t2.y + ddy * ddy * w;
    stats[5] = stats[5] + t2.z + ddx * ddy * w;
    stats[1] = stats[1] + ddx * nb / n;
    stats[2] = stats[2] + ddy * nb / n;
    stats[0] = n;
    stats[6] = stats[6] + t1.z;
    stats[7] = stats[7] + t1.w;
  }
}
#endif
