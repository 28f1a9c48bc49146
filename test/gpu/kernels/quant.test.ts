import { describe, expect, it } from 'vitest';
import { readU32 } from '../../../src/engine/gpu/buffers';
import { f32ToBf16, f32ToF16 } from '../../../src/formats/dtype';
import { destroyQuantized, quantizeArray, uploadQuantized, type QuantizedWeight } from '../../../src/engine/kernels/quant/quant';
import { codeAt, decodeSourceRef, dequantizeRef, NF4_THRESHOLD, quantizeRef, scaleAt, type QuantizedRef, type SourceDtype } from '../../../src/engine/kernels/quant/quant.ref';
import { quantLayout, type QuantFormat } from '../../../src/engine/kernels/quant/layout';
import type { Gpu } from '../../../src/engine/gpu/device';
import { gridValues, uniformValues } from '../../helpers/random';
import { testGpu } from '../../helpers/gpu';

/** Packed values and scales of a GPU-quantized weight, concatenated over its parts. */
async function readQuantized(gpu: Gpu, w: QuantizedWeight): Promise<QuantizedRef> {
  const layout = quantLayout(w.format, w.rows, w.cols, w.scaleF16 && w.format === 'q8');
  const values = new Uint32Array(w.rows * layout.rowWords);
  const scaleWords: number[] = [];
  let row = 0;
  for (const part of w.parts) {
    values.set(await readU32(gpu, part.values, part.rows * layout.rowWords), row * layout.rowWords);
    // Scales of a part start at its row 0: re-pack them as one weight's scales.
    const words = await readU32(gpu, part.scales);
    const count = part.rows * layout.scalesPerRow;
    for (let i = 0; i < count; i++) {
      const bits = layout.scaleBytes === 4 ? words[i] : (words[i >> 1] >>> (16 * (i & 1))) & 0xffff;
      scaleWords.push(bits);
    }
    row += part.rows;
  }
  const scales = layout.scaleBytes === 4 ? Uint32Array.from(scaleWords) : new Uint32Array(Math.ceil(scaleWords.length / 2));
  if (layout.scaleBytes === 2) scaleWords.forEach((h, i) => (scales[i >> 1] |= h << (16 * (i & 1))));
  return { layout, values, scales };
}

function sourceBytes(values: Float32Array, dtype: SourceDtype): Uint8Array {
  const typed = dtype === 'f32' ? values : dtype === 'f16' ? f32ToF16(values) : f32ToBf16(values);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/** Asserts the GPU codes equal the reference's, allowing only values within f32 rounding of a decision boundary. */
function expectSameCodes(got: QuantizedRef, want: QuantizedRef, data: ArrayLike<number>, what: string): number {
  const { rows, cols, format, scalesPerRow } = want.layout;
  let ambiguous = 0;
  const bad: string[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = codeAt(got, r, c);
      const e = codeAt(want, r, c);
      if (g === e) continue;
      // The boundary the value sits on, in the reference's normalized units.
      let near = false;
      if (format === 'q8') {
        const t = (127 * data[r * cols + c]) / (scaleAt(want, r) * 127);
        near = Math.abs(Math.abs(t - Math.trunc(t)) - 0.5) < 1e-5 && Math.abs(g - e) === 1;
      } else {
        const x = data[r * cols + c] / scaleAt(want, r * scalesPerRow + Math.floor(c / 64));
        near = Math.abs(g - e) === 1 && NF4_THRESHOLD.some((t) => Math.abs(x - t) < 1e-6);
      }
      if (near) ambiguous++;
      else if (bad.length < 8) bad.push(`(${r}, ${c}) value ${data[r * cols + c]}: got ${g}, expected ${e}`);
    }
  }
  expect(bad, `${what}: codes differ from the reference:\n${bad.join('\n')}`).toEqual([]);
  return ambiguous;
}

interface Case {
  format: QuantFormat;
  scaleF16?: boolean;
  rows: number;
  cols: number;
  /** Bytes of the staging buffer (forces several chunks). */
  stagingBytes?: number;
  /** Largest values buffer of a part (forces several parts). */
  maxPartBytes?: number;
}

const cases: [string, Case][] = [
  ['q8, odd rows, cols not a multiple of 4', { format: 'q8', rows: 37, cols: 13 }],
  ['q8 f16 scales, streamed in chunks of 2 rows, 3 parts', { format: 'q8', scaleF16: true, rows: 41, cols: 96, stagingBytes: 3 * 96 * 4, maxPartBytes: 16 * 96 }],
  ['q8, 1536 columns (SmolLM2 down_proj rows), chunks', { format: 'q8', rows: 20, cols: 1536, stagingBytes: 2 * 1536 * 4 }],
  ['nf4, 3 blocks + a partial block of 8, odd rows', { format: 'nf4', rows: 9, cols: 200 }],
  ['nf4, one partial block, streamed in chunks, 2 parts', { format: 'nf4', rows: 23, cols: 40, stagingBytes: 2 * 40 * 4, maxPartBytes: 12 * 32 }],
  ['nf4, 576 columns (SmolLM2 rows)', { format: 'nf4', rows: 16, cols: 576 }],
];

describe('quantization matches the float64 reference', async () => {
  const gpu = await testGpu();
  cases.forEach(([name, c], index) => {
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      it(`quantize ${name} from ${dtype} matches_reference (bit-exact codes and scales on grid inputs)`, async () => {
        const values = gridValues(c.rows * c.cols, 100 + index, 1);
        // A zero row (q8) / zero block (nf4) and exact ties: 127·w/absmax = 63.5 at w = 1, absmax = 2.
        values.fill(0, 0, Math.min(c.cols, 64));
        const bytes = sourceBytes(values, dtype);
        const rowBytes = bytes.byteLength / c.rows;
        const chunks: [number, number][] = [];
        const w = await uploadQuantized(gpu, {
          format: c.format, dtype, rows: c.rows, cols: c.cols, scaleF16: c.scaleF16, label: `quant test ${name}`,
          stagingBytes: c.stagingBytes, maxPartBytes: c.maxPartBytes,
          readRows: (row0, count) => {
            chunks.push([row0, count]);
            return bytes.subarray(row0 * rowBytes, (row0 + count) * rowBytes);
          },
        });
        if (c.stagingBytes) expect(chunks.length).toBeGreaterThan(2);
        if (c.maxPartBytes) expect(w.parts.length).toBeGreaterThan(1);
        expect(chunks.reduce((s, [, n]) => s + n, 0)).toBe(c.rows);
        const got = await readQuantized(gpu, w);
        destroyQuantized(w);
        const data = decodeSourceRef(bytes, dtype);
        const want = quantizeRef({ format: c.format, data, rows: c.rows, cols: c.cols, scaleF16: c.scaleF16 });
        expect(expectSameCodes(got, want, data, name)).toBe(0);
        expect(Array.from(got.values)).toEqual(Array.from(want.values));
        expect(Array.from(got.scales)).toEqual(Array.from(want.scales));
      });
    }
  });

  for (const format of ['q8', 'nf4'] as const) {
    it(`quantize ${format} of uniform random f32 matches_reference up to ties at f32 rounding`, async () => {
      const [rows, cols] = [64, 576];
      const values = uniformValues(rows * cols, 7, -0.1, 0.1);
      const w = await quantizeArray(gpu, { format, rows, cols, data: values, label: `quant random ${format}` });
      const got = await readQuantized(gpu, w);
      destroyQuantized(w);
      const want = quantizeRef({ format, data: values, rows, cols });
      const ambiguous = expectSameCodes(got, want, values, `random ${format}`);
      expect(ambiguous).toBeLessThan(4);
      // Scales: the same f32 / f16 bits, or the neighbouring value where the GPU rounds the other way.
      for (let i = 0; i < rows * want.layout.scalesPerRow; i++) {
        expect(Math.abs(scaleAt(got, i) - scaleAt(want, i))).toBeLessThanOrEqual(Math.abs(scaleAt(want, i)) * (format === 'q8' ? 2 ** -23 : 2 ** -10));
      }
      // The dequantized weight is within half a step of the original.
      const deq = dequantizeRef(got);
      for (let r = 0; r < rows; r++) {
        const step = format === 'q8' ? scaleAt(got, r) : scaleAt(got, r * want.layout.scalesPerRow) * 0.33;
        expect(Math.abs(deq[r * cols] - values[r * cols])).toBeLessThanOrEqual(step / 2 + 1e-9);
      }
    });
  }
});
