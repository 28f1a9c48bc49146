import { expect } from 'vitest';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Comparison {
  maxAbs: number;
  maxRel: number;
  mismatches: number;
  report: string;
}

/**
 * Compares `actual` with `expected` element-wise: |a − e| ≤ atol + rtol·|e|. NaN must match NaN.
 * The report gives the max absolute and relative errors and the first mismatches with indices.
 */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): Comparison {
  if (actual.length !== expected.length) {
    return { maxAbs: Infinity, maxRel: Infinity, mismatches: 1, report: `length ${actual.length} != expected ${expected.length}` };
  }
  let maxAbs = 0;
  let maxRel = 0;
  let mismatches = 0;
  const first: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const abs = Math.abs(a - e);
    const rel = abs / Math.max(Math.abs(e), 1e-30);
    if (!(abs <= tol.atol + tol.rtol * Math.abs(e))) {
      mismatches++;
      if (first.length < 8) first.push(`  [${i}] got ${a}, expected ${e} (abs ${abs.toExponential(2)})`);
    }
    if (Number.isFinite(abs)) {
      maxAbs = Math.max(maxAbs, abs);
      if (Math.abs(e) > 1e-6) maxRel = Math.max(maxRel, rel);
    } else if (!Number.isNaN(e)) {
      maxAbs = Infinity;
    }
  }
  const report =
    `max abs error ${maxAbs.toExponential(3)}, max rel error ${maxRel.toExponential(3)}, ` +
    `${mismatches}/${expected.length} outside atol ${tol.atol} + rtol ${tol.rtol}` +
    (first.length ? `\nfirst mismatches:\n${first.join('\n')}` : '');
  return { maxAbs, maxRel, mismatches, report };
}

/** Asserts closeness; the failure message is the comparison report. Returns it for logging. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'values'): Comparison {
  const result = compare(actual, expected, tol);
  expect(result.mismatches, `${what}: ${result.report}`).toBe(0);
  return result;
}
