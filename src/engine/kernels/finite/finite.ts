import type { Gpu } from '../../gpu/device';
import type { Kernel } from '../../gpu/pipelines';
import type { Recorder } from '../../gpu/recorder';
import { createBuffer, readU32, writeBuffer } from '../../gpu/buffers';
import { Uniforms } from '../../gpu/uniforms';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { bindingChunks } from '../gradnorm/chunks';
import source from './finite.wgsl?raw';

export const finiteKernel: Kernel = { name: 'finite_scan', source };

/** No non-finite value was found in the slot. */
export const ALL_FINITE = 0xffffffff;

export interface FiniteScanArgs {
  /** The tensor's buffer: f32 values, or f16 values packed two per word. */
  data: GPUBuffer;
  /** Values in the tensor. */
  count: number;
  f16: boolean;
  /** u32 [slots] results, ALL_FINITE before the first scan. */
  result: GPUBuffer;
  slot: number;
  label?: string;
  /** Tests force small values to exercise the chunked path. */
  maxBindingBytes?: number;
}

/** Records a scan of one tensor for its first non-finite value (chunked over the binding limit). */
export function findNonFinite(rec: Recorder, a: FiniteScanArgs): void {
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const perWord = a.f16 ? 2 : 1;
  // Chunks of words, aligned for binding offsets; each covers perWord values a word.
  const words = Math.ceil(a.count / perWord);
  const chunks = bindingChunks(rec.gpu, words, a.maxBindingBytes);
  for (const chunk of chunks) {
    const first = chunk.start * perWord;
    const count = Math.min(a.count - first, chunk.length * perWord);
    rec.dispatch({
      kernel: finiteKernel,
      label: `${a.label ?? 'finite scan'}${chunks.length > 1 ? ` @${first}` : ''}`,
      constants: { WG: wg, F16: a.f16 },
      uniforms: new Uniforms().u32(count).u32(a.slot).u32(first).u32(0),
      bindings: [{ buffer: a.data, offset: chunk.start * 4, size: chunk.length * 4 }, a.result],
      workgroups: grid1d(rec.gpu, count, wg, a.label ?? 'finite scan'),
    });
  }
}

/** A result buffer of `slots` u32, all ALL_FINITE. */
export function finiteResults(gpu: Gpu, slots: number, label = 'finite scan results'): GPUBuffer {
  const b = createBuffer(gpu, label, Math.max(1, slots) * 4);
  writeBuffer(gpu, b, new Uint32Array(Math.max(1, slots)).fill(ALL_FINITE));
  return b;
}

/** Reads the results: for each slot, the first non-finite index or -1. */
export async function readFiniteResults(gpu: Gpu, result: GPUBuffer, slots: number): Promise<number[]> {
  const r = await readU32(gpu, result, slots);
  return Array.from(r, (x) => (x === ALL_FINITE ? -1 : x));
}
