/**
 * Peak memory on the largest hostile files: each file is generated into a temporary folder and read in a child
 * process (a fresh Node, so the peak RSS is this file's alone), which must stay under 1 GiB. Before this work a
 * 10 MB one-line record took 2.3 GB and a 50 MB one crashed Node at 4.3 GB.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largeHostileCases } from '../../fixtures/data/hostile';

const PEAK_RSS_LIMIT_MIB = 1024;
const probe = fileURLToPath(new URL('../../fixtures/data/memoryProbe.ts', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));

interface ProbeResult {
  ok: boolean;
  errors: { code: string; line?: number | null; message: string }[];
  rows: number | null;
  examples: number | null;
  truncated: number | null;
  longWordRows: number | null;
  seconds: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
}

async function run(target: string, options?: object): Promise<ProbeResult> {
  const args = ['--import', 'tsx', probe, target, ...(options ? [JSON.stringify(options)] : [])];
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: root, maxBuffer: 1 << 20, timeout: 120_000 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as ProbeResult;
  console.log(`[memory] ${target.split('/').at(-1)}: peak RSS ${result.peakRssMiB} MiB (${result.rssBeforeMiB} MiB before reading), ${result.seconds} s, ${result.ok ? 'ok' : result.errors[0]?.code}`);
  return result;
}

describe('peak RSS on the largest hostile files (child process each)', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hostile-large-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  for (const c of largeHostileCases) {
    it(`${c.name}: ${c.expect.ok ? 'loads' : c.expect.code}, under ${PEAK_RSS_LIMIT_MIB} MiB`, { timeout: 180_000 }, async () => {
      const path = await c.write(dir);
      try {
        const r = await run(path, c.options);
        expect(r.peakRssMiB).toBeLessThan(PEAK_RSS_LIMIT_MIB);
        if (c.expect.ok) {
          expect(r.ok, JSON.stringify(r.errors)).toBe(true);
          expect([r.rows, r.examples]).toEqual([c.expect.rows, c.expect.examples]);
          if (c.expect.truncated !== undefined) expect(r.truncated).toBe(c.expect.truncated);
          if (c.expect.longWordRows !== undefined) expect(r.longWordRows).toBe(c.expect.longWordRows);
        } else {
          expect(r.ok).toBe(false);
          expect(r.errors[0].code, r.errors[0].message).toBe(c.expect.code);
          if (c.expect.line !== undefined) expect(r.errors[0].line).toBe(c.expect.line);
        }
      } finally {
        await rm(path, { force: true });
      }
    });
  }
  it('a 2 GiB single line (streamed, never on disk) is skipped and the next row read', { timeout: 180_000 }, async () => {
    const r = await run('builtin:huge-line.jsonl (2 GiB line, streamed)', { onBadRows: 'skip' });
    expect(r.peakRssMiB).toBeLessThan(PEAK_RSS_LIMIT_MIB);
    expect([r.ok, r.rows, r.examples, r.errors[0]?.code]).toEqual([true, 2, 1, 'record-too-large']);
  });
  it('a 50 MB record is skipped under onBadRows "skip", and the row after it is read', { timeout: 180_000 }, async () => {
    const c = largeHostileCases.find((x) => x.name === 'line-50mb.jsonl')!;
    const path = await c.write(dir);
    const r = await run(path, { onBadRows: 'skip' });
    expect(r.peakRssMiB).toBeLessThan(PEAK_RSS_LIMIT_MIB);
    expect([r.ok, r.rows, r.examples, r.errors[0]?.code, r.errors[0]?.line]).toEqual([true, 2, 1, 'record-too-large', 1]);
  });
});
