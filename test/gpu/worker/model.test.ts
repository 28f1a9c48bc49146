import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModel } from '../../../src/formats/generate';
import { createBuffer, readF32 } from '../../../src/engine/gpu/buffers';
import { Recorder } from '../../../src/engine/gpu/recorder';
import { batchFromIds } from '../../../src/engine/model/types';
import { memoryCache } from '../../../src/hub/hub';
import { generate, promptIds } from '../../../src/worker/generate';
import { openSessionModel, ModelLoadError, type DecoderSession } from '../../../src/worker/model';
import type { LoadProgress } from '../../../src/worker/protocol';
import { testGpu } from '../../helpers/gpu';
import { serve } from '../../../scripts/serve.mjs';

const REPO = 'test-owner/tiny-llama';

let root: string;
let server: { url: string; close: () => Promise<void> };
let gatedServer: { url: string; close: () => Promise<void> };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'studio-hub-'));
  const dir = join(root, ...REPO.split('/'), 'resolve', 'main');
  mkdirSync(dir, { recursive: true });
  const files = generateModel({ architecture: 'llama', seed: 5, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 64, maxPositionEmbeddings: 128 });
  for (const [name, data] of files) writeFileSync(join(dir, name), data);
  server = await serve({ root });
  gatedServer = await serve({ root, status: () => 403 });
});

afterAll(async () => {
  await server?.close();
  await gatedServer?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function loadFromHub(onProgress: (p: LoadProgress) => void = () => {}, endpoint = server.url): Promise<DecoderSession> {
  const model = await openSessionModel({
    gpu: await testGpu(),
    choice: { kind: 'hub', id: REPO },
    pageUrl: 'http://localhost/',
    hub: { endpoint, cache: memoryCache() },
    onProgress,
    signal: new AbortController().signal,
  });
  if (model.family !== 'llama') throw new Error('the test repository holds a Llama-family model');
  return model;
}

/** Greedy decoding by re-running the whole sequence for every token (the playground's old loop). */
async function greedyFullRecompute(model: DecoderSession, prompt: number[], n: number): Promise<number[]> {
  const gpu = model.gpuModel.gpu;
  const ids = [...prompt];
  const V = model.spec.vocabSize;
  const ws = model.gpuModel.createWorkspace(prompt.length + n, null, false);
  const out = createBuffer(gpu, 'reference logits', V * 4);
  try {
    for (let i = 0; i < n; i++) {
      const batch = batchFromIds([ids], ids.length, (await model.text()).padId);
      model.gpuModel.uploadBatch(ws, batch);
      const rec = new Recorder(gpu, 'reference');
      model.gpuModel.forward(rec, ws, batch, null);
      model.gpuModel.logits(rec, ws, out, ids.length - 1, 1);
      rec.submit();
      const logits = await readF32(gpu, out, V);
      let next = 0;
      for (let v = 1; v < V; v++) if (logits[v] > logits[next]) next = v;
      if ((await model.text()).eosIds.includes(next)) break;
      ids.push(next);
    }
    return ids.slice(prompt.length);
  } finally {
    out.destroy();
    model.gpuModel.destroyWorkspace(ws);
  }
}

describe('worker: hub models and playground generation', () => {
  let model: DecoderSession;
  const events: LoadProgress[] = [];

  it('loads a hub repository through src/hub from a local endpoint, with download progress per phase', async () => {
    model = await loadFromHub((p) => events.push({ ...p }));
    expect(model.info.name).toBe(REPO);
    expect(model.info.source).toBe('hub');
    expect(model.spec.numLayers).toBe(2);
    expect(model.info.bytes).toBeGreaterThan(0);
    // hub events for the small files arrive under the config and tokenizer phases, with their file names
    expect(events.some((e) => e.phase === 'config' && e.file === 'config.json' && e.loaded > 0 && e.loaded === e.total)).toBe(true);
    expect(events.some((e) => e.phase === 'tokenizer' && e.file === 'tokenizer.json' && e.loaded > 0)).toBe(true);
    // the weights phase counts bytes against the tensors' total and never runs past it
    const weights = events.filter((e) => e.phase === 'weights');
    expect(weights.some((e) => e.file === 'model.safetensors')).toBe(true);
    for (const e of weights) {
      expect(e.total).toBe(model.info.bytes);
      expect(e.loaded).toBeLessThanOrEqual(e.total);
    }
    const fromHub = weights.filter((e) => e.file === 'model.safetensors').map((e) => e.loaded);
    for (let i = 1; i < fromHub.length; i++) expect(fromHub[i]).toBeGreaterThanOrEqual(fromHub[i - 1]);
    expect(fromHub.at(-1)).toBe(model.info.bytes);
    expect(events.at(-1)?.phase).toBe('ready');
  });

  it('explains a 403 from the hub as a gated repository that needs a token', async () => {
    const error = await loadFromHub(() => {}, gatedServer.url).catch((e) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error.message).toContain(REPO);
    expect(error.message).toMatch(/HTTP 403.*gated or private.*access token is needed/);
  });

  it('generates greedily with the KV cache exactly what re-running the sequence gives, streaming growing text', async () => {
    const prompt = 'hello world';
    const streamed: string[] = [];
    const text = await generate(model.gpuModel.gpu, model, null, prompt, { maxNewTokens: 6, temperature: 0, seed: 1 }, new AbortController().signal, (t) => streamed.push(t));
    const ids = promptIds(await model.text(), prompt);
    const expected = await greedyFullRecompute(model, ids, 6);
    const { tokenizer } = await model.text();
    const decode = (t: number[]) => (tokenizer as unknown as { decode: (ids: number[], o: object) => string }).decode(t, { skip_special_tokens: true });
    expect(expected.length).toBeGreaterThan(0);
    expect(text).toBe(decode(expected));
    expect(streamed.length).toBe(expected.length);
    streamed.forEach((s, i) => expect(s).toBe(decode(expected.slice(0, i + 1))));
    // sampling is seeded: the same seed gives the same answer
    const a = await generate(model.gpuModel.gpu, model, null, prompt, { maxNewTokens: 5, temperature: 0.9, seed: 7 }, new AbortController().signal);
    const b = await generate(model.gpuModel.gpu, model, null, prompt, { maxNewTokens: 5, temperature: 0.9, seed: 7 }, new AbortController().signal);
    expect(a).toBe(b);
  });

  it('stops generation when the signal is aborted', async () => {
    const controller = new AbortController();
    let tokens = 0;
    const error = await generate(model.gpuModel.gpu, model, null, 'stop me', { maxNewTokens: 20, temperature: 0.8, seed: 3 }, controller.signal, () => {
      if (++tokens === 2) controller.abort();
    }).catch((e) => e);
    expect(error?.name).toBe('AbortError');
    expect(error?.message).toBe('generation was cancelled');
    expect(tokens).toBe(2);
    model.gpuModel.destroy();
  });
});
