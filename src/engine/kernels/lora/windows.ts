import type { Gpu } from '../../gpu/device';
import { GpuError } from '../../gpu/errors';
import type { Binding } from '../../gpu/recorder';

/** Row-major tensors too large to split into aligned windows within the binding limit. */
export class WindowSplitError extends GpuError {}

/**
 * Groups of rows (tokens) such that a window of `count` rows of every tensor, each `widths[i]` f32
 * per row, fits the binding limit, and every window starts at a binding-aligned byte offset.
 * One group of all rows when everything fits (the common case: bindings are then left as they are).
 */
export function rowGroups(gpu: Gpu, rows: number, widths: number[], label: string, maxBindingBytes?: number): [number, number][] {
  const limit = Math.min(maxBindingBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
  const rowBytes = widths.filter((w) => w > 0).map((w) => w * 4);
  const widest = Math.max(...rowBytes);
  if (rows * widest <= limit) return [[0, rows]];
  const align = Math.max(256, gpu.limits.minStorageBufferOffsetAlignment || 256);
  const step = rowBytes.reduce((l, bytes) => lcm(l, align / gcd(bytes, align)), 1);
  const perGroup = Math.floor(Math.floor(limit / widest) / step) * step;
  if (perGroup < 1) {
    throw new WindowSplitError(`${label}: ${step} rows of ${widest} bytes (the alignment unit) exceed the binding limit of ${limit} bytes`, label);
  }
  const groups: [number, number][] = [];
  for (let r0 = 0; r0 < rows; r0 += perGroup) groups.push([r0, Math.min(perGroup, rows - r0)]);
  return groups;
}

/** Rows [row0, row0 + count) of a row-major f32 tensor with `width` elements per row. */
export function rowWindow(binding: Binding, row0: number, count: number, width: number): Binding {
  const buffer = 'buffer' in binding ? binding.buffer : binding;
  const base = 'buffer' in binding ? (binding.offset ?? 0) : 0;
  return { buffer, offset: base + row0 * width * 4, size: count * width * 4 };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
