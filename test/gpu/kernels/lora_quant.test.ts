// The fused LoRA linear with a quantized frozen W (q8 / nf4), against the float64 reference computed
// on the DEQUANTIZED W: the products are what is measured, not quantization error.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { createBuffer, readF32, uploadBuffer } from '../../../src/engine/gpu/buffers';
import { loraBackward, loraForward } from '../../../src/engine/kernels/lora/lora';
import { loraBackwardRef, loraForwardRef, type LoraShape } from '../../../src/engine/kernels/lora/lora.ref';
import { quantBindings, quantizeArray, destroyQuantized } from '../../../src/engine/kernels/quant/quant';
import { dequantizeRef } from '../../../src/engine/kernels/quant/quant.ref';
import type { QuantFormat } from '../../../src/engine/kernels/quant/layout';
import { matmulVec4Applies } from '../../../src/engine/kernels/matmul/matmul';
import { expectClose } from '../../helpers/compare';
import { recordKernelError } from '../../helpers/kernelErrors';
import { gridValues, uniformValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';
import { TOLERANCES } from '../../helpers/tolerances';
import { uploadQuantizedRef } from '../../helpers/quant';

interface Case extends LoraShape {
  format: QuantFormat;
  scaleF16?: boolean;
  bias?: boolean;
  accumulateDx?: boolean;
  /** Force bindings of at most this many bytes (windows of the quantized parts). */
  maxBindingBytes?: number;
  /** Store W as separate parts split at these rows. */
  splitAt?: number[];
}

// Sizes off the 64×64 tile on every side; IN 132 / 200 leave a partial NF4 block; IN 37 takes the
// scalar kernel (not a multiple of 4).
const shapes: [string, Omit<Case, 'format'>][] = [
  // Rank 3 keeps the adapter's own products on the scalar kernel, which SwiftShader compiles fast
  // (the vec4 LoRA products are lora.test.ts's; they do not depend on W's format).
  ['rank 3, bias, tails on every side', { N: 70, IN: 132, OUT: 100, R: 3, scale: 2, bias: true }],
  ['rank 8, dropout 0.25, IN 37 (scalar kernel), W in two parts', { N: 9, IN: 37, OUT: 21, R: 8, scale: 0.5, dropout: 0.25, dropoutKey: { seed: 77, site: 5, step: 3 }, splitAt: [12] }],
];
const cases: [string, Case][] = [
  ...shapes.flatMap(([name, s]) => (['q8', 'nf4'] as const).map((format): [string, Case] => [`${format} ${name}`, { ...s, format }])),
  // q8: binding windows of 64 + 36 rows of W (rows of 200 bytes; the activations still fit).
  ['q8 no adapter, dx accumulated, W in binding windows', { format: 'q8', N: 37, IN: 200, OUT: 100, accumulateDx: true, maxBindingBytes: 64 * 200 }],
  // nf4 rows are 8× smaller than x's, so W windows come with token windows: W in 2 windows of 64
  // rows (32 bytes each), x / y / dx in 10 windows of 4 tokens.
  ['nf4 no adapter, dx accumulated, W and tokens in binding windows', { format: 'nf4', N: 37, IN: 64, OUT: 128, accumulateDx: true, maxBindingBytes: 2048 }],
  ['q8 with f16 scales, rank 8, dropout, IN 37, W in two parts', { ...shapes[1][1], format: 'q8', scaleF16: true }],
];

async function run(c: Case, seed: number) {
  const gpu = await testGpu();
  const { N, IN, OUT } = c;
  const R = c.R ?? 0;
  const x = gridValues(N * IN, seed);
  const w = uniformValues(OUT * IN, seed + 1, -0.5, 0.5);
  const bias = c.bias ? gridValues(OUT, seed + 2) : null;
  const A = R ? uniformValues(R * IN, seed + 3) : null;
  const B = R ? uniformValues(OUT * R, seed + 4) : null;
  const dy = uniformValues(N * OUT, seed + 5);
  const dx0 = uniformValues(N * IN, seed + 6);
  const made: GPUBuffer[] = [];
  const up = (label: string, data: Float32Array) => {
    const b = uploadBuffer(gpu, `lora quant test ${label}`, data);
    made.push(b);
    return b;
  };
  const mk = (label: string, n: number) => {
    const b = createBuffer(gpu, `lora quant test ${label}`, Math.max(1, n) * 4);
    made.push(b);
    return b;
  };
  const q = uploadQuantizedRef(gpu, 'lora quant test W', c.format, w, OUT, IN, { scaleF16: c.scaleF16, splitAt: c.splitAt });
  made.push(...q.buffers);
  if (c.maxBindingBytes) expect(quantBindings(gpu, q.weight, 'W', c.maxBindingBytes).length).toBeGreaterThan(1);
  const wq = dequantizeRef(q.ref);
  const fwd = loraForwardRef({ ...c, x, w: wq, bias, a: A, b: B });
  const bwd = loraBackwardRef({ ...c, dy, x, w: wq, a: A, b: B, u: fwd.u });
  const buf = { x: up('x', x), y: mk('y', N * OUT), dy: up('dy', dy), dx: up('dx', dx0), u: mk('u', N * R), du: mk('du', N * R), xd: mk('xd', N * IN) };
  const lora = R ? { a: up('A', A!), b: up('B', B!), R, scale: c.scale ?? 1, dropout: c.dropout, dropoutKey: c.dropoutKey, u: buf.u, xd: buf.xd } : null;
  const grads = R ? { dA: up('dA', new Float32Array(R * IN)), dB: up('dB', new Float32Array(OUT * R)), du: buf.du } : null;
  const common = { N, IN, OUT, w: q.weight, wFormat: c.format, bias: bias ? up('bias', bias) : null, maxBindingBytes: c.maxBindingBytes, label: 'lora quant test' };
  const rec = new Recorder(gpu, 'lora quant test');
  loraForward(rec, { ...common, x: buf.x, y: buf.y, lora });
  loraBackward(rec, { ...common, dy: buf.dy, x: buf.x, dx: buf.dx, accumulateDx: c.accumulateDx, lora, grads });
  await rec.done();
  const got = {
    y: await readF32(gpu, buf.y, N * OUT),
    dx: await readF32(gpu, buf.dx, N * IN),
    dA: grads ? await readF32(gpu, grads.dA, R * IN) : new Float32Array(0),
    dB: grads ? await readF32(gpu, grads.dB, OUT * R) : new Float32Array(0),
  };
  for (const b of made) b.destroy();
  const wantDx = bwd.dx.map((v, i) => v + (c.accumulateDx ? dx0[i] : 0));
  return { fwd, bwd, wantDx, got };
}

describe('lora linear with a quantized W matches the float64 reference on the dequantized W', () => {
  cases.forEach(([name, c], index) => {
    const label = `${c.format}${c.scaleF16 ? ' f16 scales' : ''} N${c.N} IN${c.IN} OUT${c.OUT} R${c.R ?? 0}${c.dropout ? ` p${c.dropout}` : ''}${c.bias ? ' bias' : ''}${c.maxBindingBytes || c.splitAt ? ' split W' : ''}`;
    let result: ReturnType<typeof run> | undefined;
    const once = () => (result ??= run(c, 300 + 20 * index));
    it(`lora forward ${name} matches_reference`, async () => {
      const gpu = await testGpu();
      const { fwd, got } = await once();
      recordKernelError('lora quantized', 'forward', label, expectClose(got.y, fwd.y, TOLERANCES.lora, `y ${label}`), gpu.adapter.name);
    });
    it(`lora backward ${name} matches_reference`, async () => {
      const gpu = await testGpu();
      const { bwd, wantDx, got } = await once();
      const errors = [expectClose(got.dx, wantDx, TOLERANCES.lora, `dx ${label}`)];
      if (c.R) errors.push(expectClose(got.dA, bwd.dA, TOLERANCES.lora, `dA ${label}`), expectClose(got.dB, bwd.dB, TOLERANCES.lora, `dB ${label}`));
      recordKernelError('lora quantized', 'backward', label, errors.reduce((a, b) => (b.maxAbs > a.maxAbs ? b : a)), gpu.adapter.name);
    });
  });

  it('the vec4 kernel takes a quantized W whenever IN is a multiple of 4, whatever the word offset', () => {
    const operand = { format: 'nf4' as const, scales: null as never, scaleOffset: 3, scaleF16: true, rowWords: 24, scalesPerRow: 3 };
    expect(matmulVec4Applies({ a: null as never, b: null as never, c: null as never, M: 9, N: 132, K: 24, offsetB: 5, bQuant: operand })).toBe(true);
    expect(matmulVec4Applies({ a: null as never, b: null as never, c: null as never, M: 9, N: 37, K: 24, bQuant: operand })).toBe(false);
  });

  it('lora forward with W quantized on the GPU from bf16 bytes (uploadQuantized) matches_reference', async () => {
    const gpu = await testGpu();
    const [N, IN, OUT] = [40, 128, 40];
    const x = gridValues(N * IN, 5);
    const w = gridValues(OUT * IN, 6, 0.25);
    for (const format of ['q8', 'nf4'] as const) {
      const weight = await quantizeArray(gpu, { format, rows: OUT, cols: IN, data: w, label: `lora gpu-quantized ${format}` });
      const ref = uploadQuantizedRef(gpu, 'unused', format, w, OUT, IN);
      for (const b of ref.buffers) b.destroy();
      const gx = uploadBuffer(gpu, 'x', x);
      const gy = createBuffer(gpu, 'y', N * OUT * 4);
      const rec = new Recorder(gpu, 'lora gpu-quantized');
      loraForward(rec, { N, IN, OUT, w: weight, x: gx, y: gy, label: 'lora gpu-quantized' });
      await rec.done();
      const want = loraForwardRef({ N, IN, OUT, x, w: dequantizeRef(ref.ref) }).y;
      expectClose(await readF32(gpu, gy, N * OUT), want, TOLERANCES.lora, `y ${format}`);
      destroyQuantized(weight);
      gx.destroy();
      gy.destroy();
    }
  });
});
