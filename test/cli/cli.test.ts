import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { cliIo as io } from '../helpers/cliIo';

describe('adapter-studio CLI on the demo model', () => {
  it('train writes a PEFT folder that inspect validates, with a falling loss in metrics.jsonl; merge writes a model folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adapter-studio-cli-'));
    const data = join(dir, 'sample.jsonl');
    const lines = Array.from({ length: 4 }, () => JSON.stringify({ text: 'the cat sat on the mat.' }));
    writeFileSync(data, lines.join('\n') + '\n');
    const out = join(dir, 'adapter');
    const t = io();
    const code = await main(['train', '--model', 'public/models/demo', '--data', data, '--out', out, '--steps', '8', '--batch-size', '2', '--max-length', '32',
      '--lr', '3e-2', '--warmup-ratio', '0', '--schedule', 'constant', '--log-every', '1', '--val-fraction', '0', '--targets', 'q_proj,v_proj,o_proj', '--rank', '4', '--alpha', '16', '--dropout', '0', '--weights', 'f32'], t.io);
    expect(t.text.err.includes('error:') ? t.text.err : '').toBe('');
    expect(code).toBe(0);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json', 'metrics.jsonl', 'checkpoint.ascp']) expect(existsSync(join(out, f))).toBe(true);
    // The weights stream in while the run compiles its kernels; each says when it is done, before the first step.
    expect(t.text.err).toMatch(/^weights: [\d.]+ [KM]iB loaded in [\d.]+ s$/m);
    expect(t.text.err).toMatch(/^kernels: (\d+ compiled in [\d.]+ s( \(while the weights load\))?|all compiled already)$/m);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics).toHaveLength(8);
    // The names the HF Trainer logs under.
    expect(Object.keys(metrics[0])).toEqual(expect.arrayContaining(['step', 'loss', 'learning_rate', 'grad_norm', 'epoch']));
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    console.log(`[cli] loss ${metrics[0].loss.toFixed(3)} → ${metrics[7].loss.toFixed(3)}`);
    expect(metrics[7].loss).toBeLessThan(metrics[0].loss - 0.3); // same text every step: the loss must fall

    const inspect = io();
    expect(await main(['inspect', out, '--model', 'public/models/demo'], inspect.io)).toBe(0);
    expect(inspect.text.out).toMatch(/PEFT LoRA adapter, r 4, alpha 16/);
    expect(inspect.text.out).toMatch(/valid against public\/models\/demo: yes \(6 adapted projections/);

    const merged = join(dir, 'merged');
    const m = io();
    expect(await main(['merge', '--model', 'public/models/demo', '--adapter', out, '--out', merged], m.io)).toBe(0);
    const im = io();
    expect(await main(['inspect', merged], im.io)).toBe(0);
    expect(im.text.out).toMatch(/llama model, hidden 64, 2 layers/);
  });

  it('train with a 4-bit base: the plan says so before the weights stream in, the loss falls, and eval reads the adapter over the same base', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adapter-studio-cli-nf4-'));
    const data = join(dir, 'sample.jsonl');
    writeFileSync(data, Array.from({ length: 4 }, () => JSON.stringify({ text: 'the cat sat on the mat.' })).join('\n') + '\n');
    const out = join(dir, 'adapter');
    const t = io();
    const code = await main(['train', '--model', 'public/models/demo', '--data', data, '--out', out, '--steps', '6', '--batch-size', '2', '--max-length', '32',
      '--lr', '3e-2', '--warmup-ratio', '0', '--schedule', 'constant', '--log-every', '1', '--val-fraction', '0', '--rank', '4', '--dropout', '0', '--weights', 'nf4'], t.io);
    expect(t.text.err.includes('error:') ? t.text.err : '').toBe('');
    expect(code).toBe(0);
    expect(t.text.err).toMatch(/Base weights: 4-bit NF4, as set/);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics).toHaveLength(6);
    console.log(`[cli] nf4 base: loss ${metrics[0].loss.toFixed(3)} → ${metrics[5].loss.toFixed(3)}`);
    expect(metrics[5].loss).toBeLessThan(metrics[0].loss - 0.3);
    const e = io();
    expect(await main(['eval', '--model', 'public/models/demo', '--data', data, '--adapter', out, '--max-length', '32', '--weights', 'nf4'], e.io)).toBe(0);
    expect(e.text.err).toMatch(/Base weights: 4-bit NF4, as set/);
    const r = JSON.parse(e.text.out.trim()) as { eval_loss: number };
    expect(r.eval_loss).toBeLessThan(metrics[0].loss);
  });
});
