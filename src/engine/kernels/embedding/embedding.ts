import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { uploadBuffer } from '../../gpu/buffers';
import { GpuError } from '../../gpu/errors';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import source from './embedding.wgsl?raw';

export const embeddingKernel: Kernel = { name: 'embedding', source };

/** A contiguous block of rows [firstRow, firstRow + rows) of a [V, C] table, in its own binding. */
export interface TablePart {
  buffer: Binding;
  firstRow: number;
  rows: number;
}

/**
 * A frozen [V, C] weight split by rows so that no part exceeds one storage binding. The LM head
 * of a tied model can read the same parts.
 */
export interface SplitTable {
  V: number;
  C: number;
  /** Stored as f16 (shader-f16 devices) rather than f32. */
  f16: boolean;
  parts: TablePart[];
}

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

/** Uploads a row-major [V, C] table (f32 values, or f16 bits with `f16`) as one buffer per part. */
export function uploadSplitTable(gpu: Gpu, label: string, data: Float32Array | Uint16Array, V: number, C: number, options: UploadTableOptions = {}): SplitTable {
  const f16 = Boolean(options.f16);
  if (f16 !== data instanceof Uint16Array) {
    throw new GpuError(`table "${label}": f16 = ${f16} but the data is a ${data.constructor.name}`, label);
  }
  if (data.length !== V * C) throw new GpuError(`table "${label}": ${data.length} values for [${V}, ${C}] (${V * C} expected)`, label);
  const maxBytes = Math.min(options.maxBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const parts = planRowSplit(V, C, f16 ? 2 : 4, maxBytes).map(({ firstRow, rows }, i, all) => ({
    firstRow,
    rows,
    buffer: uploadBuffer(gpu, all.length === 1 ? label : `${label} rows ${firstRow}..${firstRow + rows - 1}`, data.subarray(firstRow * C, (firstRow + rows) * C)),
  }));
  return { V, C, f16, parts };
}

export interface EmbeddingForwardArgs {
  /** [N] u32 or i32 token ids */
  ids: Binding;
  /** W [V, C] in parts */
  table: SplitTable;
  /** [N, C] f32, written (ids outside [0, V) give zero rows) */
  out: Binding;
  N: number;
  label?: string;
}

/** x = W[ids], one dispatch per part of the table. */
export function embeddingForward(rec: Recorder, args: EmbeddingForwardArgs): void {
  const { table, N } = args;
  const label = args.label ?? 'embedding forward';
  if (table.f16 && !rec.gpu.features.f16) {
    throw new GpuError(`${label}: the table is f16 but this device lacks shader-f16`, label);
  }
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const workgroups = grid1d(rec.gpu, N * table.C, wg, label);
  table.parts.forEach((part, i) => {
    rec.dispatch({
      kernel: embeddingKernel,
      label: table.parts.length === 1 ? label : `${label} part ${i}`,
      constants: { WG: wg, W_TYPE: table.f16 ? 'f16' : 'f32', ENABLE_F16: table.f16 ? 'enable f16;' : '' },
      uniforms: new Uniforms().u32(N).u32(table.C).u32(table.V).u32(part.firstRow).u32(part.rows).u32(i === 0 ? 1 : 0).u32(0).u32(0),
      bindings: [args.ids, part.buffer, args.out],
      workgroups,
    });
  });
}
