import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { uploadBuffer } from '../../gpu/buffers';
import { GpuError } from '../../gpu/errors';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { ropeInvFreq, type RopeConfig } from '../../../formats/rope';
import source from './rope.wgsl?raw';

export const ropeKernel: Kernel = { name: 'rope', source };

/** Uploads the model's inverse frequencies [HS/2] as f32, once per model. */
export function createRopeInvFreq(gpu: Gpu, config: RopeConfig, label = 'rope invFreq'): GPUBuffer {
  return uploadBuffer(gpu, label, Float32Array.from(ropeInvFreq(config)));
}

export interface RopeArgs {
  /** [N, heads·headSize] f32, rotated in place (q, k; or their gradients in backward) */
  x: Binding;
  /** [N] u32, restarting at 0 per packed segment */
  positionIds: Binding;
  /** [headSize/2] f32 from createRopeInvFreq */
  invFreq: Binding;
  N: number;
  /** NH for q, KVH for k */
  heads: number;
  headSize: number;
  label?: string;
}

function launch(rec: Recorder, args: RopeArgs, sign: 1 | -1, label: string): void {
  if (args.headSize % 2 !== 0) throw new GpuError(`${label}: head size ${args.headSize} is odd; RoPE rotates pairs`, label);
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const half = args.headSize / 2;
  rec.dispatch({
    kernel: ropeKernel,
    label,
    constants: { WG: wg },
    uniforms: new Uniforms().u32(args.N).u32(args.heads).u32(half).u32(sign === 1 ? 0 : 1),
    bindings: [args.x, args.positionIds, args.invFreq],
    workgroups: grid1d(rec.gpu, args.N * args.heads * half, wg, label),
  });
}

/** Rotates q or k in place by their tokens' positions. */
export function ropeForward(rec: Recorder, args: RopeArgs): void {
  launch(rec, args, 1, args.label ?? 'rope forward');
}

/** Rotates dq or dk back in place (the inverse rotation). */
export function ropeBackward(rec: Recorder, args: RopeArgs): void {
  launch(rec, args, -1, args.label ?? 'rope backward');
}
