// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), a
// counter-based generator: 4 u32 outputs are a pure function of a 128-bit counter and a 64-bit key,
// so any thread can draw any element of a random stream without state. Bit-identical to philox.ts
// (test/gpu/kernels/philox.test.ts). This file is a library: kernels prepend it to their source.
//
// Dropout masks (dropout_keep) use key = (seed, site) and counter = (token, feature / 4, step, 0)
// and take lane feature % 4, so the mask of element (token, feature) at a LoRA site in a
// micro-batch step is the same whenever it is drawn: forward, backward, or after a resume.

const PHILOX_M0 = 0xD2511F53u;
const PHILOX_M1 = 0xCD9E8D57u;
const PHILOX_W0 = 0x9E3779B9u;
const PHILOX_W1 = 0xBB67AE85u;

// High 32 bits of the 64-bit product a·b, from 16-bit halves (WGSL has no 64-bit integers).
fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xFFFFu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xFFFFu;
  let b_hi = b >> 16u;
  let ll = a_lo * b_lo;
  let lh = a_lo * b_hi;
  let hl = a_hi * b_lo;
  let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var round = 0u; round < 10u; round++) {
    let hi0 = philox_mulhi(PHILOX_M0, c.x);
    let lo0 = PHILOX_M0 * c.x;
    let hi1 = philox_mulhi(PHILOX_M1, c.z);
    let lo1 = PHILOX_M1 * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
  }
  return c;
}

// True when element (token, feature) survives dropout: its 32-bit draw is ≥ threshold,
// where threshold = round(p · 2³²) (see dropoutThreshold in philox.ts).
fn dropout_keep(seed: u32, site: u32, step: u32, token: u32, feature: u32, threshold: u32) -> bool {
  let r = philox4x32_10(vec4<u32>(token, feature >> 2u, step, 0u), vec2<u32>(seed, site));
  return r[feature & 3u] >= threshold;
}
