import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../../../scripts/serve.mjs';
import { fromUrl, HttpError } from '../../../src/formats/byteSource';
import { browserFiles, openModelFolder, urlFiles } from '../../../src/formats/modelFolder';
import { nodeFiles } from '../../../src/formats/nodeSource';

const PUBLIC = join(__dirname, '../../../public');
const DEMO = join(PUBLIC, 'models/demo');
type Server = Awaited<ReturnType<typeof serve>>;
let ranged: Server;
let plain: Server;

beforeAll(async () => {
  ranged = await serve({ root: PUBLIC, port: 0, range: true });
  plain = await serve({ root: PUBLIC, port: 0, range: false, status: (p) => (p.endsWith('secret.json') ? 403 : undefined) });
});
afterAll(async () => {
  await Promise.all([ranged?.close(), plain?.close()]);
});

async function allValues(files: Parameters<typeof openModelFolder>[0]) {
  const ckpt = await openModelFolder(files);
  const out = new Map<string, number[]>();
  for (const n of ckpt.tensorNames) out.set(n, Array.from(await ckpt.readTensorF32(n)));
  return { spec: ckpt.spec, out };
}

describe('checkpoint sources give the same model', () => {
  it('Node folder, dropped browser files, served URL with and without Range', async () => {
    const reference = await allValues(nodeFiles(DEMO));
    const dropped = readdirSync(DEMO).map((n) => new File([readFileSync(join(DEMO, n))], n));
    for (const files of [browserFiles(dropped), urlFiles(`${ranged.url}models/demo/`), urlFiles(`${plain.url}models/demo`)]) {
      const got = await allValues(files);
      expect(got.spec, files.name).toEqual(reference.spec);
      expect(got.out, files.name).toEqual(reference.out);
    }
  });

  it('urlFiles: 404 means absent, other statuses are errors', async () => {
    const files = urlFiles(`${plain.url}models/demo/`);
    expect(await files.text('model.safetensors.index.json')).toBeNull();
    expect(await files.source('nope.safetensors')).toBeNull();
    await expect(files.text('secret.json')).rejects.toThrow(/HTTP 403/);
  });
});

describe('fromUrl', () => {
  it('learns the size from Content-Range and reads exact ranges', async () => {
    const src = await fromUrl(`${ranged.url}models/demo/config.json`);
    const bytes = readFileSync(join(DEMO, 'config.json'));
    expect(src.ranged).toBe(true);
    expect(src.size).toBe(bytes.byteLength);
    expect(Buffer.from(await src.read(10, 20)).equals(bytes.subarray(10, 30))).toBe(true);
    await expect(src.read(src.size - 1, 2)).rejects.toThrow(RangeError);
  });

  it('falls back to the whole body when Range is ignored, and names 403s as needing a token', async () => {
    const src = await fromUrl(`${plain.url}models/demo/config.json`);
    expect(src.ranged).toBe(false);
    expect(new TextDecoder().decode(await src.read(0, 1))).toBe('{');
    const err = await fromUrl(`${plain.url}secret.json`).catch((e) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err.message).toMatch(/403.*token is needed/);
  });
});
