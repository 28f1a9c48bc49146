import type { Gpu } from '../../gpu/device';
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { createBuffer, writeBuffer } from '../../gpu/buffers';
import { GpuError } from '../../gpu/errors';
import { assertBindable, elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { weightParts, type WeightPart } from '../lora/weightParts';
import { wgslSections } from '../elementwise/sections';
import { isQuantized, layoutOf, quantBindings, quantReaderWgsl, type QuantizedWeight } from '../quant/quant';
import { resolveWeightFormat, type FrozenWeight } from '../quant/weights';
import type { QuantFormat, WeightFormat } from '../quant/layout';
import source from './embedding.wgsl?raw';
import addSource from './embedding_add.wgsl?raw';
import quantSource from './embedding_quant.wgsl?raw';

export const embeddingKernel: Kernel = { name: 'embedding', source };
export const embeddingAddKernel: Kernel = { name: 'embedding_add', source: wgslSections(addSource, ['TYPES'], 'embedding_add.wgsl') };
export const embeddingAddPositionsKernel: Kernel = { name: 'embedding_add_positions', source: wgslSections(addSource, ['NO_TYPES'], 'embedding_add.wgsl') };
/** The gather from a q8 or nf4 table (the body followed by the format's reader). */
export const embeddingQuantKernels: Record<QuantFormat, Kernel> = {
  q8: { name: 'embedding_q8', source: quantSource + quantReaderWgsl('q8') },
  nf4: { name: 'embedding_nf4', source: quantSource + quantReaderWgsl('nf4') },
};

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

function checkTableData(label: string, data: Float32Array | Uint16Array, V: number, C: number, options: UploadTableOptions): void {
  const f16 = Boolean(options.f16);
  if (f16 !== data instanceof Uint16Array) throw new GpuError(`table "${label}": f16 = ${f16} but the data is a ${data.constructor.name}`, label);
  if (data.length !== V * C) throw new GpuError(`table "${label}": ${data.length} values for [${V}, ${C}] (${V * C} expected)`, label);
}

/** A [V, C] table's buffers, empty: one per binding-sized block of rows (writeSplitWeight fills them). */
export function allocSplitWeight(gpu: Gpu, label: string, V: number, C: number, options: UploadTableOptions = {}): (WeightPart & { w: GPUBuffer })[] {
  const f16 = Boolean(options.f16);
  const maxBytes = Math.min(options.maxBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  return planRowSplit(V, C, f16 ? 2 : 4, maxBytes).map(({ firstRow, rows }, _, all) => ({
    rows,
    w: createBuffer(gpu, all.length === 1 ? label : `${label} rows ${firstRow}..${firstRow + rows - 1}`, rows * C * (f16 ? 2 : 4)),
  }));
}

/** Writes a row-major [V, C] table (f32 values, or f16 bits with `f16`) into allocSplitWeight's parts. */
export function writeSplitWeight(gpu: Gpu, label: string, parts: (WeightPart & { w: GPUBuffer })[], data: Float32Array | Uint16Array, V: number, C: number, options: UploadTableOptions = {}): void {
  checkTableData(label, data, V, C, options);
  let first = 0;
  for (const part of parts) {
    writeBuffer(gpu, part.w, data.subarray(first * C, (first + part.rows) * C));
    first += part.rows;
  }
}

/**
 * Uploads a row-major [V, C] frozen table (f32 values, or f16 bits with `f16`) as one buffer per
 * binding-sized block of rows. The result is a SplitWeight: the embedding gather and the tied LM
 * head (lmhead.ts) both read it.
 */
export function uploadSplitWeight(gpu: Gpu, label: string, data: Float32Array | Uint16Array, V: number, C: number, options: UploadTableOptions = {}): WeightPart[] {
  checkTableData(label, data, V, C, options);
  const parts = allocSplitWeight(gpu, label, V, C, options);
  writeSplitWeight(gpu, label, parts, data, V, C, options);
  return parts;
}

export interface EmbeddingForwardArgs {
  /** [N] u32 or i32 token ids */
  ids: Binding;
  /**
   * W [V, C]: one Binding (cut into binding-sized windows when too large) or parts split by rows,
   * f32 or f16; or a QuantizedWeight (q8 / nf4 rows, the same one the tied LM head reads).
   */
  w: FrozenWeight;
  /** W holds f16 values (shader-f16 devices). */
  wF16?: boolean;
  /** The storage format of w beside wF16; q8 / nf4 need a QuantizedWeight. Default: from w and wF16. */
  wFormat?: WeightFormat;
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
  const format = resolveWeightFormat(args.w, args.wFormat, args.wF16, label);
  if (isQuantized(args.w)) return quantizedGather(rec, args, args.w, label);
  const f16 = format === 'f16';
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

/** x = dequant(W)[ids], one dispatch per binding window of the quantized table. */
function quantizedGather(rec: Recorder, args: EmbeddingForwardArgs, w: QuantizedWeight, label: string): void {
  const { N, V, C } = args;
  if (w.rows !== V || w.cols !== C) throw new GpuError(`${label}: the quantized table is [${w.rows}, ${w.cols}], expected [${V}, ${C}]`, label);
  const layout = layoutOf(w);
  const windows = quantBindings(rec.gpu, w, label, args.maxBindingBytes);
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const workgroups = grid1d(rec.gpu, N * C, wg, label);
  let firstRow = 0;
  windows.forEach((q, i) => {
    rec.dispatch({
      kernel: embeddingQuantKernels[w.format],
      label: windows.length === 1 ? label : `${label} part ${i}`,
      constants: { WG: wg, SCALE_F16: layout.scaleBytes === 2 },
      uniforms: new Uniforms()
        .u32(N).u32(C).u32(V).u32(firstRow)
        .u32(q.rows).u32(i === 0 ? 1 : 0).u32(q.valueOffset).u32(q.scaleOffset)
        .u32(layout.rowWords).u32(layout.scalesPerRow).u32(0).u32(0),
      bindings: [args.ids, q.values, args.out, q.scales],
      workgroups,
    });
    firstRow += q.rows;
  });
}

export interface EncoderEmbeddingForwardArgs extends EmbeddingForwardArgs {
  /** u32 [N]: 0 … T−1 per row (BERT, DistilBERT) or robertaPositionIds (positions.ts). */
  positionIds: Binding;
  /** Wpos [P, C] (max_position_embeddings rows), same precision as W. */
  wPos: Binding;
  P: number;
  offsetPos?: number;
  /** u32 [N] token type ids (segment A 0 / B 1), with wType [TV, C]; both absent for DistilBERT. */
  tokenTypeIds?: Binding | null;
  wType?: Binding | null;
  TV?: number;
  offsetType?: number;
}

/**
 * x = (W[ids] + Wtype[tokenTypeIds]) + Wpos[positionIds]: the word gather (split tables as in
 * embeddingForward), then one pass adding the type and position rows. No backward: the encoders'
 * embeddings are frozen and nothing before them trains (a scatter-add backward would need f32
 * atomics WGSL lacks).
 */
export function encoderEmbeddingForward(rec: Recorder, args: EncoderEmbeddingForwardArgs): void {
  const label = args.label ?? 'encoder embedding forward';
  const types = Boolean(args.tokenTypeIds);
  if (types !== Boolean(args.wType)) throw new GpuError(`${label}: tokenTypeIds and wType go together`, label);
  const f16 = Boolean(args.wF16);
  assertBindable(rec.gpu, `${label} position table`, args.P * args.C, f16 ? 2 : 4);
  embeddingForward(rec, { ...args, label: `${label} words` });
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel: types ? embeddingAddKernel : embeddingAddPositionsKernel,
    label: `${label} ${types ? 'types and positions' : 'positions'}`,
    constants: { WG: wg, W_TYPE: f16 ? 'f16' : 'f32', ENABLE_F16: f16 ? 'enable f16;' : '' },
    uniforms: new Uniforms()
      .u32(args.N).u32(args.C).u32(args.P).u32(args.TV ?? 0)
      .u32(args.offsetPos ?? 0).u32(args.offsetType ?? 0).u32(0).u32(0),
    bindings: types ? [args.positionIds, args.wPos, args.tokenTypeIds!, args.wType!, args.out] : [args.positionIds, args.wPos, args.out],
    workgroups: grid1d(rec.gpu, args.N * args.C, wg, label),
  });
}
