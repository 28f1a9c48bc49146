/**
 * Quantized frozen weights on the GPU (layouts in layout.ts, math in quant.ref.ts):
 *
 *   quantizeRows     records the quantization of one staged chunk of raw rows (F32/F16/BF16 bytes)
 *                    into rows of a q8 or nf4 weight part
 *   uploadQuantized  streams a tensor in a chunk at a time through one bounded staging buffer, so
 *                    host and GPU memory stay flat: only the quantized weight is ever whole
 *   quantBindings    the weight's parts cut to the binding limit, for the matmul / gather launchers
 *
 * The matmuls dequantize in the kernel (matmul/b_quant.wgsl with q8.wgsl or nf4.wgsl): the packed
 * values are read per tile and dequantized into workgroup memory, so the tuned tiling is kept.
 */
import type { Gpu } from '../../gpu/device';
import { createBuffer, writeBuffer } from '../../gpu/buffers';
import { GpuError } from '../../gpu/errors';
import type { Kernel } from '../../gpu/pipelines';
import { Recorder, type Binding } from '../../gpu/recorder';
import { Uniforms } from '../../gpu/uniforms';
import { grid1d } from '../elementwise/grid';
import { quantLayout, quantPartRows, scaleBytes, valueBytes, type QuantFormat, type QuantLayout } from './layout';
import type { SourceDtype } from './quant.ref';
import sourceWgsl from './source.wgsl?raw';
import nf4CodeWgsl from './nf4_code.wgsl?raw';
import quantizeQ8Wgsl from './quantize_q8.wgsl?raw';
import quantizeNf4Wgsl from './quantize_nf4.wgsl?raw';
import q8Wgsl from './q8.wgsl?raw';
import nf4Wgsl from './nf4.wgsl?raw';

export type { QuantFormat, WeightFormat } from './layout';
export type { SourceDtype } from './quant.ref';

export const quantizeQ8Kernel: Kernel = { name: 'quantize_q8', source: quantizeQ8Wgsl + sourceWgsl };
export const quantizeNf4Kernel: Kernel = { name: 'quantize_nf4', source: quantizeNf4Wgsl + sourceWgsl + nf4CodeWgsl };

/**
 * WGSL of a quantized operand's reader (bindings @2 values, @4 scales; dequant1 / dequant4), to be
 * appended to a kernel that calls it (matmul via b_quant.wgsl, the embedding gather).
 */
export function quantReaderWgsl(format: QuantFormat): string {
  return format === 'q8' ? q8Wgsl : nf4Wgsl + nf4CodeWgsl;
}

/** A shape, buffer or option the quantization launchers cannot use; the message names it. */
export class QuantArgumentError extends GpuError {}

/** Rows [firstRow, firstRow + rows) of a quantized weight, in buffers of their own. */
export interface QuantPart {
  rows: number;
  /** u32 [rows · rowWords] packed values. */
  values: GPUBuffer;
  /** Scales of these rows (layout.ts), from index 0. */
  scales: GPUBuffer;
}

/** A frozen weight W [rows, cols] stored q8 or nf4 (layout.ts). */
export interface QuantizedWeight {
  format: QuantFormat;
  rows: number;
  cols: number;
  /** q8 scales stored f16 (nf4 absmax is always f16). */
  scaleF16: boolean;
  /** Row blocks in order, each within one buffer and one binding (one part unless the weight is large). */
  parts: QuantPart[];
}

export function isQuantized(w: unknown): w is QuantizedWeight {
  return typeof w === 'object' && w !== null && 'format' in w && 'parts' in w && Array.isArray((w as QuantizedWeight).parts);
}

export function layoutOf(w: Pick<QuantizedWeight, 'format' | 'rows' | 'cols' | 'scaleF16'>): QuantLayout {
  return quantLayout(w.format, w.rows, w.cols, w.format === 'q8' && w.scaleF16);
}

export function destroyQuantized(w: QuantizedWeight): void {
  for (const p of w.parts) {
    p.values.destroy();
    p.scales.destroy();
  }
}

const SOURCE_BYTES: Record<SourceDtype, number> = { f32: 4, f16: 2, bf16: 2 };
const SOURCE_CODE: Record<SourceDtype, number> = { f32: 0, f16: 1, bf16: 2 };

export interface QuantizeRowsArgs {
  format: QuantFormat;
  /** dtype of the staged bytes. */
  dtype: SourceDtype;
  /** Raw rows [rows, cols] from element 0 (a u32-aligned binding; 16-bit values two per word). */
  src: Binding;
  rows: number;
  cols: number;
  /** The part written into: its packed values and scales (whole buffers, from row 0 of the part). */
  values: Binding;
  scales: Binding;
  /** First row of the part that this chunk's row 0 becomes. Even where scales are f16 pairs. */
  row0: number;
  scaleF16?: boolean;
  label?: string;
}

/** Records the quantization of a staged chunk of rows into rows [row0, row0 + rows) of a part. */
export function quantizeRows(rec: Recorder, a: QuantizeRowsArgs): void {
  const label = a.label ?? `quantize ${a.format}`;
  for (const name of ['rows', 'cols'] as const) {
    if (!Number.isInteger(a[name]) || a[name] < 1) throw new QuantArgumentError(`${label}: ${name} must be a positive integer, got ${a[name]}`, label);
  }
  const layout = quantLayout(a.format, a.rows, a.cols, a.scaleF16);
  if (!Number.isInteger(a.row0) || a.row0 < 0 || (layout.scaleBytes === 2 && a.row0 % 2 !== 0)) {
    throw new QuantArgumentError(`${label}: row0 must be a non-negative integer, even where scales are f16 pairs, got ${a.row0}`, label);
  }
  const constants = { SRC_DTYPE: SOURCE_CODE[a.dtype] };
  if (a.format === 'q8') {
    rec.dispatch({
      kernel: quantizeQ8Kernel,
      label,
      constants: { ...constants, SCALE_F16: Boolean(a.scaleF16) },
      uniforms: new Uniforms().u32(a.rows).u32(a.cols).u32(layout.rowWords).u32(a.row0 * layout.rowWords).u32(a.row0).u32(0).u32(0).u32(0),
      bindings: [a.src, a.values, a.scales],
      workgroups: grid1d(rec.gpu, Math.ceil(a.rows / 2), 64, label),
    });
    return;
  }
  const blocks = layout.scalesPerRow;
  rec.dispatch({
    kernel: quantizeNf4Kernel,
    label,
    constants,
    uniforms: new Uniforms().u32(a.rows).u32(a.cols).u32(blocks).u32(a.row0 * layout.rowWords).u32(a.row0 * blocks).u32(a.rows * blocks).u32(0).u32(0),
    bindings: [a.src, a.values, a.scales],
    workgroups: grid1d(rec.gpu, Math.ceil((a.rows * blocks) / 2), 64, label),
  });
}

export interface UploadQuantizedArgs {
  format: QuantFormat;
  /** dtype of the bytes readRows returns. */
  dtype: SourceDtype;
  rows: number;
  cols: number;
  /** q8: f16 scales (default f32; they are rows·4 bytes either way, a small fraction). */
  scaleF16?: boolean;
  label: string;
  /**
   * Raw little-endian bytes of rows [row0, row0 + count) of W [rows, cols]: count·cols values of
   * `dtype` (e.g. a Range read of a safetensors tensor). Called once per chunk, in order; the next
   * chunk is read while the GPU quantizes the previous one.
   */
  readRows: (row0: number, count: number) => Uint8Array | Promise<Uint8Array>;
  /** Bytes of the one staging buffer (default 4 MiB, at least two rows). */
  stagingBytes?: number;
  /** Largest buffer of packed values per part (default: the device's buffer and binding limits); tests force parts with it. */
  maxPartBytes?: number;
  signal?: AbortSignal;
}

/** Default staging: 4 MiB holds ~1800 rows of 576 f32 values, ~500 of 2048. */
export const DEFAULT_STAGING_BYTES = 4 << 20;

/** What allocating a quantized weight needs: its shape and format (uploadQuantized's arguments without the data). */
export type QuantizedShape = Pick<UploadQuantizedArgs, 'format' | 'rows' | 'cols' | 'scaleF16' | 'label' | 'maxPartBytes'>;

/**
 * The buffers of a quantized weight, empty: parts of an even number of rows that each fit the
 * device's buffer and binding limits (or maxPartBytes). fillQuantized streams the values in.
 */
export function allocQuantized(gpu: Gpu, a: QuantizedShape): QuantizedWeight {
  const { format, rows, cols, label } = a;
  for (const name of ['rows', 'cols'] as const) {
    if (!Number.isInteger(a[name]) || a[name] < 1) throw new QuantArgumentError(`${label}: ${name} must be a positive integer, got ${a[name]}`, label);
  }
  const scaleF16 = format === 'nf4' || Boolean(a.scaleF16);
  const layout = quantLayout(format, rows, cols, scaleF16);
  const bindLimit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  // Parts hold even numbers of rows, so f16 scale pairs never straddle two dispatches.
  const partLimit = Math.min(a.maxPartBytes ?? Infinity, bindLimit);
  const partRows = quantPartRows(format, rows, cols, partLimit);
  if (partRows < 1) throw new QuantArgumentError(`${label}: two rows of ${cols} columns exceed a part of ${partLimit} bytes`, label);
  const parts: QuantPart[] = [];
  try {
    for (let first = 0; first < rows; first += partRows) {
      const n = Math.min(partRows, rows - first);
      const tag = partRows < rows ? ` rows ${first}..${first + n - 1}` : '';
      parts.push({
        rows: n,
        values: createBuffer(gpu, `${label}${tag} ${format} values`, valueBytes(layout, n)),
        scales: createBuffer(gpu, `${label}${tag} ${format} scales`, scaleBytes(layout, n)),
      });
    }
  } catch (error) {
    destroyQuantized({ format, rows, cols, scaleF16, parts });
    throw error;
  }
  return { format, rows, cols, scaleF16, parts };
}

/**
 * Streams W into an allocated quantized weight a chunk of rows at a time and quantizes it there.
 * Host memory holds one chunk (plus the next one being read); GPU memory one staging buffer beside
 * the weight. Each chunk is waited for before the staging buffer is written again.
 */
export async function fillQuantized(gpu: Gpu, w: QuantizedWeight, a: Pick<UploadQuantizedArgs, 'dtype' | 'readRows' | 'stagingBytes' | 'signal' | 'label'>): Promise<void> {
  const { format, cols, scaleF16 } = w;
  const label = a.label;
  const bindLimit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const srcRowBytes = cols * SOURCE_BYTES[a.dtype];
  const staging = Math.min(Math.max(a.stagingBytes ?? DEFAULT_STAGING_BYTES, 2 * srcRowBytes), bindLimit);
  const chunkRows = Math.min(Math.max(...w.parts.map((p) => p.rows)), Math.max(2, Math.floor(staging / srcRowBytes / 2) * 2));
  if (chunkRows * srcRowBytes > bindLimit) throw new QuantArgumentError(`${label}: two source rows (${2 * srcRowBytes} bytes) exceed the binding limit`, label);
  const chunks: { part: QuantPart; row0: number; first: number; count: number }[] = [];
  let first = 0;
  for (const part of w.parts) {
    for (let r = 0; r < part.rows; r += chunkRows) chunks.push({ part, row0: r, first: first + r, count: Math.min(chunkRows, part.rows - r) });
    first += part.rows;
  }
  const stagingBuffer = createBuffer(gpu, `${label} staging`, chunkRows * srcRowBytes);
  try {
    let pending = Promise.resolve(a.readRows(chunks[0].first, chunks[0].count));
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      const bytes = await pending;
      a.signal?.throwIfAborted();
      if (bytes.byteLength !== c.count * srcRowBytes) {
        throw new QuantArgumentError(`${label}: readRows(${c.first}, ${c.count}) returned ${bytes.byteLength} bytes, expected ${c.count * srcRowBytes} (${c.count}×${cols} ${a.dtype})`, label);
      }
      writeBuffer(gpu, stagingBuffer, bytes);
      const rec = new Recorder(gpu, `${label} quantize`);
      quantizeRows(rec, {
        format, dtype: a.dtype, src: stagingBuffer, rows: c.count, cols, values: c.part.values, scales: c.part.scales,
        row0: c.row0, scaleF16, label: `${label} quantize ${format}`,
      });
      rec.submit();
      if (i + 1 < chunks.length) pending = Promise.resolve(a.readRows(chunks[i + 1].first, chunks[i + 1].count));
      await gpu.device.queue.onSubmittedWorkDone();
    }
    gpu.assertAlive();
  } finally {
    stagingBuffer.destroy();
  }
}

/** allocQuantized and fillQuantized: the weight streamed in, its buffers destroyed if anything fails. */
export async function uploadQuantized(gpu: Gpu, a: UploadQuantizedArgs): Promise<QuantizedWeight> {
  const w = allocQuantized(gpu, a);
  try {
    await fillQuantized(gpu, w, a);
    return w;
  } catch (error) {
    destroyQuantized(w);
    throw error;
  }
}

/** uploadQuantized from a whole array in memory (f32 values, or f16 / bf16 bits). */
export function quantizeArray(
  gpu: Gpu,
  a: Omit<UploadQuantizedArgs, 'readRows' | 'dtype'> & { data: Float32Array } | Omit<UploadQuantizedArgs, 'readRows' | 'dtype'> & { data: Uint16Array; dtype: 'f16' | 'bf16' },
): Promise<QuantizedWeight> {
  const data = a.data;
  const dtype: SourceDtype = data instanceof Float32Array ? 'f32' : (a as { dtype: 'f16' | 'bf16' }).dtype;
  if (data.length !== a.rows * a.cols) throw new QuantArgumentError(`${a.label}: ${data.length} values for [${a.rows}, ${a.cols}]`, a.label);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const rowBytes = a.cols * data.BYTES_PER_ELEMENT;
  return uploadQuantized(gpu, { ...a, dtype, readRows: (row0, count) => bytes.subarray(row0 * rowBytes, (row0 + count) * rowBytes) });
}

/** One binding-sized window of a quantized weight's rows. */
export interface QuantBinding {
  rows: number;
  values: Binding;
  /** Word of row 0 of this window inside `values`. */
  valueOffset: number;
  scales: Binding;
  /** Scale index of row 0 of this window inside `scales`. */
  scaleOffset: number;
}

/**
 * The weight's rows in windows that each fit the binding limit (or `maxBindingBytes`): a part is
 * bound whole when it fits, else cut at row boundaries whose value bytes start at an aligned offset;
 * the scales window starts at the aligned byte below its first scale (scaleOffset says where).
 */
export function quantBindings(gpu: Gpu, w: QuantizedWeight, label: string, maxBindingBytes?: number): QuantBinding[] {
  const layout = layoutOf(w);
  const total = w.parts.reduce((s, p) => s + p.rows, 0);
  if (total !== w.rows) throw new QuantArgumentError(`${label}: quantized parts hold ${total} rows, expected ${w.rows}`, label);
  const limit = Math.min(maxBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
  const align = Math.max(256, gpu.limits.minStorageBufferOffsetAlignment || 256);
  const rowBytes = layout.rowWords * 4;
  const rowScaleBytes = layout.scalesPerRow * layout.scaleBytes;
  const out: QuantBinding[] = [];
  for (const part of w.parts) {
    if (valueBytes(layout, part.rows) <= limit && scaleBytes(layout, part.rows) <= limit) {
      out.push({ rows: part.rows, values: part.values, valueOffset: 0, scales: part.scales, scaleOffset: 0 });
      continue;
    }
    const step = align / gcd(rowBytes, align);
    let per = Math.floor(Math.floor(limit / rowBytes) / step) * step;
    while (per > 0 && Math.ceil((per * rowScaleBytes) / 4) * 4 + align > limit) per -= step;
    if (per < 1) throw new QuantArgumentError(`${label}: ${step} rows of ${rowBytes} bytes (the alignment unit) exceed the binding limit of ${limit} bytes`, label);
    for (let r0 = 0; r0 < part.rows; r0 += per) {
      const n = Math.min(per, part.rows - r0);
      const start = r0 * rowScaleBytes;
      const aligned = Math.floor(start / align) * align;
      const end = Math.ceil(((r0 + n) * rowScaleBytes) / 4) * 4;
      out.push({
        rows: n,
        values: { buffer: part.values, offset: r0 * rowBytes, size: n * rowBytes },
        valueOffset: 0,
        scales: { buffer: part.scales, offset: aligned, size: Math.min(end, part.scales.size) - aligned },
        scaleOffset: (start - aligned) / layout.scaleBytes,
      });
    }
  }
  return out;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
