/**
 * The pieces every exported graph is made of, per ONNX variant: how a linear layer's weight is
 * stored and multiplied (float MatMul, int8/uint8 DequantizeLinear → MatMul, 4-bit MatMulNBits), how
 * an embedding table is stored and gathered (float, or int8 rows with a scale each), casts between
 * the activation type and f32, and the record of the weights the runtime computes with (after f16
 * rounding or dequantization) for the tests. The decoder (decoder.ts) and the encoder classifier
 * (encoder.ts) are both built from them.
 */
import { ExportError, type WeightReader } from '../types';
import { DT, GraphBuilder, encodeFloats, type DataType } from './graph';
import { quantizeInt8PerChannel, quantizeInt8Rows, quantizeQ4Blocks, Q4_BLOCK, roundToF16, transpose } from './quantize';
import type { OnnxVariant } from '../kinds';

export interface Plan {
  /** The activation type (f16 in the fp16 / q4f16 variants). */
  act: DataType;
  linear: 'float' | 'int8' | 'uint8' | 'q4';
  embed: 'float' | 'int8';
}

export const PLANS: Record<OnnxVariant, Plan> = {
  fp32: { act: DT.FLOAT, linear: 'float', embed: 'float' },
  fp16: { act: DT.FLOAT16, linear: 'float', embed: 'float' },
  q8: { act: DT.FLOAT, linear: 'int8', embed: 'int8' },
  int8: { act: DT.FLOAT, linear: 'int8', embed: 'int8' },
  uint8: { act: DT.FLOAT, linear: 'uint8', embed: 'int8' },
  q4: { act: DT.FLOAT, linear: 'q4', embed: 'float' },
  q4f16: { act: DT.FLOAT16, linear: 'q4', embed: 'float' },
};

/** The most negative finite value of the activation type: masked scores (never −inf, so a fully masked padding row stays finite). */
export const MASK_MIN: Record<number, number> = { [DT.FLOAT]: -3.4028234663852886e38, [DT.FLOAT16]: -65504 };

export interface KitOptions {
  /** Filled with the weights the runtime computes with (after f16 rounding or dequantization), by HF name. */
  effectiveWeights?: Map<string, Float32Array>;
  onTensor?: (name: string) => void;
}

/** An embedding table as stored: a float table (shareable with a tied head) or int8 rows with their scales. */
export interface StoredTable {
  float: string | null;
  int8: { table: string; scales: string } | null;
}

export interface LayerKit {
  g: GraphBuilder;
  plan: Plan;
  act: DataType;
  /** Reads a weight by HF name, checking its size. */
  read(name: string, size: number): Promise<Float32Array>;
  /** An initializer in the activation type. */
  floatInit(name: string, values: Float32Array, dims: number[]): string;
  /** Records the values the runtime computes with. */
  record(name: string, values: Float32Array): void;
  /** Records values stored in the activation type (f16-rounded in the f16 variants). */
  recordFloat(name: string, values: Float32Array): void;
  cast(x: string, to: DataType): string;
  toF32(x: string): string;
  toAct(x: string): string;
  /** y = x·Wᵀ (+ b), W [out, in] by HF name; node names under `prefix`. */
  linear(x: string, name: string, outF: number, inF: number, bias: string | null, prefix: string): Promise<string>;
  /** Rows of the table `name` [rows, cols] at int64 `ids` → [.., cols] in the activation type (int8 rows in the 8-bit variants when `quantize`). */
  embedding(name: string, rows: number, cols: number, ids: string, prefix: string, quantize?: boolean): Promise<{ out: string; table: StoredTable }>;
}

export function layerKit(g: GraphBuilder, variant: OnnxVariant, weights: WeightReader, options: KitOptions = {}): LayerKit {
  const plan = PLANS[variant];
  if (!plan) throw new ExportError(`ONNX variant "${variant}" is not supported (${Object.keys(PLANS).join(', ')})`);
  const { act } = plan;
  const eff = options.effectiveWeights;

  const read = async (name: string, size: number) => {
    options.onTensor?.(name);
    const w = await weights(name);
    if (w.length !== size) throw new ExportError(`tensor "${name}" has ${w.length} values, expected ${size}`);
    return w;
  };
  const floatInit = (name: string, values: Float32Array, dims: number[]) => g.initializer(name, act, dims, encodeFloats(values, act));
  const record = (name: string, values: Float32Array) => void eff?.set(name, values);
  const recordFloat = (name: string, values: Float32Array) => record(name, act === DT.FLOAT16 ? roundToF16(values) : values);
  const cast = (x: string, to: DataType) => g.op('Cast', [x], { to });
  const toF32 = (x: string) => (act === DT.FLOAT ? x : cast(x, DT.FLOAT));
  const toAct = (x: string) => (act === DT.FLOAT ? x : cast(x, act));

  const linear = async (x: string, name: string, outF: number, inF: number, bias: string | null, prefix: string): Promise<string> => {
    const w = await read(name, outF * inF);
    let y: string;
    if (plan.linear === 'float') {
      recordFloat(name, w);
      y = g.op('MatMul', [x, floatInit(name, transpose(w, outF, inF), [inF, outF])], {}, { name: `${prefix}/MatMul` });
    } else if (plan.linear === 'int8' || plan.linear === 'uint8') {
      const q = quantizeInt8PerChannel(w, outF, inF, plan.linear === 'uint8');
      record(name, q.dequantized);
      const qw = g.initializer(`${name}_quantized`, plan.linear === 'uint8' ? DT.UINT8 : DT.INT8, [inF, outF], q.data);
      const sc = g.initializer(`${name}_scale`, DT.FLOAT, [outF], q.scales);
      const dqInputs = [qw, sc];
      if (q.zeroPoints) dqInputs.push(g.initializer(`${name}_zero_point`, DT.UINT8, [outF], q.zeroPoints));
      const wf = g.op('DequantizeLinear', dqInputs, { axis: 1 }, { name: `${prefix}/DequantizeLinear` });
      y = g.op('MatMul', [x, wf], {}, { name: `${prefix}/MatMul` });
    } else {
      const q = quantizeQ4Blocks(w, outF, inF, act === DT.FLOAT16);
      record(name, q.dequantized);
      const blocks = Math.ceil(inF / Q4_BLOCK);
      const qw = g.initializer(`${name}_Q4`, DT.UINT8, [outF, blocks, Q4_BLOCK / 2], q.data);
      const sc = g.initializer(`${name}_scales`, act, [outF * blocks], q.scales);
      y = g.op('MatMulNBits', [x, qw, sc], { K: inF, N: outF, bits: 4, block_size: Q4_BLOCK }, { name: `${prefix}/MatMulNBits`, domain: 'com.microsoft' });
    }
    if (bias) {
      const b = await read(bias, outF);
      recordFloat(bias, b);
      y = g.op('Add', [y, floatInit(bias, b, [outF])], {}, { name: `${prefix}/Add` });
    }
    return y;
  };

  const embedding = async (name: string, rows: number, cols: number, ids: string, prefix: string, quantize = true) => {
    const table = await read(name, rows * cols);
    if (plan.embed === 'int8' && quantize) {
      const q = quantizeInt8Rows(table, rows, cols);
      record(name, q.dequantized);
      const int8 = { table: g.initializer(`${name}_quantized`, DT.INT8, [rows, cols], q.data), scales: g.initializer(`${name}_scale`, DT.FLOAT, [rows], q.scales) };
      const gathered = g.op('Cast', [g.op('Gather', [int8.table, ids], { axis: 0 }, { name: `${prefix}/Gather` })], { to: DT.FLOAT });
      const sc = g.op('Unsqueeze', [g.op('Gather', [int8.scales, ids], { axis: 0 }, { name: `${prefix}/Gather_scale` }), g.constInt64([2])]); // ids are [batch, sequence]
      return { out: toAct(g.op('Mul', [gathered, sc], {}, { name: `${prefix}/Mul` })), table: { float: null, int8 } };
    }
    recordFloat(name, table);
    const float = floatInit(name, table, [rows, cols]);
    return { out: g.op('Gather', [float, ids], { axis: 0 }, { name: `${prefix}/Gather` }), table: { float, int8: null } };
  };

  return { g, plan, act, read, floatInit, record, recordFloat, cast, toF32, toAct, linear, embedding };
}
