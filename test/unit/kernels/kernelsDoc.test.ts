import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KERNELS, errorCell, readRecords, renderKernelsDoc } from '../../../scripts/kernels-doc';

describe('docs/kernels.md generator', () => {
  it('keeps the latest record per case, takes the max over cases, and marks unmeasured kernels', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernels-doc-'));
    const file = join(dir, 'kernel-errors.jsonl');
    const line = (shape: string, maxAbs: number | null, maxRel = 0) =>
      JSON.stringify({ op: 'rmsnorm', pass: 'forward', shape, maxAbs, maxRel, adapter: 'test adapter' });
    writeFileSync(file, [line('a', 0.5), line('b', 2e-7, 1e-6), line('a', 1e-7), '{"cut short', ''].join('\n'));
    const records = readRecords(file);
    expect(records).toHaveLength(2);
    const rms = KERNELS.find((k) => k.kernel === 'rmsnorm forward')!;
    expect(errorCell(rms, records)).toBe('2.0e-7 abs / 1.0e-6 rel (2 cases)');
    const swiglu = KERNELS.find((k) => k.kernel === 'swiglu forward')!;
    expect(errorCell(swiglu, records)).toMatch(/not measured/);
    expect(errorCell(rms, readRecords(file).concat([{ op: 'rmsnorm', pass: 'forward', shape: 'c', maxAbs: null, maxRel: null }]))).toMatch(/^∞ abs/);
    const doc = renderKernelsDoc(records);
    expect(doc).toContain('| rmsnorm forward (`rmsnorm/`)');
    expect(doc).toContain('Measured on: test adapter.');
    for (const k of KERNELS) expect(doc).toContain(`| ${k.kernel} (`);
  });
});
