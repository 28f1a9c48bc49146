import type { Gpu } from '../../gpu/device';
import { GpuError } from '../../gpu/errors';
import type { Kernel } from '../../gpu/pipelines';
import type { Binding, Recorder } from '../../gpu/recorder';
import { Uniforms } from '../../gpu/uniforms';
import { attentionScale, type AttentionShape } from './attention.ref';
import forwardSource from './attention_forward.wgsl?raw';
import deltaSource from './attention_delta.wgsl?raw';
import dqSource from './attention_dq.wgsl?raw';
import dkdvSource from './attention_dkdv.wgsl?raw';

export type { AttentionShape } from './attention.ref';

export const attentionForwardKernel: Kernel = { name: 'attention_forward', source: forwardSource };
export const attentionDeltaKernel: Kernel = { name: 'attention_delta', source: deltaSource };
export const attentionDqKernel: Kernel = { name: 'attention_dq', source: dqSource };
export const attentionDkdvKernel: Kernel = { name: 'attention_dkdv', source: dkdvSource };

/** A shape or buffer the attention launchers cannot use; the message names the argument. */
export class AttentionArgumentError extends GpuError {}

/** Rows per workgroup (one thread per query or key row). */
const WG = 64;
/** NOTE: longer tiles barely help and multiply shader JIT time (SwiftShader: tens of seconds). */
const TILE_CAP = 16;

interface Limits {
  /** Overrides the device's maxStorageBufferBindingSize (tests force the batch split with it). */
  maxBindingBytes?: number;
}

export interface AttentionForwardArgs extends AttentionShape, Limits {
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

export interface AttentionBackwardArgs extends AttentionShape, Limits {
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

function validate(s: AttentionShape): void {
  for (const name of ['B', 'T', 'NH', 'KVH', 'HS'] as const) {
    if (!Number.isInteger(s[name]) || s[name] < 1) throw new AttentionArgumentError(`attention: ${name} must be a positive integer, got ${s[name]}`);
  }
  if (s.NH % s.KVH !== 0) throw new AttentionArgumentError(`attention: NH ${s.NH} is not a multiple of KVH ${s.KVH}`);
  if (s.HS > 256 || s.HS % 4 !== 0) throw new AttentionArgumentError(`attention: head size ${s.HS} must be a multiple of 4, at most 256`);
}

/** Rows of k/v (or q/dout) per workgroup-memory tile: as many as fit two [tile, HS] f32 arrays. */
export function attentionTileRows(gpu: Gpu, HS: number): number {
  const bytes = Math.min(gpu.limits.maxComputeWorkgroupStorageSize || 16384, 32768);
  // Two [rows, HS] tiles plus two [rows] vectors (the dk/dv kernel's lse and delta).
  return Math.max(1, Math.min(TILE_CAP, Math.floor(bytes / (8 * HS + 8))));
}

function uniforms(s: AttentionShape, tile: number): Uniforms {
  return new Uniforms().u32(s.T).u32(s.NH).u32(s.KVH).f32(attentionScale(s)).u32(tile).u32(0).u32(0).u32(0);
}

/** A window of a token-major tensor: tokens [n0, n0 + count) of `width` f32 per token. */
function window(binding: Binding, n0: number, count: number, width: number): Binding {
  const buffer = 'buffer' in binding ? binding.buffer : binding;
  const base = 'buffer' in binding ? (binding.offset ?? 0) : 0;
  return { buffer, offset: base + n0 * width * 4, size: count * width * 4 };
}

/**
 * Batch rows per dispatch so that no binding exceeds the binding limit: all B at once when they
 * fit, else groups whose byte offsets keep the 256-byte binding alignment. Every tensor is
 * token-major, so a group of rows is a contiguous window of each.
 */
function batchGroups(gpu: Gpu, s: AttentionShape, widths: number[], maxBindingBytes?: number): [number, number][] {
  const limit = Math.min(maxBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
  const rowBytes = widths.map((w) => s.T * w * 4);
  const widest = Math.max(...rowBytes);
  if (s.B * widest <= limit) return [[0, s.B]];
  const align = Math.max(256, gpu.limits.minStorageBufferOffsetAlignment || 256);
  const step = rowBytes.reduce((l, bytes) => lcm(l, align / gcd(bytes, align)), 1);
  const rows = Math.floor(Math.floor(limit / widest) / step) * step;
  if (rows < 1) {
    throw new AttentionArgumentError(
      `attention: ${step} batch row(s) of ${widest} bytes (the alignment unit) exceed the binding limit of ${limit} bytes; use shorter rows`,
    );
  }
  const groups: [number, number][] = [];
  for (let b0 = 0; b0 < s.B; b0 += rows) groups.push([b0, Math.min(rows, s.B - b0)]);
  return groups;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** Records out = softmax(scale·q·kᵀ + causal/segment mask)·v and lse, flash-attention style. */
export function attentionForward(rec: Recorder, a: AttentionForwardArgs): void {
  validate(a);
  const tile = attentionTileRows(rec.gpu, a.HS);
  const QW = a.NH * a.HS;
  const KW = a.KVH * a.HS;
  for (const [b0, B] of batchGroups(rec.gpu, a, [QW, KW, 1, a.NH], a.maxBindingBytes)) {
    const n0 = b0 * a.T;
    const N = B * a.T;
    const w = (binding: Binding, width: number) => (B === a.B ? binding : window(binding, n0, N, width));
    rec.dispatch({
      kernel: attentionForwardKernel,
      label: 'attention forward',
      constants: { HS4: a.HS / 4, WG, TK: tile },
      uniforms: uniforms(a, tile),
      bindings: [w(a.q, QW), w(a.k, KW), w(a.v, KW), w(a.segmentIds, 1), w(a.out, QW), w(a.lse, a.NH)],
      workgroups: [Math.ceil(a.T / WG), a.NH, B],
    });
  }
}

/** Records dq, dk, dv (dk/dv summed over each kv group's query heads), recomputing scores from q, k and lse. */
export function attentionBackward(rec: Recorder, a: AttentionBackwardArgs): void {
  validate(a);
  const tile = attentionTileRows(rec.gpu, a.HS);
  const QW = a.NH * a.HS;
  const KW = a.KVH * a.HS;
  for (const [b0, B] of batchGroups(rec.gpu, a, [QW, KW, 1, a.NH], a.maxBindingBytes)) {
    const n0 = b0 * a.T;
    const N = B * a.T;
    const w = (binding: Binding, width: number) => (B === a.B ? binding : window(binding, n0, N, width));
    const [q, k, v, seg, out, lse, dout, delta, dq, dk, dv] = [
      w(a.q, QW), w(a.k, KW), w(a.v, KW), w(a.segmentIds, 1), w(a.out, QW), w(a.lse, a.NH),
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
    rec.dispatch({
      kernel: attentionDqKernel,
      label: 'attention backward dq',
      constants: { HS4: a.HS / 4, WG, TK: tile },
      uniforms: uniforms(a, tile),
      bindings: [q, k, v, seg, dout, lse, delta, dq],
      workgroups: [Math.ceil(a.T / WG), a.NH, B],
    });
    rec.dispatch({
      kernel: attentionDkdvKernel,
      label: 'attention backward dk dv',
      constants: { HS4: a.HS / 4, WG, TQ: tile },
      uniforms: uniforms(a, tile),
      bindings: [q, k, v, seg, dout, lse, delta, dk, dv],
      workgroups: [Math.ceil(a.T / WG), a.KVH, B],
    });
  }
}
