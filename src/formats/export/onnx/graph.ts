/**
 * A small ONNX graph builder over onnx-proto (the ONNX schema compiled for protobufjs): nodes,
 * initializers, typed inputs and outputs, and serialization to a ModelProto — with the weights
 * inline, or in external data files (`<model>.onnx_data`, `_data_1`, …) as ONNX's external data
 * format and transformers.js's chunk naming have them, for models past protobuf's 2 GB limit.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { f32ToF16 } from '../../dtype';
import { ExportError } from '../types';

const { onnx } = onnxProto;

export const DT = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
} as const;
export type DataType = (typeof DT)[keyof typeof DT];

export const DT_NAME: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 7: 'int64', 9: 'bool', 10: 'float16' };

export type AttrValue = number | string | number[] | { floats: number[] } | { float: number };

export interface Initializer {
  name: string;
  dataType: DataType;
  dims: number[];
  data: Uint8Array;
}

export interface ValueInfo {
  name: string;
  dataType: DataType;
  /** Numbers are fixed sizes, strings symbolic (dynamic) dimensions. */
  shape: (number | string)[];
}

export class GraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;

  /** A fresh value name under a readable prefix. */
  fresh(prefix: string): string {
    let name = prefix;
    while (this.names.has(name)) name = `${prefix}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  input(name: string, dataType: DataType, shape: (number | string)[]): string {
    this.names.add(name);
    this.inputs.push({ name, dataType, shape });
    return name;
  }

  output(name: string, dataType: DataType, shape: (number | string)[]): void {
    this.outputs.push({ name, dataType, shape });
  }

  /**
   * Adds a node; returns its output names. `outputs` names them explicitly (graph outputs), or
   * gives a count of fresh ones derived from `name`.
   */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: { name?: string; outputs?: string[] | number; domain?: string } = {}): string[] {
    const base = opts.name ?? `/${opType}`;
    const nodeName = this.fresh(base);
    const outs = Array.isArray(opts.outputs)
      ? opts.outputs.map((o) => (this.names.add(o), o))
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => this.fresh(`${base}_output_${i}`));
    const attribute: OnnxTypes.IAttributeProto[] = Object.entries(attrs).map(([k, v]) => attr(k, v));
    this.nodes.push({ name: nodeName, opType, input: inputs, output: outs, attribute, domain: opts.domain ?? '' });
    return outs;
  }

  /** Single-output shorthand. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: { name?: string; output?: string; domain?: string } = {}): string {
    return this.node(opType, inputs, attrs, { name: opts.name, domain: opts.domain, outputs: opts.output ? [opts.output] : 1 })[0];
  }

  initializer(name: string, dataType: DataType, dims: number[], data: Uint8Array): string {
    const n = this.fresh(name);
    const numel = dims.reduce((a, b) => a * b, 1);
    const bytesPer = dataType === DT.FLOAT ? 4 : dataType === DT.INT64 ? 8 : dataType === DT.FLOAT16 ? 2 : 1;
    if (numel * bytesPer !== data.byteLength) throw new ExportError(`initializer "${name}": ${JSON.stringify(dims)} of ${DT_NAME[dataType]} needs ${numel * bytesPer} bytes, got ${data.byteLength}`);
    this.initializers.push({ name: n, dataType, dims, data });
    return n;
  }

  /** A small constant (shared by value): int64 or float data. */
  constInt64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    const name = this.initializer(`const_i64_${values.join('_').replace(/-/g, 'm')}`, DT.INT64, dims, new Uint8Array(data.buffer));
    this.constants.set(key, name);
    return name;
  }

  /** A scalar or 1-D constant of FLOAT or FLOAT16. */
  constFloat(values: number[], dataType: DataType, dims: number[] = values.length === 1 ? [] : [values.length]): string {
    const key = `f${dataType}:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const data = encodeFloats(Float32Array.from(values), dataType);
    const name = this.initializer(`const_f_${this.constants.size}`, dataType, dims, data);
    this.constants.set(key, name);
    return name;
  }

  /** The total bytes of initializer data. */
  weightBytes(): number {
    return this.initializers.reduce((a, i) => a + i.data.byteLength, 0);
  }
}

function attr(name: string, v: AttrValue): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.FLOAT, f: v.float };
}

/** f32 values in FLOAT or FLOAT16 little-endian bytes (f16 with round-to-nearest-even). */
export function encodeFloats(values: Float32Array, dataType: DataType): Uint8Array {
  if (dataType === DT.FLOAT) return new Uint8Array(new Float32Array(values).buffer);
  if (dataType === DT.FLOAT16) {
    const h = f32ToF16(values);
    return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  }
  throw new ExportError(`cannot encode floats as ${DT_NAME[dataType]}`);
}

function valueInfo(v: ValueInfo): OnnxTypes.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.dataType,
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface SerializeOptions {
  /** File name of the .onnx file, e.g. "model_q4.onnx" (names the external data files). */
  fileName: string;
  /** Put the weights in external data files when their total passes this many bytes. */
  externalDataThreshold: number;
  /** Largest external data file (bytes); the next tensor starts a new "_data_N" file. */
  maxChunkBytes: number;
  opsets: { domain: string; version: number }[];
  graphName: string;
  producerVersion: string;
}

export interface SerializedModel {
  /** The .onnx file and its external data files by file name. */
  files: Map<string, Uint8Array[]>;
  /** Number of external data files (0: weights inline). */
  externalChunks: number;
}

/** External data tensors start at multiples of this (as ONNX's own writer aligns them). */
const EXTERNAL_ALIGN = 4096;
/** Initializers below this stay inline even in the external data format (onnx's size_threshold). */
const INLINE_BELOW = 1024;

export function serializeModel(g: GraphBuilder, options: SerializeOptions): SerializedModel {
  const external = g.weightBytes() > options.externalDataThreshold;
  const files = new Map<string, Uint8Array[]>();
  const chunks: { name: string; parts: Uint8Array[]; size: number }[] = [];
  const initializer: OnnxTypes.ITensorProto[] = g.initializers.map((init) => {
    const t: OnnxTypes.ITensorProto = { name: init.name, dataType: init.dataType, dims: init.dims };
    if (!external || init.data.byteLength < INLINE_BELOW) {
      t.rawData = init.data;
      return t;
    }
    let chunk = chunks[chunks.length - 1];
    const pad = chunk ? (EXTERNAL_ALIGN - (chunk.size % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN : 0;
    if (!chunk || (chunk.size > 0 && chunk.size + pad + init.data.byteLength > options.maxChunkBytes)) {
      const index = chunks.length;
      chunk = { name: `${options.fileName}_data${index === 0 ? '' : `_${index}`}`, parts: [], size: 0 };
      chunks.push(chunk);
    } else if (pad) {
      chunk.parts.push(new Uint8Array(pad));
      chunk.size += pad;
    }
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: chunk.name },
      { key: 'offset', value: String(chunk.size) },
      { key: 'length', value: String(init.data.byteLength) },
    ];
    chunk.parts.push(init.data);
    chunk.size += init.data.byteLength;
    return t;
  });
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    producerName: 'adapter-studio',
    producerVersion: options.producerVersion,
    opsetImport: options.opsets,
    graph: {
      name: options.graphName,
      node: g.nodes,
      initializer,
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  };
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  if (bytes.byteLength > 2 ** 31 - 1) throw new ExportError(`${options.fileName} would be ${bytes.byteLength} bytes, past protobuf's 2 GB limit: lower externalDataThreshold`);
  files.set(options.fileName, [bytes]);
  for (const c of chunks) files.set(c.name, c.parts);
  return { files, externalChunks: chunks.length };
}

/** Decodes a ModelProto (tests and tools). */
export function decodeModel(bytes: Uint8Array): OnnxTypes.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
