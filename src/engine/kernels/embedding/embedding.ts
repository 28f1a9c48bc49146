import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { uploadBuffer } from '../../gpu/buffers';
import { GpuError } from '../../gpu/errors';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { weightParts, type SplitWeight, type WeightPart } from '../lora/weightParts';
import source from './embedding.wgsl?raw';

export const embeddingKernel: Kernel = { name: 'embedding', source };

/** Row ranges of a [V, C] table with `bytesPerElement`, each at most `maxBindingBytes` long. */
export function planRowSplit(V: number, C: number, bytesPerElement: number, maxBindingBytes: number): { firstRow: number; rows: number }[] {
  // Keep whole rows and keep each part's byte length a multiple of 4 (f16 rows of odd C pair up).
  const rowBytes = C * bytesPerElement;
  let rowsPerPart = Math.floor(maxBindingBytes / rowBytes);
  if (rowsPerPart > 1 && (rowsPerPart * rowBytes) % 4 !== 0) rowsPerPart -= 1;
  if (rowsPerPart < 1) {
    throw new GpuError(`a table row of C = ${C} (${rowBytes} bytes) does not fit in a binding of ${maxBindingBytes} bytes`);
  }
  const parts: { firstRow: number; rows: number }[] = [];
  for (let first = 0; first < V; first += rowsPerPart) parts.push({ firstRow: first, rows: Math.min(rowsPerPart, V - first) });
  return parts;
}

export interface UploadTableOptions {
  /** `data` holds IEEE half bits (Uint16Array) to be stored as f16. */
  f16?: boolean;
  /** Defaults to the device's maxStorageBufferBindingSize; tests force small values to exercise the split. */
  maxBindingBytes?: number;
}

/**
 * Uploads a row-major [V, C] frozen table (f32 values, or f16 bits with `f16`) as one buffer per
 * binding-sized block of rows. The result is a SplitWeight: the embedding gather and the tied LM
 * head (lmhead.ts) both read it.
 */
export function uploadSplitWeight(gpu: Gpu, label: string, data: Float32Array | Uint16Array, V: number, C: number, options: UploadTableOptions = {}): WeightPart[] {
  const f16 = Boolean(options.f16);
  if (f16 !== data instanceof Uint16Array) {
    throw new GpuError(`table "${label}": f16 = ${f16} but the data is a ${data.constructor.name}`, label);
  }
  if (data.length !== V * C) throw new GpuError(`table "${label}": ${data.length} values for [${V}, ${C}] (${V * C} expected)`, label);
  const maxBytes = Math.min(options.maxBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  return planRowSplit(V, C, f16 ? 2 : 4, maxBytes).map(({ firstRow, rows }, _, all) => ({
    rows,
    w: uploadBuffer(gpu, all.length === 1 ? label : `${label} rows ${firstRow}..${firstRow + rows - 1}`, data.subarray(firstRow * C, (firstRow + rows) * C)),
  }));
}

export interface EmbeddingForwardArgs {
  /** [N] u32 or i32 token ids */
  ids: Binding;
  /** W [V, C]: one Binding (cut into binding-sized windows when too large) or parts split by rows */
  w: SplitWeight;
  /** W holds f16 values (shader-f16 devices). */
  wF16?: boolean;
  V: number;
  C: number;
  N: number;
  /** [N, C] f32, written (ids outside [0, V) give zero rows) */
  out: Binding;
  /** Overrides the device's binding limit when splitting a single w (tests force a split with it). */
  maxBindingBytes?: number;
  label?: string;
}

/** x = W[ids], one dispatch per part of the table. */
export function embeddingForward(rec: Recorder, args: EmbeddingForwardArgs): void {
  const { N, V, C } = args;
  const label = args.label ?? 'embedding forward';
  const f16 = Boolean(args.wF16);
  if (f16 && !rec.gpu.features.f16) {
    throw new GpuError(`${label}: the table is f16 but this device lacks shader-f16`, label);
  }
  const parts = weightParts(rec.gpu, args.w, V, C, f16, label, args.maxBindingBytes);
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const workgroups = grid1d(rec.gpu, N * C, wg, label);
  let firstRow = 0;
  parts.forEach((part, i) => {
    rec.dispatch({
      kernel: embeddingKernel,
      label: parts.length === 1 ? label : `${label} part ${i}`,
      constants: { WG: wg, W_TYPE: f16 ? 'f16' : 'f32', ENABLE_F16: f16 ? 'enable f16;' : '' },
      uniforms: new Uniforms()
        .u32(N).u32(C).u32(V).u32(firstRow)
        .u32(part.rows).u32(i === 0 ? 1 : 0).u32(part.offset ?? 0).u32(0),
      bindings: [args.ids, part.w, args.out],
      workgroups,
    });
    firstRow += part.rows;
  });
}
