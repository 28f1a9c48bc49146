import type { Gpu } from '../../gpu/device';
import { GpuError } from '../../gpu/errors';

/**
 * A 1-D launch of `items` work items, WG per workgroup, folded into a 2-D grid when the item count
 * needs more than maxComputeWorkgroupsPerDimension workgroups. Shaders rebuild the flat index as
 * `(wg.y * nwg.x + wg.x) * WG + lid.x` (with `@builtin(num_workgroups) nwg`) and bound-check it.
 */
export function grid1d(gpu: Gpu, items: number, workgroupSize: number, label: string): [number, number] {
  const groups = Math.ceil(items / workgroupSize);
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  if (y > max) throw new GpuError(`dispatch "${label}": ${items} items need ${groups} workgroups, more than ${max}²`, label);
  return [Math.ceil(groups / y), y];
}

/** One workgroup per row (RMSNorm and friends), folded into 2-D the same way. */
export function gridRows(gpu: Gpu, rows: number, label: string): [number, number] {
  return grid1d(gpu, rows, 1, label);
}

/** A workgroup size for simple element-wise kernels that the adapter allows. */
export function elementwiseWorkgroupSize(gpu: Gpu): number {
  return Math.min(256, gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX);
}

/** Throws if `count` elements of `bytesPerElement` exceed one binding on this device. */
export function assertBindable(gpu: Gpu, label: string, count: number, bytesPerElement = 4): void {
  const bytes = count * bytesPerElement;
  const max = gpu.limits.maxStorageBufferBindingSize;
  if (bytes > max) {
    throw new GpuError(
      `"${label}": ${count} elements (${bytes} bytes) exceed maxStorageBufferBindingSize ${max}; split the tensor and launch per part`,
      label,
    );
  }
}
