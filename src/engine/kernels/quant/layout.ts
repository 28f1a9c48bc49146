/**
 * Storage formats of a frozen weight W [rows, cols] (rows = output features, cols = input
 * features, as PyTorch stores a Linear) and what each costs in GPU memory.
 *
 *   f32   rows·cols f32
 *   f16   rows·cols f16 (shader-f16 devices)
 *   q8    symmetric absmax per row (per output channel):
 *           values  u32 [rows, ceil(cols/4)]: int8 codes, byte j of word w = column 4w + j
 *           scales  [rows] f32, or f16 packed two per u32 (`scaleF16`)
 *           W[r, c] ≈ code · scale_r,  scale_r = absmax_r / 127
 *   nf4   QLoRA's 4-bit NormalFloat, blocks of 64 along cols, no double quantization:
 *           values  u32 [rows, 8·ceil(cols/64)]: indices into NF4 (nf4_code.wgsl), nibble j of
 *                   word w = column 8w + j; a row is padded to whole blocks with index 7 (= 0.0)
 *           scales  f16 absmax [rows, ceil(cols/64)], packed two per u32 (flattened row-major)
 *           W[r, c] ≈ NF4[index] · absmax_{r, c/64}
 */

export type QuantFormat = 'q8' | 'nf4';
export type WeightFormat = 'f32' | 'f16' | QuantFormat;
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'f16', 'q8', 'nf4'];

/** Columns per NF4 block (QLoRA's block size). */
export const NF4_BLOCK = 64;

export interface QuantLayout {
  format: QuantFormat;
  rows: number;
  cols: number;
  /** u32 words of packed values per row. */
  rowWords: number;
  /** Scales per row: 1 (q8) or the blocks of a row (nf4). */
  scalesPerRow: number;
  /** Bytes per scale: 4 (q8, f32) or 2 (f16: nf4 always, q8 with scaleF16). */
  scaleBytes: 2 | 4;
}

export function quantLayout(format: QuantFormat, rows: number, cols: number, scaleF16 = false): QuantLayout {
  if (format === 'q8') return { format, rows, cols, rowWords: Math.ceil(cols / 4), scalesPerRow: 1, scaleBytes: scaleF16 ? 2 : 4 };
  const blocks = Math.ceil(cols / NF4_BLOCK);
  return { format, rows, cols, rowWords: 8 * blocks, scalesPerRow: blocks, scaleBytes: 2 };
}

/** Bytes of packed values of `rows` rows. */
export function valueBytes(layout: QuantLayout, rows = layout.rows): number {
  return rows * layout.rowWords * 4;
}

/** Bytes of scales of `rows` rows, padded to whole u32 words (a buffer's 4-byte granularity). */
export function scaleBytes(layout: QuantLayout, rows = layout.rows): number {
  return Math.ceil((rows * layout.scalesPerRow * layout.scaleBytes) / 4) * 4;
}

export interface WeightBytes {
  /** Packed values (or the plain f32 / f16 matrix). */
  values: number;
  /** Scales (0 for f32 / f16). */
  scales: number;
  /** Bias [rows] when asked for: f16 with f16 weights, f32 otherwise. */
  bias: number;
  total: number;
  /** The largest single buffer among them (the planner checks it against maxBufferSize). */
  largestBuffer: number;
}

export interface WeightBytesOptions {
  /** q8: scales stored f16 (default f32). */
  scaleF16?: boolean;
  /** Count a bias of `rows` elements. */
  bias?: boolean;
  /**
   * Rows per stored part (uploadQuantized splits a weight whose values exceed a buffer or binding
   * into parts of even rows, each with its own scales buffer); default: one part.
   */
  rowsPerPart?: number;
}

/**
 * GPU bytes of a frozen [rows, cols] weight stored in `format`, as the upload functions lay it out
 * (4-byte buffer granularity included), for the memory planner.
 */
export function weightBytes(format: WeightFormat, rows: number, cols: number, options: WeightBytesOptions = {}): WeightBytes {
  const pad4 = (bytes: number) => Math.ceil(bytes / 4) * 4;
  const bias = options.bias ? pad4(rows * (format === 'f16' ? 2 : 4)) : 0;
  if (format === 'f32' || format === 'f16') {
    const values = pad4(rows * cols * (format === 'f16' ? 2 : 4));
    return { values, scales: 0, bias, total: values + bias, largestBuffer: Math.max(values, bias) };
  }
  const layout = quantLayout(format, rows, cols, options.scaleF16);
  const per = Math.min(rows, Math.max(1, options.rowsPerPart ?? rows));
  let values = 0;
  let scales = 0;
  let largest = bias;
  for (let r0 = 0; r0 < rows; r0 += per) {
    const n = Math.min(per, rows - r0);
    values += valueBytes(layout, n);
    scales += scaleBytes(layout, n);
    largest = Math.max(largest, valueBytes(layout, n), scaleBytes(layout, n));
  }
  return { values, scales, bias, total: values + scales + bias, largestBuffer: largest };
}

/**
 * Rows per stored part of a quantized weight, as uploadQuantized splits it: the most rows (an even
 * number, so f16 scale pairs stay in one part) whose packed values fit `maxPartBytes` (the device's
 * min(maxStorageBufferBindingSize, maxBufferSize)), all rows when they fit. Pass it to weightBytes
 * as rowsPerPart. 0 when not even two rows fit.
 */
export function quantPartRows(format: QuantFormat, rows: number, cols: number, maxPartBytes: number): number {
  const layout = quantLayout(format, rows, cols);
  return Math.min(rows, Math.floor(maxPartBytes / valueBytes(layout, 2)) * 2);
}

/** Bits per weight of a format for a row of `cols` columns (padding included), for reports. */
export function bitsPerWeight(format: WeightFormat, cols: number, scaleF16 = false): number {
  const b = weightBytes(format, 1 << 10, cols, { scaleF16 });
  return (8 * (b.values + b.scales)) / ((1 << 10) * cols);
}
