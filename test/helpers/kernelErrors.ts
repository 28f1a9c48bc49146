import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Comparison } from './compare';

/**
 * Appends one measured GPU-vs-reference error to test-results/kernel-errors.jsonl, from which
 * `npm run docs:kernels` fills the error column of docs/kernels.md.
 */
export function recordKernelError(op: string, pass: 'forward' | 'backward' | 'step', shape: string, result: Comparison, adapter = ''): void {
  const dir = join(process.cwd(), 'test-results');
  mkdirSync(dir, { recursive: true });
  const line = JSON.stringify({ op, pass, shape, maxAbs: result.maxAbs, maxRel: result.maxRel, adapter });
  appendFileSync(join(dir, 'kernel-errors.jsonl'), line + '\n');
}
