// The frozen base in each storage format: the linear layer's forward (y = x·Wᵀ) and input gradient
// (dx = dy·W) with W f32, f16 (shader-f16 adapters), q8 or nf4 (dequantized per tile in the matmul),
// at SmolLM2-135M's projection shapes; and the GPU quantization of a weight streamed in from BF16.
// Same launchers as the model (loraForward / loraBackward without an adapter).
import type { Gpu } from '../src/engine/gpu/device';
import { createBuffer, uploadBuffer } from '../src/engine/gpu/buffers';
import { f32ToBf16, f32ToF16 } from '../src/formats/dtype';
import { loraBackward, loraForward } from '../src/engine/kernels/lora/lora';
import { lmheadChunkRows, lmheadLoss } from '../src/engine/kernels/lmhead/lmhead';
import { destroyQuantized, quantizeArray, uploadQuantized, type QuantizedWeight } from '../src/engine/kernels/quant/quant';
import { weightBytes, type WeightFormat } from '../src/engine/kernels/quant/layout';
import { matmulFlops, median, repeatRuns, type Measurement, type RepeatOptions } from './harness';
import { randomValues, timeOurs } from './ours';
import { projections, type ModelShape } from './shapes';

export const QUANT_PROJECTIONS = ['q', 'up', 'down'] as const;

/** Forward and dx of one projection in every format the adapter has, at T tokens. */
export async function benchQuantProjection(gpu: Gpu, model: ModelShape, proj: string, T: number, options: RepeatOptions): Promise<Measurement[]> {
  const [IN, OUT] = projections(model)[proj];
  const values = randomValues(OUT * IN, 1).map((v) => v * 0.05);
  const x = uploadBuffer(gpu, 'bench quant x', randomValues(T * IN, 2));
  const dy = uploadBuffer(gpu, 'bench quant dy', randomValues(T * OUT, 3));
  const y = createBuffer(gpu, 'bench quant y', T * OUT * 4);
  const dx = createBuffer(gpu, 'bench quant dx', T * IN * 4);
  const formats: WeightFormat[] = gpu.features.f16 ? ['f32', 'f16', 'q8', 'nf4'] : ['f32', 'q8', 'nf4'];
  const out: Measurement[] = [];
  try {
    for (const format of formats) {
      let w: GPUBuffer | QuantizedWeight;
      if (format === 'f32') w = uploadBuffer(gpu, 'bench quant W f32', values);
      else if (format === 'f16') w = uploadBuffer(gpu, 'bench quant W f16', f32ToF16(values));
      else w = await quantizeArray(gpu, { format, rows: OUT, cols: IN, data: values, label: `bench quant W ${format}` });
      const b = weightBytes(format, OUT, IN);
      const note = `W ${(b.total / 1024).toFixed(0)} KiB`;
      try {
        const weights = { w, wF16: format === 'f16', IN, OUT, N: T };
        const base = `${model.name} ${proj} T${T} ${IN}→${OUT}`;
        for (const [layout, record] of [
          ['fwd x·Wᵀ', (rec) => loraForward(rec, { ...weights, x, y })],
          ['dx = dy·W', (rec) => loraBackward(rec, { ...weights, dy, x, dx })],
        ] as const satisfies readonly (readonly [string, Parameters<typeof timeOurs>[2]])[]) {
          const name = `${base} ${layout} W ${format}`;
          const t = await timeOurs(gpu, name, record, options);
          out.push({ group: 'quant', name, impl: 'ours', ms: median(t.samples), samples: t.samples, timing: t.timing, flops: matmulFlops(T, OUT, IN), note });
        }
      } finally {
        if ('parts' in w) destroyQuantized(w);
        else w.destroy();
      }
    }
  } finally {
    for (const b of [x, dy, y, dx]) b.destroy();
  }
  return out;
}

/**
 * The fused LM head + cross-entropy (logits, loss and dh of N tokens) over the tied table stored
 * f32, f16, q8 or nf4: what a quantized table would buy in time (its bytes are the planner's).
 * The model keeps the table 16-bit under a quantized base where the device has shader-f16.
 */
export async function benchLmHeadTable(gpu: Gpu, model: ModelShape, N: number, options: RepeatOptions): Promise<Measurement[]> {
  const { C, V } = model;
  const values = randomValues(V * C, 11).map((v) => v * 0.05);
  const chunkRows = lmheadChunkRows(gpu, N, V);
  const labels = Int32Array.from({ length: N }, (_, i) => (i * 7919) % V);
  const own: GPUBuffer[] = [];
  const up = (label: string, data: Float32Array | Int32Array) => (own.push(uploadBuffer(gpu, label, data)), own.at(-1)!);
  const empty = (label: string, n: number) => (own.push(createBuffer(gpu, label, 4 * n)), own.at(-1)!);
  const args = {
    N, C, V, h: up('h', randomValues(N * C, 12)), labels: up('labels', labels), gradScale: 1 / N,
    logits: empty('logits chunk', chunkRows * V), chunkRows, rowLoss: empty('row loss', N), rowCorrect: empty('row correct', N),
    lossSum: empty('loss sum', 1), targetCount: empty('target count', 2), dh: empty('dh', N * C),
  };
  const formats: WeightFormat[] = gpu.features.f16 ? ['f32', 'f16', 'q8', 'nf4'] : ['f32', 'q8', 'nf4'];
  const out: Measurement[] = [];
  try {
    for (const format of formats) {
      let w: GPUBuffer | QuantizedWeight;
      if (format === 'f32') w = uploadBuffer(gpu, 'lm head f32', values);
      else if (format === 'f16') w = uploadBuffer(gpu, 'lm head f16', f32ToF16(values));
      else w = await quantizeArray(gpu, { format, rows: V, cols: C, data: values, label: `lm head ${format}` });
      try {
        const name = `lmhead+CE ${model.name} N${N} C${C} V${V} table ${format}`;
        const t = await timeOurs(gpu, name, (rec) => lmheadLoss(rec, { ...args, w, wFormat: format }), options);
        out.push({ group: 'quant', name, impl: 'ours', ms: median(t.samples), samples: t.samples, timing: t.timing, flops: 2 * matmulFlops(N, V, C), note: `table ${(weightBytes(format, V, C).total / 2 ** 20).toFixed(1)} MiB; chunk ${chunkRows} rows` });
      } finally {
        if ('parts' in w) destroyQuantized(w);
        else w.destroy();
      }
    }
  } finally {
    for (const b of own) b.destroy();
  }
  return out;
}

/** Wall clock of uploadQuantized of a BF16 [rows, cols] weight read a chunk at a time (the model loader's path). */
export async function benchQuantize(gpu: Gpu, model: ModelShape, proj: string, options: RepeatOptions): Promise<Measurement[]> {
  const [IN, OUT] = projections(model)[proj];
  const bf16 = f32ToBf16(randomValues(OUT * IN, 4).map((v) => v * 0.05));
  const bytes = new Uint8Array(bf16.buffer);
  const rowBytes = IN * 2;
  const out: Measurement[] = [];
  for (const format of ['q8', 'nf4'] as const) {
    const name = `quantize ${model.name} ${proj} ${OUT}×${IN} BF16 → ${format} (upload included)`;
    const samples = await repeatRuns(async () => {
      const start = performance.now();
      const w = await uploadQuantized(gpu, {
        format, dtype: 'bf16', rows: OUT, cols: IN, label: 'bench quantize',
        readRows: (row0, count) => bytes.subarray(row0 * rowBytes, (row0 + count) * rowBytes),
      });
      const ms = performance.now() - start;
      destroyQuantized(w);
      return ms;
    }, options);
    out.push({ group: 'quant', name, impl: 'ours', ms: median(samples), samples, timing: 'wall-clock', bytes: OUT * IN * 2, note: 'default 4 MiB staging' });
  }
  return out;
}
