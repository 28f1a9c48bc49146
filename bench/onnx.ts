// A minimal ONNX protobuf writer: just enough of onnx.proto3 to build a one-node MatMul or Gemm
// graph for the onnxruntime-web peer. Field numbers are those of onnx/onnx.proto.

/** Protobuf wire encoding: varints, length-delimited fields, nested messages. */
export class ProtoWriter {
  private bytes: number[] = [];

  varint(value: number | bigint): this {
    let v = BigInt(value);
    if (v < 0n) v += 1n << 64n; // negative int64 is ten bytes of two's complement
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      this.bytes.push(byte);
    } while (v !== 0n);
    return this;
  }

  /** A varint field (wire type 0). */
  int(field: number, value: number | bigint): this {
    return this.varint(field << 3).varint(value);
  }

  /** A length-delimited field (wire type 2) holding raw bytes. */
  raw(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.raw(field, inner.finish());
  }

  /** A float field (wire type 5, little-endian IEEE 754). */
  float(field: number, value: number): this {
    this.varint((field << 3) | 5);
    const b = new Uint8Array(new Float32Array([value]).buffer);
    for (const x of b) this.bytes.push(x);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2; // AttributeProto.AttributeType.INT

function valueInfo(w: ProtoWriter, name: string, dims: number[]): void {
  w.string(1, name).message(2, (type) =>
    type.message(1, (tensor) =>
      tensor.int(1, FLOAT).message(2, (shape) => {
        for (const d of dims) shape.message(1, (dim) => dim.int(1, d));
      }),
    ),
  );
}

export interface OnnxMatmulGraph {
  /** Y[M,N] = op(A)·op(B); op transposes when the flag is set (Gemm), plain MatMul otherwise. */
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

/** Bytes of an ONNX model (IR 8, opset 17) with inputs A, B and output Y. */
export function onnxMatmulModel(g: OnnxMatmulGraph): Uint8Array {
  const dimsA = g.transA ? [g.K, g.M] : [g.M, g.K];
  const dimsB = g.transB ? [g.N, g.K] : [g.K, g.N];
  const gemm = Boolean(g.transA || g.transB);
  return new ProtoWriter()
    .int(1, 8) // ir_version
    .string(2, 'adapter-studio-bench') // producer_name
    .message(8, (opset) => opset.string(1, '').int(2, 17))
    .message(7, (graph) => {
      graph.message(1, (node) => {
        node.string(1, 'A').string(1, 'B').string(2, 'Y').string(3, gemm ? 'gemm' : 'matmul').string(4, gemm ? 'Gemm' : 'MatMul');
        if (gemm) {
          node.message(5, (a) => a.string(1, 'transA').int(3, g.transA ? 1 : 0).int(20, ATTR_INT));
          node.message(5, (a) => a.string(1, 'transB').int(3, g.transB ? 1 : 0).int(20, ATTR_INT));
        }
      });
      graph.string(2, 'matmul');
      graph.message(11, (v) => valueInfo(v, 'A', dimsA));
      graph.message(11, (v) => valueInfo(v, 'B', dimsB));
      graph.message(12, (v) => valueInfo(v, 'Y', [g.M, g.N]));
    })
    .finish();
}
