/**
 * A frozen weight in any storage format, as the launchers that read one (LoRA linear, LM head,
 * embedding gather) take it: a plain f32 / f16 SplitWeight, or a QuantizedWeight (q8 / nf4).
 * weightOperands turns it into the B operands of the matmul, one per binding-sized block of rows.
 */
import type { Gpu } from '../../gpu/device';
import { GpuError } from '../../gpu/errors';
import type { MatmulArgs } from '../matmul/matmul';
import { weightParts, type SplitWeight } from '../lora/weightParts';
import type { WeightFormat } from './layout';
import { isQuantized, layoutOf, quantBindings, type QuantizedWeight } from './quant';

export type FrozenWeight = SplitWeight | QuantizedWeight;

/** A weight whose format, shape or dtype flags disagree; the message names it. */
export class WeightFormatError extends GpuError {}

/**
 * The storage format of `w`: a QuantizedWeight carries its own; a plain weight is f16 with
 * `wF16` or `wFormat: 'f16'`, f32 otherwise. A `wFormat` that contradicts the weight is an error.
 */
export function resolveWeightFormat(w: FrozenWeight, wFormat: WeightFormat | undefined, wF16: boolean | undefined, label: string): WeightFormat {
  if (isQuantized(w)) {
    if ((wFormat && wFormat !== w.format) || wF16) {
      throw new WeightFormatError(`${label}: the weight is ${w.format} but the call says ${wFormat ?? 'f16'}`, label);
    }
    return w.format;
  }
  if (wFormat === 'q8' || wFormat === 'nf4') {
    throw new WeightFormatError(`${label}: wFormat ${wFormat} needs a QuantizedWeight (quant/quant.ts uploadQuantized), got a plain buffer`, label);
  }
  if (wFormat && Boolean(wF16) !== (wFormat === 'f16') && wF16 !== undefined) {
    throw new WeightFormatError(`${label}: wFormat ${wFormat} contradicts wF16 ${wF16}`, label);
  }
  return wFormat ?? (wF16 ? 'f16' : 'f32');
}

/** A block of consecutive rows of a frozen weight, as matmul's operand B. */
export interface WeightOperand {
  rows: number;
  operand: Pick<MatmulArgs, 'b' | 'offsetB' | 'bF16' | 'bQuant'>;
}

/** The rows of a frozen [rows, cols] weight in binding-sized blocks, each as a matmul operand B. */
export function weightOperands(gpu: Gpu, w: FrozenWeight, format: WeightFormat, rows: number, cols: number, label: string, maxBindingBytes?: number): WeightOperand[] {
  if (isQuantized(w)) {
    if (w.rows !== rows || w.cols !== cols) throw new WeightFormatError(`${label}: the quantized weight is [${w.rows}, ${w.cols}], expected [${rows}, ${cols}]`, label);
    const layout = layoutOf(w);
    return quantBindings(gpu, w, label, maxBindingBytes).map((q) => ({
      rows: q.rows,
      operand: {
        b: q.values,
        offsetB: q.valueOffset,
        bQuant: { format: w.format, scales: q.scales, scaleOffset: q.scaleOffset, scaleF16: layout.scaleBytes === 2, rowWords: layout.rowWords, scalesPerRow: layout.scalesPerRow },
      },
    }));
  }
  const f16 = format === 'f16';
  return weightParts(gpu, w, rows, cols, f16, label, maxBindingBytes).map((part) => ({
    rows: part.rows,
    operand: { b: part.w, offsetB: part.offset ?? 0, bF16: f16 },
  }));
}
