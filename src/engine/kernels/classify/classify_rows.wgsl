// Classification losses on logits [B, L] (L = num_labels, small), one row per thread: per-row loss,
// gradient and prediction. classify.ref.ts has the math of each task.
//
//   CE   (single_label_classification)  labels i32 [B] (outside [0, L): ignored)
//        row_loss[b] = lse − x[label]; dlogits[b] = grad_scale·(softmax − onehot); 0 and 0 when ignored
//   MSE  (regression)  targets f32 [B, L]:  row_loss[b] = Σ (x − y)²; dlogits = grad_scale·2(x − y)
//   BCE  (multi_label_classification)  targets f32 [B, L] in [0, 1]:
//        row_loss[b] = Σ max(x, 0) − x·y + log1p(e^(−|x|)); dlogits = grad_scale·(σ(x) − y)
//   predictions[b] = argmax_l x[b, l] (first maximum)
//   Saves nothing: the loss and its gradient come out of the same pass; classify_reduce.wgsl sums
//   the rows into lossSum, count and correct.
//
// Geometry: one thread per row, 64 per workgroup, 2-D folded grid (grid.ts).

struct Params { B: u32, L: u32, grad_scale: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<{{LABEL_TYPE}}>;
@group(0) @binding(3) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> predictions: array<u32>;

// log(1 + u) for u in [0, 1]: the series where 1 + u would round u away.
fn log1p_small(u: f32) -> f32 {
  if (u < 1e-4) { return u * (1.0 - u * (0.5 - u / 3.0)); }
  return log(1.0 + u);
}

fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn argmax_row(base: u32) -> u32 {
  var arg = 0u;
  var best = logits[base];
  for (var l = 1u; l < p.L; l++) {
    let v = logits[base + l];
    if (v > best) {
      best = v;
      arg = l;
    }
  }
  return arg;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = (wg.y * nwg.x + wg.x) * 64u + li;
  if (b >= p.B) { return; }
  let base = b * p.L;
  predictions[b] = argmax_row(base);
  var loss = 0.0;
#if CE
  let label = labels[b];
  let is_target = label >= 0 && u32(label) < p.L;
  var m = -3.0e38;
  for (var l = 0u; l < p.L; l++) { m = max(m, logits[base + l]); }
  var s = 0.0;
  for (var l = 0u; l < p.L; l++) { s += exp(logits[base + l] - m); }
  let lse = m + log(s);
  let scale = select(0.0, p.grad_scale, is_target);
  for (var l = 0u; l < p.L; l++) {
    let onehot = select(0.0, 1.0, is_target && u32(label) == l);
    dlogits[base + l] = scale * (exp(logits[base + l] - lse) - onehot);
  }
  if (is_target) { loss = lse - logits[base + u32(label)]; }
#endif
#if MSE
  for (var l = 0u; l < p.L; l++) {
    let d = logits[base + l] - labels[base + l];
    loss = fma(d, d, loss);
    dlogits[base + l] = p.grad_scale * 2.0 * d;
  }
#endif
#if BCE
  for (var l = 0u; l < p.L; l++) {
    let x = logits[base + l];
    let y = labels[base + l];
    loss += max(x, 0.0) - x * y + log1p_small(exp(-abs(x)));
    dlogits[base + l] = p.grad_scale * (sigmoid(x) - y);
  }
#endif
  row_loss[b] = loss;
}
