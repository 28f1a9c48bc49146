import type { Gpu } from '../../gpu/device';
import { GpuError } from '../../gpu/errors';
import type { Binding } from '../../gpu/recorder';

/** A block of consecutive rows of a frozen [ROWS, COLS] weight, bound on its own. */
export interface WeightPart {
  /** The rows [firstRow, firstRow + rows) of the weight. */
  w: Binding;
  rows: number;
  /** Element offset of the part's first row inside its binding (default 0). */
  offset?: number;
}

/** A frozen weight bound whole (one Binding) or split by rows over several bindings. */
export type SplitWeight = Binding | WeightPart[];

/** A weight that cannot be split to fit the device's binding limit. */
export class WeightSplitError extends GpuError {}

function bufferOf(b: Binding): GPUBuffer {
  return 'buffer' in b ? b.buffer : b;
}

/**
 * The parts of a [rows, cols] weight, each within maxStorageBufferBindingSize (or `maxBindingBytes`).
 * An array is taken as given (the caller split it, e.g. across several buffers) after checking that
 * its rows add up; a single Binding that is too large is cut into windows at aligned byte offsets.
 */
export function weightParts(gpu: Gpu, weight: SplitWeight, rows: number, cols: number, f16: boolean, label: string, maxBindingBytes?: number): WeightPart[] {
  const elem = f16 ? 2 : 4;
  if (Array.isArray(weight)) {
    const total = weight.reduce((s, p) => s + p.rows, 0);
    if (total !== rows) throw new WeightSplitError(`${label}: weight parts hold ${total} rows, expected ${rows}`, label);
    return weight;
  }
  const limit = Math.min(maxBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
  const rowBytes = cols * elem;
  const base = 'buffer' in weight ? (weight.offset ?? 0) : 0;
  if (rows * rowBytes <= limit) return [{ w: weight, rows }];
  const align = Math.max(256, gpu.limits.minStorageBufferOffsetAlignment || 256);
  if (base % align !== 0) throw new WeightSplitError(`${label}: a weight offset ${base} not aligned to ${align} bytes cannot be split`, label);
  // Rows per part: as many as fit, rounded down so each part starts at an aligned byte offset.
  const step = align / gcd(rowBytes, align);
  const perPart = Math.floor(Math.floor((limit - 4) / rowBytes) / step) * step;
  if (perPart < 1) {
    throw new WeightSplitError(`${label}: ${step} rows of ${rowBytes} bytes exceed the binding limit of ${limit} bytes`, label);
  }
  const buffer = bufferOf(weight);
  const parts: WeightPart[] = [];
  for (let r0 = 0; r0 < rows; r0 += perPart) {
    const n = Math.min(perPart, rows - r0);
    const offset = base + r0 * rowBytes;
    const size = Math.min(Math.ceil((n * rowBytes) / 4) * 4, buffer.size - offset);
    parts.push({ w: { buffer, offset, size }, rows: n });
  }
  return parts;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
