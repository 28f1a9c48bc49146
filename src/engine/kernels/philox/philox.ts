import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import philoxSource from './philox.wgsl?raw';
import fillSource from './philox_fill.wgsl?raw';

/** WGSL library text (philox4x32_10, dropout_keep); kernels that draw random numbers prepend it. */
export const PHILOX_WGSL = philoxSource;

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of a·b for u32 a, b (16-bit halves, as philox.wgsl does it). */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const ll = aLo * bLo;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const hh = aHi * bHi;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** Philox4x32-10: four u32 words from a 4-word counter and a 2-word key. Bit-identical to philox.wgsl. */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** Where a dropout mask is drawn: one seed per run, one site per LoRA module, one step per micro-batch. */
export interface DropoutKey {
  /** The run's seed (u32). */
  seed: number;
  /** Distinguishes LoRA modules (e.g. layer·8 + projection index) so their masks are independent (u32). */
  site: number;
  /** Distinguishes micro-batches: e.g. optimizer step · accumulation steps + micro-batch index (u32). */
  step: number;
}

/** u32 threshold of a keep test `draw ≥ threshold` that drops with probability p (0 ≤ p < 1). */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
  return Math.min(0xffffffff, Math.round(p * 4294967296));
}

/** True when element (token, feature) survives dropout with probability p; same as dropout_keep in philox.wgsl. */
export function dropoutKeep(key: DropoutKey, token: number, feature: number, p: number): boolean {
  const r = philox4x32([token, feature >>> 2, key.step, 0], [key.seed, key.site]);
  return r[feature & 3] >= dropoutThreshold(p);
}

/** The inverted-dropout multiplier mask/(1−p) of a [N, C] tensor, as float64 (references and tests). */
export function dropoutScaleMask(key: DropoutKey, N: number, C: number, p: number): Float64Array {
  const out = new Float64Array(N * C);
  if (p === 0) return out.fill(1);
  const threshold = dropoutThreshold(p);
  const scale = 1 / (1 - p);
  for (let n = 0; n < N; n++) {
    for (let f4 = 0; f4 < C; f4 += 4) {
      const r = philox4x32([n, f4 >>> 2, key.step, 0], [key.seed, key.site]);
      for (let j = 0; j < 4 && f4 + j < C; j++) out[n * C + f4 + j] = r[j] >= threshold ? scale : 0;
    }
  }
  return out;
}

export const philoxFillKernel: Kernel = { name: 'philox_fill', source: philoxSource + fillSource };

/** Records out[4i..4i+3] = philox4x32((c0 + i, c1, c2, c3), key) for i < count (out holds 4·count u32). */
export function philoxFill(rec: Recorder, out: Binding, count: number, counter: readonly [number, number, number, number], key: readonly [number, number]): void {
  rec.dispatch({
    kernel: philoxFillKernel,
    uniforms: new Uniforms().u32(count).u32(counter[0]).u32(counter[1]).u32(counter[2]).u32(counter[3]).u32(key[0]).u32(key[1]).u32(0),
    bindings: [out],
    workgroups: [Math.ceil(count / 64)],
    label: 'philox fill',
  });
}
