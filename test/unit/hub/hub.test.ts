import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../../../scripts/serve.mjs';
import { ModelFolderError, openModelFolder } from '../../../src/formats/modelFolder';
import { generateModelWithTensors } from '../../../src/formats/generate';
import { HubError, type HubProgress, hubFiles, memoryCache, resolveUrl } from '../../../src/hub/hub';

type Server = Awaited<ReturnType<typeof serve>>;

const single = generateModelWithTensors({ seed: 3, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 64, dtype: 'BF16' });
const sharded = generateModelWithTensors({ seed: 4, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 64, tokenizer: false, vocabSize: 96, maxShardBytes: 12_000 });

let root: string;
let ranged: Server;
let plain: Server;
let locked: Server;

/** Counts requests through the real fetch, and records their headers. */
function countingFetch() {
  const calls: { url: string; range: string | null; auth: string | null }[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    calls.push({ url: String(input), range: headers.get('range'), auth: headers.get('authorization') });
    return fetch(input, init);
  }) as typeof fetch;
  return { fetch: f, calls };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hub-test-'));
  for (const [repo, model] of [['org/tiny', single], ['org/sharded', sharded]] as const) {
    const dir = join(root, repo, 'resolve', 'main');
    mkdirSync(dir, { recursive: true });
    for (const [name, content] of model.files) writeFileSync(join(dir, name), content);
  }
  ranged = await serve({ root, port: 0, range: true });
  plain = await serve({ root, port: 0, range: false });
  locked = await serve({ root, port: 0, status: (path) => (path.includes('/gated/') ? 401 : path.includes('/private/') ? 403 : undefined) });
});

afterAll(async () => {
  await Promise.all([ranged?.close(), plain?.close(), locked?.close()]);
  rmSync(root, { recursive: true, force: true });
});

describe('hub URLs', () => {
  it('resolves {endpoint}/{repo}/resolve/{revision}/{file}', () => {
    expect(resolveUrl('HuggingFaceTB/SmolLM2-135M', 'config.json')).toBe('https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/config.json');
    expect(resolveUrl('Qwen/Qwen2.5-0.5B', 'model.safetensors', 'refs/pr/1', 'http://x/')).toBe('http://x/Qwen/Qwen2.5-0.5B/resolve/refs%2Fpr%2F1/model.safetensors');
    expect(() => resolveUrl('../etc', 'config.json')).toThrow(HubError);
  });
});

describe('hub reads over HTTP Range', () => {
  it('opens a checkpoint reading only the header, then only the tensors asked for, with progress', async () => {
    const { fetch, calls } = countingFetch();
    const progress: HubProgress[] = [];
    const files = hubFiles('org/tiny', { endpoint: ranged.url, fetch, cache: memoryCache(), onProgress: (p) => progress.push(p) });
    const ckpt = await openModelFolder(files);
    expect(ckpt.spec).toEqual(single.spec);
    const size = (single.files.get('model.safetensors') as Uint8Array).byteLength;
    const weightCalls = calls.filter((c) => c.url.endsWith('model.safetensors'));
    expect(weightCalls.every((c) => c.range !== null)).toBe(true);
    const name = 'model.layers.1.mlp.down_proj.weight';
    expect(Array.from(await ckpt.readTensorF32(name))).toEqual(Array.from(single.tensors.get(name)!.data));
    const weightProgress = progress.filter((p) => p.file === 'model.safetensors');
    expect(weightProgress.at(-1)!.total).toBe(size);
    expect(weightProgress.at(-1)!.loaded).toBeLessThan(size / 4); // header + one small tensor, not the file
    for (let i = 1; i < weightProgress.length; i++) expect(weightProgress[i].loaded).toBeGreaterThanOrEqual(weightProgress[i - 1].loaded);
  });

  it('serves a reload from the cache without touching the network', async () => {
    const cache = memoryCache();
    const first = countingFetch();
    const a = await openModelFolder(hubFiles('org/tiny', { endpoint: ranged.url, fetch: first.fetch, cache }));
    for (const n of a.tensorNames) await a.readTensorF32(n);
    const text = await hubFiles('org/tiny', { endpoint: ranged.url, fetch: first.fetch, cache }).text('tokenizer.json');
    expect(JSON.parse(text!).model.type).toBe('BPE');
    expect(first.calls.length).toBeGreaterThan(3);

    const second = countingFetch();
    const progress: HubProgress[] = [];
    const b = await openModelFolder(hubFiles('org/tiny', { endpoint: ranged.url, fetch: second.fetch, cache, onProgress: (p) => progress.push(p) }));
    for (const n of b.tensorNames) expect(Array.from(await b.readTensorF32(n))).toEqual(Array.from(single.tensors.get(n)!.data));
    await hubFiles('org/tiny', { endpoint: ranged.url, fetch: second.fetch, cache }).text('tokenizer.json');
    expect(second.calls).toEqual([]);
    expect(progress.every((p) => p.fromCache)).toBe(true);
  });

  it('reads sharded checkpoints', async () => {
    const ckpt = await openModelFolder(hubFiles('org/sharded', { endpoint: ranged.url, cache: null }));
    for (const [n, t] of sharded.tensors) expect(Array.from(await ckpt.readTensorF32(n))).toEqual(Array.from(t.data));
  });

  it('still works when the server ignores Range (reads the whole body once)', async () => {
    const { fetch, calls } = countingFetch();
    const ckpt = await openModelFolder(hubFiles('org/tiny', { endpoint: plain.url, fetch, cache: memoryCache() }));
    for (const [n, t] of single.tensors) expect(Array.from(await ckpt.readTensorF32(n))).toEqual(Array.from(t.data));
    expect(calls.filter((c) => c.url.endsWith('model.safetensors')).length).toBe(1);
  });

  it('sends the token as a Bearer header', async () => {
    const { fetch, calls } = countingFetch();
    await hubFiles('org/tiny', { endpoint: ranged.url, fetch, token: 'hf_abc', cache: null }).text('config.json');
    expect(calls[0].auth).toBe('Bearer hf_abc');
  });
});

describe('hub errors', () => {
  it('401 and 403 say that the model is gated and a token is needed', async () => {
    for (const repo of ['gated/model', 'private/model']) {
      const err = await openModelFolder(hubFiles(repo, { endpoint: locked.url, cache: null })).catch((e) => e);
      expect(err).toBeInstanceOf(HubError);
      expect(err.status).toBe(repo.startsWith('gated') ? 401 : 403);
      expect(err.message).toContain(`${repo}/config.json`);
      expect(err.message).toMatch(/gated or private.*access token is needed/);
    }
  });

  it('404: a missing config.json or weights file is named', async () => {
    const err = await openModelFolder(hubFiles('org/nothing', { endpoint: ranged.url, cache: null })).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFolderError);
    expect(err.message).toMatch(/org\/nothing@main\/config\.json: not found/);
    const files = hubFiles('org/tiny', { endpoint: ranged.url, cache: null });
    expect(await files.source('model-00001-of-00002.safetensors')).toBeNull();
    expect(await files.text('no-such-file.json')).toBeNull();
  });
});

describe('hub without a network', () => {
  it('offline: says which host could not be reached and what to do, not "fetch failed"', async () => {
    const offline = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    const files = hubFiles('HuggingFaceTB/SmolLM2-135M', { fetch: offline, cache: null });
    const e = await openModelFolder(files).catch((err) => err);
    expect(e).toBeInstanceOf(HubError);
    expect(e.message).toMatch(/HubError: HuggingFaceTB\/SmolLM2-135M\/config\.json: cannot reach huggingface\.co \(fetch failed\): check the network connection, or load the model from a local folder/);
    // A closed port on localhost: the same, naming that host.
    const closed = hubFiles('org/tiny', { endpoint: 'http://127.0.0.1:9', cache: null });
    await expect(openModelFolder(closed)).rejects.toThrow(/cannot reach 127\.0\.0\.1:9/);
  });
});
