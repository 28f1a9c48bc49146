import type { Gpu } from '../../src/engine/gpu/device';
import { uploadBuffer } from '../../src/engine/gpu/buffers';
import type { QuantizedWeight } from '../../src/engine/kernels/quant/quant';
import { quantizeRef, type QuantizedRef } from '../../src/engine/kernels/quant/quant.ref';
import { scaleBytes, valueBytes, type QuantFormat } from '../../src/engine/kernels/quant/layout';

/**
 * Quantizes W [rows, cols] on the CPU (quant.ref.ts) and uploads it as a QuantizedWeight, split into
 * parts at `splitAt` rows (even, so f16 scale pairs stay whole). The matmul tests use it so that they
 * measure the kernel on exactly known dequantized weights, not the GPU quantizer.
 */
export function uploadQuantizedRef(gpu: Gpu, label: string, format: QuantFormat, w: ArrayLike<number>, rows: number, cols: number, options: { scaleF16?: boolean; splitAt?: number[] } = {}): { weight: QuantizedWeight; ref: QuantizedRef; buffers: GPUBuffer[] } {
  const ref = quantizeRef({ format, data: w, rows, cols, scaleF16: options.scaleF16 });
  const bounds = [0, ...(options.splitAt ?? []), rows];
  const buffers: GPUBuffer[] = [];
  const parts = bounds.slice(1).map((end, i) => {
    const first = bounds[i];
    const sub = quantizeRef({ format, data: Array.from(w).slice(first * cols, end * cols), rows: end - first, cols, scaleF16: options.scaleF16 });
    const values = uploadBuffer(gpu, `${label} part ${i} values`, sub.values);
    const scales = uploadBuffer(gpu, `${label} part ${i} scales`, sub.scales.slice(0, scaleBytes(sub.layout) / 4));
    if (values.size < valueBytes(sub.layout)) throw new Error('short values buffer');
    buffers.push(values, scales);
    return { rows: end - first, values, scales };
  });
  return { weight: { format, rows, cols, scaleF16: format === 'nf4' || Boolean(options.scaleF16), parts }, ref, buffers };
}
