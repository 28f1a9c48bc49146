
// Workgroup reductions of one f32 per invocation (appended by the kernels that use them: rmsnorm,
// gradnorm, lmhead_ce; each declares `const WG`, its workgroup size). Every invocation of the
// workgroup calls them together and gets the result.
// NOTE: one invocation combines the WG partials, between two barriers, rather than a tree of log2(WG)
// barriers: llvmpipe compiles every barrier as a coroutine suspend point, and each level of the tree
// cost ~0.3 s of cold compile there (docs/performance.md, "First step"). `reduced` is apart from the
// partials so that the next reduction may overwrite them at once.

var<workgroup> partial: array<f32, WG>;
var<workgroup> reduced: f32;

fn reduce_sum(li: u32, value: f32) -> f32 {
  partial[li] = value;
  workgroupBarrier();
  if (li == 0u) {
    var s = partial[0];
    for (var i = 1u; i < WG; i++) { s = s + partial[i]; }
    reduced = s;
  }
  workgroupBarrier();
  return reduced;
}

fn reduce_max(li: u32, value: f32) -> f32 {
  partial[li] = value;
  workgroupBarrier();
  if (li == 0u) {
    var s = partial[0];
    for (var i = 1u; i < WG; i++) { s = max(s, partial[i]); }
    reduced = s;
  }
  workgroupBarrier();
  return reduced;
}
