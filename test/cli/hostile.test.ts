// Nothing poisoned reaches the user as success: a model or an adapter holding NaN is refused by
// every command that reads it (naming the tensor), a run that diverges exits non-zero without an
// adapter, and outputs never overwrite inputs.
import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { openSafetensors, serializeF32 } from '../../src/formats/safetensors';
import { cliIo as io } from '../helpers/cliIo';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const t = io();
  const code = await main(argv, t.io);
  return { code, ...t.text };
}

const dir = mkdtempSync(join(tmpdir(), 'adapter-studio-hostile-'));
const data = join(dir, 'data.jsonl');
const nanModel = join(dir, 'nan-model');
const good = join(dir, 'good');
const nanAdapter = join(dir, 'nan-adapter');
const overflow = join(dir, 'overflow-model');

beforeAll(async () => {
  writeFileSync(data, Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: `row ${i}: the cat sat on the mat.` })).join('\n') + '\n');
  // The demo model with one NaN in a projection.
  cpSync('public/models/demo', nanModel, { recursive: true });
  const st = await openSafetensors(new Uint8Array(readFileSync(join(nanModel, 'model.safetensors'))));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of st.header.tensors) tensors.set(t.name, { shape: t.shape, data: await st.readF32(t.name) });
  tensors.get('model.layers.1.mlp.up_proj.weight')!.data[5] = NaN;
  writeFileSync(join(nanModel, 'model.safetensors'), serializeF32(tensors));
  // Finite weights whose logits overflow f32 (final norm weight 3e38): every step's loss is NaN.
  cpSync('public/models/demo', overflow, { recursive: true });
  tensors.get('model.layers.1.mlp.up_proj.weight')!.data[5] = 0;
  tensors.get('model.norm.weight')!.data.fill(3e38);
  writeFileSync(join(overflow, 'model.safetensors'), serializeF32(tensors));
  // A good adapter, and a copy with one NaN.
  const r = await run(['train', '--model', 'public/models/demo', '--data', data, '--out', good, '--steps', '2', '--batch-size', '2', '--max-length', '32', '--val-fraction', '0']);
  expect(r.code, r.err).toBe(0);
  cpSync(good, nanAdapter, { recursive: true });
  const a = await openSafetensors(new Uint8Array(readFileSync(join(good, 'adapter_model.safetensors'))));
  const at = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of a.header.tensors) at.set(t.name, { shape: t.shape, data: await a.readF32(t.name) });
  at.get('base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight')!.data[3] = NaN;
  writeFileSync(join(nanAdapter, 'adapter_model.safetensors'), serializeF32(at));
}, 180_000);

describe('nothing poisoned passes as success', () => {
  it('a model holding NaN: inspect, train, eval, generate and merge all refuse it, naming the tensor', async () => {
    const tensor = /model\.layers\.1\.mlp\.up_proj\.weight/;
    const inspect = await run(['inspect', nanModel]);
    expect(inspect.code).toBe(1);
    expect(inspect.err).toMatch(tensor);
    for (const argv of [
      ['train', '--model', nanModel, '--data', data, '--out', join(dir, 'x1'), '--steps', '1', '--val-fraction', '0'],
      ['eval', '--model', nanModel, '--data', data],
      ['generate', '--model', nanModel, '--prompt', 'hi', '--max-new-tokens', '2'],
      ['merge', '--model', nanModel, '--adapter', good, '--out', join(dir, 'x2')],
    ]) {
      const r = await run(argv);
      expect(r.code, `${argv[0]}: ${r.err}`).toBe(1);
      expect(r.err, argv[0]).toMatch(tensor);
      expect(r.err, argv[0]).toMatch(/NaN|non-finite/);
    }
    expect(existsSync(join(dir, 'x1', 'adapter_model.safetensors'))).toBe(false);
    expect(existsSync(join(dir, 'x2', 'model.safetensors'))).toBe(false);
  });

  it('an adapter holding NaN: inspect, eval, generate, merge and --init-adapter refuse it', async () => {
    const tensor = /v_proj\.lora_A\.weight" holds NaN at index 3/;
    for (const argv of [
      ['inspect', nanAdapter],
      ['eval', '--model', 'public/models/demo', '--data', data, '--adapter', nanAdapter],
      ['generate', '--model', 'public/models/demo', '--adapter', nanAdapter, '--prompt', 'hi'],
      ['merge', '--model', 'public/models/demo', '--adapter', nanAdapter, '--out', join(dir, 'x3')],
      ['train', '--model', 'public/models/demo', '--data', data, '--out', join(dir, 'x4'), '--init-adapter', nanAdapter, '--steps', '1'],
    ]) {
      const r = await run(argv);
      expect(r.code, `${argv[0]}: ${r.err}`).toBe(1);
      expect(r.err, argv[0]).toMatch(tensor);
    }
  });

  it('a run whose steps cannot be applied stops as diverged: exit 1, no adapter, its checkpoints kept', async () => {
    const out = join(dir, 'diverged');
    const r = await run(['train', '--model', overflow, '--data', data, '--out', out, '--steps', '10', '--batch-size', '2', '--max-length', '32',
      '--save-every', '1', '--log-every', '1', '--val-fraction', '0']);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toMatch(/step 1\/10 .*SKIPPED \(loss is not finite/);
    expect(r.err).toMatch(/DivergedError: training diverged at step 3: 3 steps in a row could not be applied .*no step could be applied since the run started: the base model or the data give non-finite values/);
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(false);
    expect(existsSync(join(out, 'checkpoint.ascp'))).toBe(true);
  });

  it('an invalid setting is refused before anything runs, never clamped', async () => {
    for (const [flag, value] of [['--lr', '1e6'], ['--rank', '0'], ['--dropout', '1.5'], ['--max-length', '100000000']]) {
      const r = await run(['train', '--model', 'public/models/demo', '--data', data, '--out', join(dir, 'x5'), flag, value]);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.err).toMatch(/outside/);
    }
  });

  it('outputs never clobber inputs: merge into the base model folder or the adapter folder is refused', async () => {
    const model = join(dir, 'model-copy');
    cpSync('public/models/demo', model, { recursive: true });
    const before = readFileSync(join(model, 'model.safetensors'));
    const r = await run(['merge', '--model', model, '--adapter', good, '--out', model]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/overwrite the model it reads/);
    expect(readFileSync(join(model, 'model.safetensors')).equals(before)).toBe(true);
    const s = await run(['merge', '--model', model, '--adapter', good, '--out', join(good, 'sub')]);
    expect(s.code).toBe(2);
    expect(s.err).toMatch(/adapter's folder/);
  });
});
