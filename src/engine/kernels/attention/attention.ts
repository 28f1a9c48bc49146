/**
 * Launchers of flash attention with grouped-query heads (attention.ref.ts has the math; the .wgsl
 * headers the geometry): causal and packing-aware for decoders (attentionForward/Backward, with
 * segment ids), bidirectional with a key padding mask for encoders
 * (bidirectionalAttentionForward/Backward, with Transformers' attention_mask). Both take optional
 * dropout on the attention probabilities, its mask redrawn from Philox in every pass.
 * Forward saves lse [N, NH]; the backward recomputes the scores from q, k and lse and needs a
 * delta [N, NH] scratch. Batch rows are split into aligned binding windows when a tensor exceeds
 * maxStorageBufferBindingSize (the dropout mask stays keyed by the global token). Two kernel sets
 * compute the same: tiled (workgroup memory) and direct (none, for short heads on lavapipe), chosen
 * by attentionKernels.
 */
import type { Gpu } from '../../gpu/device';
import { GpuError } from '../../gpu/errors';
import type { Kernel } from '../../gpu/pipelines';
import type { Binding, Recorder } from '../../gpu/recorder';
import { Uniforms } from '../../gpu/uniforms';
import { rowGroups, rowWindow } from '../lora/windows';
import { wgslSections } from '../elementwise/sections';
import { dropoutThreshold, PHILOX_WGSL } from '../philox/philox';
import { attentionScale, type AttentionDropout, type AttentionShape } from './attention.ref';
import commonSource from './attention_common.wgsl?raw';
import forwardSource from './attention_forward.wgsl?raw';
import deltaSource from './attention_delta.wgsl?raw';
import dqSource from './attention_dq.wgsl?raw';
import dkdvSource from './attention_dkdv.wgsl?raw';
import forwardDirectSource from './attention_forward_direct.wgsl?raw';
import dqDirectSource from './attention_dq_direct.wgsl?raw';
import dkdvDirectSource from './attention_dkdv_direct.wgsl?raw';

export type { AttentionDropout, AttentionShape } from './attention.ref';

/** Philox and attention_common.wgsl with the bindings of one pass. */
const prelude = (pass: 'FORWARD' | 'DQ' | 'DKDV') => PHILOX_WGSL + wgslSections(commonSource, [pass], 'attention_common.wgsl');
export const attentionForwardKernel: Kernel = { name: 'attention_forward', source: prelude('FORWARD') + forwardSource };
export const attentionDeltaKernel: Kernel = { name: 'attention_delta', source: deltaSource };
export const attentionDqKernel: Kernel = { name: 'attention_dq', source: prelude('DQ') + dqSource };
export const attentionDkdvKernel: Kernel = { name: 'attention_dkdv', source: prelude('DKDV') + dkdvSource };
/** The kernels without workgroup memory (attention_forward_direct.wgsl): see attentionKernels. */
export const attentionForwardDirectKernel: Kernel = { name: 'attention_forward_direct', source: prelude('FORWARD') + forwardDirectSource };
export const attentionDqDirectKernel: Kernel = { name: 'attention_dq_direct', source: prelude('DQ') + dqDirectSource };
export const attentionDkdvDirectKernel: Kernel = { name: 'attention_dkdv_direct', source: prelude('DKDV') + dkdvDirectSource };

/** A shape or buffer the attention launchers cannot use; the message names the argument. */
export class AttentionArgumentError extends GpuError {}

/** Threads per workgroup (at most): R rows × L lanes. */
const THREADS = 64;
/**
 * Most vec4s of a head one lane keeps per register array.
 * NOTE: measured (T 256, NH 9, KVH 3): larger DV runs faster on SwiftShader (HS 64, DV 16 ≈ 2.5×
 * faster than DV 4) but lavapipe's shader compile grows steeply with it (HS 64 dk/dv pipeline: DV 16
 * 90 s, DV 8 34 s; HS 128 backward: DV 4 17 s, DV 8 28 s), and a real GPU's register file favours
 * small per-thread arrays. DV 4 keeps 16 floats per array (64 in the dk/dv kernel).
 */
const DV_MAX = 4;
/** Rows (queries or keys) per workgroup of the direct kernels: their WG. */
const DIRECT_ROWS = 64;
/** NOTE: longer tiles barely help and lengthen shader JIT time on SwiftShader. */
const TILE_CAP = 16;

/** The two sets of attention kernels (see attentionKernels). */
export type AttentionKernels = 'tiled' | 'direct';

interface Limits {
  /** Overrides the device's maxStorageBufferBindingSize (tests force the batch split with it). */
  maxBindingBytes?: number;
  /** Overrides attentionKernels' choice (tests run both sets on every adapter). */
  kernels?: AttentionKernels;
}

interface Dropout {
  /** Dropout on the attention probabilities (Transformers' attention_probs_dropout_prob); absent or p = 0: none. */
  dropout?: AttentionDropout | null;
}

export interface AttentionForwardArgs extends AttentionShape, Limits, Dropout {
  /** [N, NH*HS] */
  q: Binding;
  /** [N, KVH*HS] */
  k: Binding;
  /** [N, KVH*HS] */
  v: Binding;
  /** u32 [N]: a token attends only to earlier tokens of its batch row with the same id. */
  segmentIds: Binding;
  /** [N, NH*HS], written. */
  out: Binding;
  /** [N, NH], written: the per-row log-sum-exp the backward needs. */
  lse: Binding;
}

export interface AttentionBackwardArgs extends AttentionShape, Limits, Dropout {
  q: Binding;
  k: Binding;
  v: Binding;
  segmentIds: Binding;
  /** The forward's out [N, NH*HS] and lse [N, NH]. */
  out: Binding;
  lse: Binding;
  /** [N, NH*HS]: gradient with respect to out. */
  dout: Binding;
  /** [N, NH] f32 scratch, overwritten (Σ dout·out per row and head). */
  delta: Binding;
  /** [N, NH*HS], overwritten. */
  dq: Binding;
  /** [N, KVH*HS], overwritten with the sum over the query heads of each group. */
  dk: Binding;
  dv: Binding;
}

/** Encoder attention: `keyMask` takes the place of segment ids. */
export interface BidirectionalAttentionForwardArgs extends Omit<AttentionForwardArgs, 'segmentIds'> {
  /** u32 [N]: Transformers' attention_mask, 1 for a real token, 0 for padding (no query attends it). */
  keyMask: Binding;
}

export interface BidirectionalAttentionBackwardArgs extends Omit<AttentionBackwardArgs, 'segmentIds'> {
  keyMask: Binding;
}

function validate(s: AttentionShape & Dropout): void {
  for (const name of ['B', 'T', 'NH', 'KVH', 'HS'] as const) {
    if (!Number.isInteger(s[name]) || s[name] < 1) throw new AttentionArgumentError(`attention: ${name} must be a positive integer, got ${s[name]}`);
  }
  if (s.NH % s.KVH !== 0) throw new AttentionArgumentError(`attention: NH ${s.NH} is not a multiple of KVH ${s.KVH}`);
  if (s.HS > 256 || s.HS % 4 !== 0) throw new AttentionArgumentError(`attention: head size ${s.HS} must be a multiple of 4, at most 256`);
  const p = s.dropout?.p ?? 0;
  if (!(p >= 0 && p < 1)) throw new AttentionArgumentError(`attention: dropout p must be in [0, 1), got ${p}`);
}

/** How a kernel lays rows and head dimensions over threads (see the .wgsl headers). */
export interface AttentionGeometry {
  /** vec4s of the head per lane. */
  DV: number;
  /** Lanes per row (HS = 4·DV·L). */
  L: number;
  /** Rows per workgroup. */
  R: number;
  /** Rows of k/v (or q/dout) per workgroup-memory tile. */
  tile: number;
}

/** Geometry for head size HS; `partials` is the number of [R·tile·L] f32 arrays the kernel keeps (1 or 2). */
export function attentionGeometry(gpu: Gpu, HS: number, partials: number): AttentionGeometry {
  const HS4 = HS / 4;
  let DV = 1;
  for (let d = 1; d <= Math.min(HS4, DV_MAX); d++) if (HS4 % d === 0) DV = d;
  const L = HS4 / DV;
  const R = Math.max(1, Math.floor(THREADS / L));
  const bytes = Math.min(gpu.limits.maxComputeWorkgroupStorageSize || 16384, 32768) - 64;
  // Per tile row: two [HS] f32 tiles, the dk/dv kernel's lse and delta, and the lanes' partials.
  const perRow = 8 * HS + 8 + partials * R * L * 4;
  return { DV, L, R, tile: Math.max(1, Math.min(TILE_CAP, Math.floor(bytes / perRow))) };
}

/**
 * Which kernels attend for head size HS on this adapter — the one place of the choice:
 * - 'direct' (attention_*_direct.wgsl: one invocation per query or key row, the whole head in
 *   registers, keys read straight from storage, no workgroup memory, no barriers) where pipelines
 *   compile at their first dispatch (`Gpu.compilesAtFirstDispatch`: lavapipe) and a head fits one
 *   invocation's registers (HS ≤ 4·DV_MAX = 16: the demo models). llvmpipe compiles each barrier
 *   as a coroutine suspend point; the three tiled pipelines were ~46% of the demo's cold first step
 *   there (docs/performance.md, "First step").
 * - 'tiled' elsewhere: keys or queries staged in workgroup memory and shared by a block of rows,
 *   a head split over L lanes whose partial dot products meet in workgroup memory.
 */
export function attentionKernels(gpu: Gpu, HS: number, override?: AttentionKernels): AttentionKernels {
  if (override === 'direct' && HS / 4 > DV_MAX) throw new AttentionArgumentError(`attention: the direct kernels keep a head of at most ${4 * DV_MAX} in registers, got head size ${HS}`);
  if (override) return override;
  return gpu.compilesAtFirstDispatch && HS / 4 <= DV_MAX ? 'direct' : 'tiled';
}

function uniforms(s: AttentionShape & Dropout, tile: number, token0: number): Uniforms {
  const d = s.dropout && s.dropout.p > 0 ? s.dropout : null;
  return new Uniforms()
    .u32(s.T).u32(s.NH).u32(s.KVH).f32(attentionScale(s))
    .u32(tile).u32(token0).u32(d ? d.key.seed >>> 0 : 0).u32(d ? d.key.site >>> 0 : 0)
    .u32(d ? d.key.step >>> 0 : 0).u32(d ? dropoutThreshold(d.p) : 0).f32(d ? 1 / (1 - d.p) : 1).u32(0);
}

function modeConstants(causal: boolean, s: Dropout) {
  return { CAUSAL: causal, DROPOUT: Boolean(s.dropout && s.dropout.p > 0) };
}

/** Records out = softmax(scale·q·kᵀ + causal/segment mask)·v and lse, flash-attention style. */
export function attentionForward(rec: Recorder, a: AttentionForwardArgs): void {
  recordForward(rec, a, a.segmentIds, true);
}

/** Records out = (softmax(scale·q·kᵀ + key padding mask) ⊙ dropout)·v and lse: an encoder's self-attention. */
export function bidirectionalAttentionForward(rec: Recorder, a: BidirectionalAttentionForwardArgs): void {
  recordForward(rec, a, a.keyMask, false);
}

/** Records dq, dk, dv of causal attention (dk/dv summed over each kv group's query heads). */
export function attentionBackward(rec: Recorder, a: AttentionBackwardArgs): void {
  recordBackward(rec, a, a.segmentIds, true);
}

/** Records dq, dk, dv of bidirectional attention, the forward's dropout mask redrawn. */
export function bidirectionalAttentionBackward(rec: Recorder, a: BidirectionalAttentionBackwardArgs): void {
  recordBackward(rec, a, a.keyMask, false);
}

function recordForward(rec: Recorder, a: Omit<AttentionForwardArgs, 'segmentIds'>, seg: Binding, causal: boolean): void {
  validate(a);
  const direct = attentionKernels(rec.gpu, a.HS, a.kernels) === 'direct';
  const geo = attentionGeometry(rec.gpu, a.HS, 1);
  const QW = a.NH * a.HS;
  const KW = a.KVH * a.HS;
  // A group of batch rows is a contiguous window of every token-major tensor.
  for (const [b0, B] of rowGroups(rec.gpu, a.B, [QW * a.T, KW * a.T, a.T, a.NH * a.T], 'attention', a.maxBindingBytes)) {
    const N = B * a.T;
    const w = (binding: Binding, width: number) => (B === a.B ? binding : rowWindow(binding, b0 * a.T, N, width));
    const label = causal ? 'attention forward' : 'bidirectional attention forward';
    const bindings = [w(a.q, QW), w(a.k, KW), w(a.v, KW), w(seg, 1), w(a.out, QW), w(a.lse, a.NH)];
    if (direct) {
      rec.dispatch({
        kernel: attentionForwardDirectKernel, label, bindings,
        constants: { HS4: a.HS / 4, ...modeConstants(causal, a) },
        uniforms: uniforms(a, 0, b0 * a.T),
        workgroups: [Math.ceil(a.T / DIRECT_ROWS), a.NH, B],
      });
      continue;
    }
    rec.dispatch({
      kernel: attentionForwardKernel, label, bindings,
      constants: { HS4: a.HS / 4, DV: geo.DV, L: geo.L, R: geo.R, TK: geo.tile, ...modeConstants(causal, a) },
      uniforms: uniforms(a, geo.tile, b0 * a.T),
      workgroups: [Math.ceil(a.T / geo.R), a.NH, B],
    });
  }
}

/** Records dq, dk, dv (dk/dv summed over each kv group's query heads), recomputing scores from q, k and lse. */
function recordBackward(rec: Recorder, a: Omit<AttentionBackwardArgs, 'segmentIds'>, segmentIds: Binding, causal: boolean): void {
  validate(a);
  const direct = attentionKernels(rec.gpu, a.HS, a.kernels) === 'direct';
  const geo = attentionGeometry(rec.gpu, a.HS, 2);
  const QW = a.NH * a.HS;
  const KW = a.KVH * a.HS;
  // A group of batch rows is a contiguous window of every token-major tensor.
  for (const [b0, B] of rowGroups(rec.gpu, a.B, [QW * a.T, KW * a.T, a.T, a.NH * a.T], 'attention', a.maxBindingBytes)) {
    const N = B * a.T;
    const w = (binding: Binding, width: number) => (B === a.B ? binding : rowWindow(binding, b0 * a.T, N, width));
    const [q, k, v, seg, out, lse, dout, delta, dq, dk, dv] = [
      w(a.q, QW), w(a.k, KW), w(a.v, KW), w(segmentIds, 1), w(a.out, QW), w(a.lse, a.NH),
      w(a.dout, QW), w(a.delta, a.NH), w(a.dq, QW), w(a.dk, KW), w(a.dv, KW),
    ];
    const count = N * a.NH;
    const groups = Math.ceil(count / 64);
    const gx = Math.min(groups, rec.gpu.limits.maxComputeWorkgroupsPerDimension);
    rec.dispatch({
      kernel: attentionDeltaKernel,
      label: 'attention backward delta',
      uniforms: new Uniforms().u32(count).u32(a.HS).u32(0).u32(0),
      bindings: [out, dout, delta],
      workgroups: [gx, Math.ceil(groups / gx)],
    });
    const dqLabel = causal ? 'attention backward dq' : 'bidirectional attention backward dq';
    const dkdvLabel = causal ? 'attention backward dk dv' : 'bidirectional attention backward dk dv';
    const dqBindings = [q, k, v, seg, dout, lse, delta, dq];
    const dkdvBindings = [q, k, v, seg, dout, lse, delta, dk, dv];
    if (direct) {
      const constants = { HS4: a.HS / 4, ...modeConstants(causal, a) };
      const rows = Math.ceil(a.T / DIRECT_ROWS);
      rec.dispatch({ kernel: attentionDqDirectKernel, label: dqLabel, bindings: dqBindings, constants, uniforms: uniforms(a, 0, b0 * a.T), workgroups: [rows, a.NH, B] });
      rec.dispatch({ kernel: attentionDkdvDirectKernel, label: dkdvLabel, bindings: dkdvBindings, constants, uniforms: uniforms(a, 0, b0 * a.T), workgroups: [rows, a.KVH, B] });
      continue;
    }
    rec.dispatch({
      kernel: attentionDqKernel, label: dqLabel, bindings: dqBindings,
      constants: { HS4: a.HS / 4, DV: geo.DV, L: geo.L, R: geo.R, TK: geo.tile, ...modeConstants(causal, a) },
      uniforms: uniforms(a, geo.tile, b0 * a.T),
      workgroups: [Math.ceil(a.T / geo.R), a.NH, B],
    });
    rec.dispatch({
      kernel: attentionDkdvKernel, label: dkdvLabel, bindings: dkdvBindings,
      constants: { HS4: a.HS / 4, DV: geo.DV, L: geo.L, R: geo.R, TQ: geo.tile, ...modeConstants(causal, a) },
      uniforms: uniforms(a, geo.tile, b0 * a.T),
      workgroups: [Math.ceil(a.T / geo.R), a.KVH, B],
    });
  }
}
