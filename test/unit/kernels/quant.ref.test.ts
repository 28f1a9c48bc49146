import { describe, expect, it } from 'vitest';
import nf4CodeWgsl from '../../../src/engine/kernels/quant/nf4_code.wgsl?raw';
import q8Wgsl from '../../../src/engine/kernels/quant/quantize_q8.wgsl?raw';
import {
  codeAt, decodeSourceRef, dequantizeRef, INV_127, NF4_CODE, NF4_THRESHOLD, nf4Index, quantizeNF4Ref, quantizeQ8Ref, roundHalfEven, scaleAt,
} from '../../../src/engine/kernels/quant/quant.ref';
import { bitsPerWeight, quantLayout, quantPartRows, weightBytes } from '../../../src/engine/kernels/quant/layout';
import { fullTileRows, lmheadChunkTokens } from '../../../src/engine/kernels/lmhead/chunks';
import { f32ToBf16, f32ToF16 } from '../../../src/formats/dtype';
import { rng, uniformValues } from '../../helpers/random';

/** The value of a WGSL hex float literal such as -0x1.647362p-1f. */
function hexFloat(text: string): number {
  const m = /^(-?)0x([0-9a-f]+)\.([0-9a-f]*)p([+-]?\d+)f$/i.exec(text.trim());
  if (!m) throw new Error(`not a hex float: ${text}`);
  const frac = m[3] ? parseInt(m[3], 16) / 16 ** m[3].length : 0;
  return (m[1] ? -1 : 1) * (parseInt(m[2], 16) + frac) * 2 ** Number(m[4]);
}

function wgslArray(source: string, name: string): number[] {
  const m = new RegExp(`const ${name} = array<f32, \\d+>\\(([^;]*)\\);`).exec(source);
  if (!m) throw new Error(`no ${name}`);
  return m[1].split(',').map((t) => (t.trim() === '0.0f' ? 0 : hexFloat(t)));
}

describe('quantization reference (quant.ref.ts)', () => {
  it('NF4 values are bitsandbytes\' code as f32, and the WGSL tables hold exactly the reference values', () => {
    expect(NF4_CODE.length).toBe(16);
    expect(NF4_CODE[0]).toBe(-1);
    expect(NF4_CODE[7]).toBe(0);
    expect(NF4_CODE[15]).toBe(1);
    for (let i = 1; i < 16; i++) expect(NF4_CODE[i]).toBeGreaterThan(NF4_CODE[i - 1]);
    expect(wgslArray(nf4CodeWgsl, 'NF4_CODE')).toEqual(Array.from(NF4_CODE));
    expect(wgslArray(nf4CodeWgsl, 'NF4_THRESHOLD')).toEqual(Array.from(NF4_THRESHOLD));
    // A few of bitsandbytes' decision-tree thresholds (f32 of the float64 midpoints).
    expect(NF4_THRESHOLD[7]).toBe(Math.fround(0.03979014977812767));
    expect(NF4_THRESHOLD[6]).toBe(Math.fround(-0.045525018125772476));
    expect(NF4_THRESHOLD[14]).toBe(Math.fround(0.8614784181118011));
    expect(hexFloat(/INV_127 = ([^;]+);/.exec(q8Wgsl)![1])).toBe(INV_127);
  });

  it('NF4 picks the nearest value, and a value exactly on a midpoint goes to the lower one', () => {
    for (let i = 0; i < 16; i++) expect(nf4Index(NF4_CODE[i])).toBe(i);
    for (let i = 0; i < 15; i++) {
      expect(nf4Index(NF4_THRESHOLD[i])).toBe(i);
      expect(nf4Index(NF4_THRESHOLD[i] + 1e-7)).toBe(i + 1);
    }
    const r = rng(3);
    for (let k = 0; k < 1000; k++) {
      const x = 2 * r() - 1;
      const nearest = NF4_CODE.reduce((best, v, i) => (Math.abs(v - x) < Math.abs(NF4_CODE[best] - x) ? i : best), 0);
      expect(nf4Index(x)).toBe(nearest);
    }
  });

  it('rounds half to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 63.5, 64.5, 2.4999, -2.5001].map((x) => roundHalfEven(x) + 0)).toEqual([0, 2, 2, 0, -2, -2, 64, 64, 2, -3]);
  });

  it('q8: codes round 127·w/absmax half to even, scale = absmax·f32(1/127), zero rows stay zero', () => {
    // absmax 2: w = 1 → 63.5 (a tie) → 64, w = -1 → -64, w = 0.125 → 7.9375 → 8; row 1 is zeros.
    const data = [2, 1, -1, 0.125, 0, 0, 0, 0];
    const q = quantizeQ8Ref({ data, rows: 2, cols: 4 });
    expect([0, 1, 2, 3].map((c) => codeAt(q, 0, c))).toEqual([127, 64, -64, 8]);
    expect([0, 1, 2, 3].map((c) => codeAt(q, 1, c) + 0)).toEqual([0, 0, 0, 0]);
    expect(scaleAt(q, 0)).toBe(Math.fround(2 * INV_127));
    expect(scaleAt(q, 1)).toBe(0);
    const f16 = quantizeQ8Ref({ data, rows: 2, cols: 4, scaleF16: true });
    expect(Math.abs(scaleAt(f16, 0) - 2 / 127)).toBeLessThan((2 / 127) * 2 ** -11);
    expect(Array.from(f16.values)).toEqual(Array.from(q.values));
  });

  it('q8 and nf4 dequantize to within half a step of the weights, and an exact grid survives q8 intact', () => {
    const [rows, cols] = [16, 200];
    const w = uniformValues(rows * cols, 5, -0.2, 0.2);
    const q8 = quantizeQ8Ref({ data: w, rows, cols });
    const nf4 = quantizeNF4Ref({ data: w, rows, cols });
    const d8 = dequantizeRef(q8);
    const d4 = dequantizeRef(nf4);
    const widestGap = Math.max(...Array.from({ length: 15 }, (_, i) => NF4_CODE[i + 1] - NF4_CODE[i]));
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        expect(Math.abs(d8[i] - w[i])).toBeLessThanOrEqual(scaleAt(q8, r) / 2 * (1 + 1e-6));
        const a = scaleAt(nf4, r * 4 + Math.floor(c / 64));
        expect(Math.abs(d4[i] - w[i])).toBeLessThanOrEqual((a * widestGap) / 2 + Math.abs(w[i]) * 2 ** -10);
      }
    }
    // Multiples of 1/127 of the row max are q8 codes exactly.
    const grid = Float64Array.from({ length: 254 }, (_, i) => (i - 127) / 127);
    const g = quantizeQ8Ref({ data: grid, rows: 1, cols: 254 });
    expect(Array.from({ length: 254 }, (_, c) => codeAt(g, 0, c))).toEqual(Array.from({ length: 254 }, (_, c) => c - 127));
  });

  it('nf4: blocks of 64 with an f16 absmax, padding nibbles hold index 7, zero blocks are all index 7', () => {
    const cols = 70; // one full block and a partial block of 6
    const data = new Float64Array(2 * cols);
    for (let c = 0; c < 64; c++) data[c] = (c - 32) / 8; // block 0 of row 0: absmax 4
    data[64] = 0.3; // block 1 of row 0: absmax 0.3 (not an f16 value)
    const q = quantizeNF4Ref({ data, rows: 2, cols });
    expect(q.layout).toMatchObject({ rowWords: 16, scalesPerRow: 2, scaleBytes: 2 });
    expect(scaleAt(q, 0)).toBe(4);
    expect(scaleAt(q, 1)).toBe(0.300048828125); // f16(0.3), nearest
    expect(codeAt(q, 0, 0)).toBe(0); // -4/4 = -1
    expect(codeAt(q, 0, 32)).toBe(7);
    expect(codeAt(q, 0, 64)).toBe(15); // 0.3 / f16(0.3) = 0.9998
    expect((q.values[15] >>> 0).toString(16)).toBe('77777777'); // row 0, the padding of block 1
    for (let c = 0; c < cols; c++) expect(codeAt(q, 1, c)).toBe(7);
    expect(scaleAt(q, 2)).toBe(0);
  });

  it('decodes F32, F16 and BF16 source bytes', () => {
    const v = new Float32Array([1.5, -2, 0.099609375, 65504]);
    const bytes = (t: Float32Array | Uint16Array) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
    expect(Array.from(decodeSourceRef(bytes(v), 'f32'))).toEqual(Array.from(v));
    expect(Array.from(decodeSourceRef(bytes(f32ToF16(v)), 'f16'))).toEqual(Array.from(v));
    expect(Array.from(decodeSourceRef(bytes(f32ToBf16(v)), 'bf16'))).toEqual([1.5, -2, 0.099609375, 65536]);
  });
});

describe('weight memory accounting (layout.ts)', () => {
  it('lays out rows in whole words and blocks', () => {
    expect(quantLayout('q8', 10, 13)).toMatchObject({ rowWords: 4, scalesPerRow: 1, scaleBytes: 4 });
    expect(quantLayout('q8', 10, 13, true).scaleBytes).toBe(2);
    expect(quantLayout('nf4', 10, 200)).toMatchObject({ rowWords: 32, scalesPerRow: 4, scaleBytes: 2 });
  });

  it('counts values and scales of the SmolLM2-135M projections in every format', () => {
    // q_proj 576×576, up_proj 1536×576 (rows = out, cols = in), down_proj 576×1536.
    expect(weightBytes('f32', 576, 576).total).toBe(576 * 576 * 4);
    expect(weightBytes('f16', 576, 576).total).toBe(576 * 576 * 2);
    expect(weightBytes('q8', 576, 576)).toMatchObject({ values: 576 * 576, scales: 576 * 4, total: 576 * 576 + 2304, largestBuffer: 576 * 576 });
    expect(weightBytes('q8', 576, 576, { scaleF16: true }).scales).toBe(1152);
    expect(weightBytes('nf4', 1536, 576)).toMatchObject({ values: 1536 * 9 * 32, scales: 1536 * 9 * 2, total: 1536 * 576 / 2 + 1536 * 9 * 2 });
    expect(weightBytes('nf4', 576, 1536).total).toBe(576 * 1536 / 2 + 576 * 24 * 2);
    expect(weightBytes('q8', 896, 896, { bias: true }).bias).toBe(896 * 4);
    expect(weightBytes('f16', 896, 896, { bias: true }).bias).toBe(896 * 2);
    // The tied 49152×576 table as q8 parts of 20000 rows: each part's scales padded to words.
    const parts = weightBytes('q8', 49152, 576, { scaleF16: true, rowsPerPart: 20000 });
    expect(parts.values).toBe(49152 * 576);
    expect(parts.scales).toBe(2 * 40000 + Math.ceil((9152 * 2) / 4) * 4);
    expect(parts.largestBuffer).toBe(20000 * 576);
    // Qwen2.5's tied 151936×896 table as q8 under lavapipe's 128 MiB binding limit: two parts.
    const per = quantPartRows('q8', 151936, 896, 128 << 20);
    expect(per).toBe(149796);
    expect(weightBytes('q8', 151936, 896, { rowsPerPart: per }).largestBuffer).toBe(per * 896);
    expect(quantPartRows('nf4', 151936, 896, 128 << 20)).toBe(151936);
    expect(bitsPerWeight('q8', 576)).toBeCloseTo(8 + 32 / 576, 10);
    expect(bitsPerWeight('nf4', 576)).toBeCloseTo(4.25, 10);
    expect(bitsPerWeight('nf4', 200)).toBeCloseTo(((4 * 64) / 2 + 8) * 8 / 200, 10); // a partial block still costs a whole one
  });
});

describe('LM head chunking (lmhead/chunks.ts)', () => {
  it('fills whole 64-row tiles, 32 when fewer fit, and never exceeds N or the bound', () => {
    expect(lmheadChunkTokens(4096, 49152, 1 << 30, 16 << 20)).toBe(64); // 85 rows fit
    expect(lmheadChunkTokens(4096, 49152, 128 << 20, 64 << 20)).toBe(320); // 341 fit
    expect(lmheadChunkTokens(40, 49152, 1 << 30, 16 << 20)).toBe(40);
    expect(lmheadChunkTokens(4096, 151936, 1 << 30, 16 << 20)).toBe(27); // fewer than 32 fit: all of them
    expect(lmheadChunkTokens(4096, 151936, 1 << 30, 32 << 20)).toBe(32); // 55 fit
    expect(lmheadChunkTokens(4096, 151936, 20 << 20, 64 << 20)).toBe(32); // the binding limit bounds it
    expect(() => lmheadChunkTokens(1, 1 << 20, 1 << 30, 1 << 20)).toThrow(/exceeds the chunk bound/);
    expect([63, 64, 100, 128, 200, 31, 1].map(fullTileRows)).toEqual([32, 64, 64, 128, 192, 31, 1]);
    const r = rng(9);
    for (let k = 0; k < 500; k++) {
      const N = 1 + Math.floor(r() * 5000);
      const V = 1000 + Math.floor(r() * 200000);
      const bound = (1 + Math.floor(r() * 128)) << 20;
      const rows = lmheadChunkTokens(N, V, 1 << 30, bound);
      const fit = Math.floor(bound / (4 * V));
      expect(rows).toBeGreaterThanOrEqual(1);
      expect(rows).toBeLessThanOrEqual(N);
      expect(rows * V * 4).toBeLessThanOrEqual(bound);
      // Every chunk but the last fills whole tiles; one chunk takes all N when they fit.
      if (rows < N && fit >= 64) expect(rows % 64).toBe(0);
      if (rows < N && fit >= 64) expect(rows).toBeGreaterThan(fit - 64);
      if (N <= fullTileRows(fit)) expect(rows).toBe(N);
    }
  });
});
