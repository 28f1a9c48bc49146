import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRange, serve } from '../../../scripts/serve.mjs';

describe('Range header parsing', () => {
  it('handles closed, open and suffix ranges', () => {
    expect(parseRange('bytes=0-7', 100)).toEqual([0, 7]);
    expect(parseRange('bytes=90-', 100)).toEqual([90, 99]);
    expect(parseRange('bytes=-10', 100)).toEqual([90, 99]);
    expect(parseRange('bytes=50-500', 100)).toEqual([50, 99]);
    expect(parseRange(undefined, 100)).toBeNull();
  });

  it('rejects unsatisfiable or malformed ranges', () => {
    expect(parseRange('bytes=100-', 100)).toBe('bad');
    expect(parseRange('bytes=5-2', 100)).toBe('bad');
    expect(parseRange('bytes=-0', 100)).toBe('bad');
    expect(parseRange('items=0-1', 100)).toBe('bad');
  });
});

describe('static server', () => {
  const root = mkdtempSync(join(tmpdir(), 'serve-'));
  const data = new Uint8Array(256).map((_, i) => i);
  let withRange: Awaited<ReturnType<typeof serve>>;
  let noRange: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    writeFileSync(join(root, 'blob.bin'), data);
    withRange = await serve({ root });
    noRange = await serve({ root, range: false, status: (p) => (p === '/gated.bin' ? 401 : undefined) });
  });
  afterAll(async () => {
    await withRange.close();
    await noRange.close();
  });

  it('answers a Range request with 206 and exactly those bytes', async () => {
    const res = await fetch(`${withRange.url}blob.bin`, { headers: { range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 10-19/256');
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([...data.subarray(10, 20)]);
  });

  it('can ignore Range like some servers do, and force a status', async () => {
    const res = await fetch(`${noRange.url}blob.bin`, { headers: { range: 'bytes=10-19' } });
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(256);
    expect((await fetch(`${noRange.url}gated.bin`)).status).toBe(401);
  });

  it('never serves files outside its root', async () => {
    const res = await fetch(`${withRange.url}..%2f..%2fetc%2fpasswd`);
    expect([403, 404]).toContain(res.status);
    expect((await fetch(`${withRange.url}missing.bin`)).status).toBe(404);
  });
});
