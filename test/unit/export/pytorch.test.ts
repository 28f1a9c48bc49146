/**
 * The PyTorch export ("Run on GPUs"), checked as far as a machine without a GPU or ML packages can:
 * `adapter-studio export --format pytorch` on the demo run writes the project; train.py compiles
 * (python3 -m py_compile); Python's own parser reads the settings block back and it equals the run's
 * settings, key by key through the mapping table; `train.py --check-only` (plain python3) accepts the
 * data and plans batches that keep the effective batch on 1–8 processes; the exported rows, rendered
 * again by the project's pipeline with the exported tokenizer and chat template, give the same token
 * ids and loss masks as the run's own examples.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { applySettings, parseCommand, type ParsedCommand } from '../../../src/cli/args';
import { COMMANDS } from '../../../src/cli/main';
import { runDataOptions } from '../../../src/cli/inputs';
import { loadDataset } from '../../../src/data/dataset';
import { fromPath } from '../../../src/data/nodeSource';
import { nodeFiles } from '../../../src/formats/nodeSource';
import type { ModelFiles } from '../../../src/formats/modelFolder';
import { loadTokenizer } from '../../../src/data/tokenize';
import { renderExample } from '../../../src/data/tokenize';
import { sourceToNormalized, type RowSource } from '../../../src/data/renderedRows';
import { Batcher, type TokenStore } from '../../../src/data/batches';
import { DEFAULT_SETTINGS, SETTING_DEFS, getSetting, type RunSettings } from '../../../src/settings/settings';
import { PYTORCH_EXTRA_MAP, PYTORCH_SETTING_MAP, settingLines } from '../../../src/formats/export/pytorchSettings';
import { EXPORT_BEGIN, EXPORT_END, SETTINGS_BEGIN, SETTINGS_END } from '../../../src/formats/export/pytorchScript';
import { DEMO_MODEL_DIR } from '../data/tokenizer';
import { cliIo as io } from '../../helpers/cliIo';
import { python, readTrainPyBlock } from '../../helpers/trainPy';

const SAMPLE = 'public/samples/pirate-talk.jsonl';

interface JsonlRow {
  row: number;
  messages: { role: string; content: string }[] | null;
  train_from: number | null;
  prompt: string | null;
  completion: string | null;
  text: string | null;
  rendered: string | null;
  input_ids: number[];
  labels: number[];
}

function readJsonl(path: string): JsonlRow[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function sourceOf(r: JsonlRow): RowSource {
  if (r.messages) return { kind: 'chat', messages: r.messages as RowSource extends { messages: infer M } ? M : never, trainFrom: r.train_from ?? 0 };
  if (r.prompt !== null) return { kind: 'pair', prompt: r.prompt, completion: r.completion ?? '' };
  return { kind: 'text', text: r.text ?? '' };
}

const FLAGS = ['--batch-size', '4', '--micro-batch', '2', '--max-length', '64', '--packing', '--no-shuffle', '--val-fraction', '0.25', '--eval-every', '5',
  '--log-every', '2', '--save-every', '0', '--rank', '4', '--alpha', '8', '--dropout', '0.1', '--targets', 'q_proj,v_proj,down_proj', '--rslora',
  '--lr', '2e-4', '--epochs', '2', '--schedule', 'cosine', '--warmup-ratio', '0.1', '--max-grad-norm', '0.5', '--weight-decay', '0', '--seed', '7'];

describe('adapter-studio export --format pytorch on the demo run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pytorch-export-'));
  const out = join(dir, 'run');
  let settings: RunSettings;
  let parsed: ParsedCommand;
  const runData = async () => loadDataset(await fromPath(SAMPLE), await loadTokenizer(nodeFiles(DEMO_MODEL_DIR)), await runDataOptions(parsed, settings, 768, undefined));

  beforeAll(async () => {
    const t = io();
    const code = await main(['export', '--format', 'pytorch', '--model', 'public/models/demo', '--data', SAMPLE, '--out', out, '--bundle-model', '--layers', '0,1', ...FLAGS], t.io);
    expect(t.text.err.includes('error:') ? t.text.err : '').toBe('');
    expect(code).toBe(0);
    parsed = parseCommand(COMMANDS.export, ['--format', 'pytorch', ...FLAGS]);
    const base = applySettings('export', parsed.settings, { ...DEFAULT_SETTINGS, model: { kind: 'local', name: 'public/models/demo' } });
    settings = { ...base, lora: { ...base.lora, layers: [0, 1] } };
  });

  it('writes the project: train.py, run.json, README, pinned requirements, accelerate configs, data, tokenizer, model', () => {
    for (const f of ['train.py', 'run.json', 'README.md', 'requirements.txt', 'requirements-deepspeed.txt', 'accelerate/single_gpu.yaml', 'accelerate/multi_gpu.yaml',
      'accelerate/fsdp.yaml', 'accelerate/deepspeed_zero2.yaml', 'accelerate/ds_zero2.json', 'data/train.jsonl', 'data/validation.jsonl',
      'tokenizer/tokenizer.json', 'tokenizer/tokenizer_config.json', 'tokenizer/chat_template.jinja', 'model/config.json', 'model/model.safetensors']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const req = readFileSync(join(out, 'requirements.txt'), 'utf8');
    for (const line of req.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/^[a-z-]+==\d+\.\d+\.\d+$/);
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    expect(readme).toContain('pip install -r requirements.txt');
    expect(readme).toContain('accelerate launch --config_file accelerate/single_gpu.yaml train.py');
    const template = JSON.parse(readFileSync(join(DEMO_MODEL_DIR, 'tokenizer_config.json'), 'utf8')).chat_template;
    expect(readFileSync(join(out, 'tokenizer/chat_template.jinja'), 'utf8')).toBe(template);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.settings).toEqual(settings);
    expect(run.base_model).toMatchObject({ bundled: true });
  });

  it('the accelerate configs are YAML that accelerate reads: the launchers, a process count that divides the batch, the DeepSpeed file', () => {
    const r = python(['-c', String.raw`
import json, sys, yaml
out = {}
for name in ["single_gpu", "multi_gpu", "fsdp", "deepspeed_zero2"]:
    out[name] = yaml.safe_load(open(sys.argv[1] + "/accelerate/" + name + ".yaml"))
out["ds"] = json.load(open(sys.argv[1] + "/accelerate/ds_zero2.json"))
print(json.dumps(out))
`, out]);
    expect(r.stderr).toBe('');
    const c = JSON.parse(r.stdout);
    expect([c.single_gpu.distributed_type, c.multi_gpu.distributed_type, c.fsdp.distributed_type, c.deepspeed_zero2.distributed_type]).toEqual(['NO', 'MULTI_GPU', 'FSDP', 'DEEPSPEED']);
    expect(c.multi_gpu.num_processes).toBe(4);
    expect(c.fsdp.fsdp_config.fsdp_use_orig_params).toBe(false);
    expect(c.deepspeed_zero2.deepspeed_config.deepspeed_config_file).toBe('accelerate/ds_zero2.json');
    expect(c.ds.zero_optimization.stage).toBe(2);
    expect(c.ds.optimizer).toBeUndefined();
  });

  it('train.py compiles', () => {
    const r = python(['-m', 'py_compile', join(out, 'train.py')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it("Python's parser reads back every setting of the contract from train.py's settings block", () => {
    const block = readTrainPyBlock(join(out, 'train.py'), SETTINGS_BEGIN, SETTINGS_END);
    for (const d of SETTING_DEFS) {
      const name = PYTORCH_SETTING_MAP[d.key].name;
      expect(block[name], `${d.key} as ${name}`).toEqual(getSetting(settings, d.key));
    }
    expect(block[PYTORCH_EXTRA_MAP['lora.layers'].name]).toEqual([0, 1]);
    // Nothing else in the block but the engine's fixed values.
    expect(Object.keys(block).sort()).toEqual([...settingLines(settings).map((l) => l.name), 'LORA_BIAS', 'ADAM_BETAS', 'ADAM_EPSILON'].sort());
    expect(block.ADAM_BETAS).toEqual([0.9, 0.999]);
  });

  it('train.py --check-only accepts the data and keeps the effective batch on 1, 2 and 4 processes; 3 is refused', async () => {
    const data = await runData();
    let targets = 0;
    for (let i = 0; i < data.train.length; i++) {
      const m = data.train.get(i).lossMask;
      for (let t = 1; t < m.length; t++) targets += m[t];
    }
    // The studio's own batcher packs rows of max length: one row per batch with batch size 1.
    const packed = new Batcher(data.train, { batchSize: 1, seqLen: settings.train.maxLength, padId: 0, packing: true, shuffle: false }).batchesInEpoch();
    for (const world of [1, 2, 4]) {
      const r = python([join(out, 'train.py'), '--check-only'], { env: { WORLD_SIZE: String(world) } });
      expect(r.stderr).toBe('');
      const plan = JSON.parse(r.stdout);
      expect(plan.effective_batch).toBe(4);
      expect(plan.per_device_batch * plan.gradient_accumulation_steps * world).toBe(4);
      expect(plan.per_device_batch).toBeLessThanOrEqual(2);
      expect(plan.train_rows).toBe(data.train.length);
      expect(plan.train_target_tokens).toBe(targets);
      expect(plan.validation_rows).toBe(data.validation!.length);
      expect(plan.packed_rows).toBe(packed);
      expect(plan.steps_per_epoch).toBe(Math.ceil(packed / 4));
    }
    const bad = python([join(out, 'train.py'), '--check-only'], { env: { WORLD_SIZE: '3' } });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/BATCH_SIZE 4 does not split over 3 processes; launch a number of processes that divides it \(1, 2, 4\)/);
  });

  it('the exported rows, rendered again with the exported tokenizer and template, are the run\'s tokens and loss masks', async () => {
    const data = await runData();
    // The template comes from chat_template.jinja alone: tokenizer_config.json is read without its copy.
    const folder = nodeFiles(join(out, 'tokenizer'));
    const withoutTemplate: ModelFiles = {
      ...folder,
      name: folder.name,
      text: async (f) => {
        const text = await folder.text(f);
        if (f !== 'tokenizer_config.json' || text === null) return text;
        const config = JSON.parse(text);
        delete config.chat_template;
        return JSON.stringify(config);
      },
      source: (f) => folder.source(f),
    };
    const exportedTok = await loadTokenizer(withoutTemplate);
    expect((exportedTok as { chat_template?: unknown }).chat_template).toBe(readFileSync(join(out, 'tokenizer/chat_template.jinja'), 'utf8'));
    for (const [file, store] of [['data/train.jsonl', data.train], ['data/validation.jsonl', data.validation!]] as [string, TokenStore][]) {
      const rows = readJsonl(join(out, file));
      expect(rows.length).toBe(store.length);
      rows.forEach((r, i) => {
        const want = store.get(i);
        expect(r.input_ids).toEqual(Array.from(want.ids));
        expect(r.labels).toEqual(Array.from(want.ids).map((id, t) => (t > 0 && want.lossMask[t] ? id : -100)));
        const again = renderExample(exportedTok, sourceToNormalized(sourceOf(r)), { maxLength: settings.train.maxLength, trainOn: settings.data.trainOn }, { file, row: r.row }).example;
        expect(Array.from(again.ids), `${file} row ${r.row}`).toEqual(r.input_ids);
        expect(Array.from(again.lossMask).map((m, t) => (t > 0 && m ? r.input_ids[t] : -100))).toEqual(r.labels);
        expect(r.rendered).toContain(r.messages![r.messages!.length - 1].content);
      });
    }
  });
});

describe('--model demo and demo-bert: the built-in models by name, as the studio offers them', () => {
  it('export --format pytorch --model demo bundles the shipped demo model under the name the studio records', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'pytorch-export-builtin-')), 'run');
    const t = io();
    expect(await main(['export', '--format', 'pytorch', '--model', 'demo', '--data', SAMPLE, '--out', out], t.io)).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.base_model).toEqual({ name: 'adapter-studio/demo', hub_id: null, revision: null, bundled: true });
    expect(run.settings.model).toEqual({ kind: 'demo' });
    expect(readFileSync(join(out, 'model/model.safetensors'))).toEqual(readFileSync(join(DEMO_MODEL_DIR, 'model.safetensors')));
    expect(readTrainPyBlock(join(out, 'train.py'), EXPORT_BEGIN, EXPORT_END).BASE_MODEL).toBe('model');
  });

  it('plan reads the built-in model\'s config by name; an unknown name says what --model takes', async () => {
    const t = io();
    expect(await main(['plan', '--model', 'demo'], t.io)).toBe(0);
    expect(t.text.out).toMatch(/^demo: llama \(llama family\), 2 layers, hidden 64/m);
    const bad = io();
    expect(await main(['plan', '--model', 'dmeo'], bad.io)).not.toBe(0);
    expect(bad.text.err).toMatch(/--model dmeo: no such folder, not a built-in model \(demo, demo-bert\), and not a hub id/);
  });
});
