/**
 * Back into the library: the folder the PyTorch export's train.py writes — an adapter exactly as
 * PEFT 0.18's save_pretrained writes it (adapter_model.safetensors with {"format":"pt"}, an
 * adapter_config.json with every field PEFT adds, sorted and indented as PEFT writes it, target
 * modules in set order, README.md), the Trainer's checkpoint-N folders (optimizer, scheduler, RNG
 * states, trainer_state.json) and trainer_state.json / adapter_studio_run.json at the top — imports as
 * a folder and as a zip with its training log, loads against the demo model, and continues in the
 * CLI (`export --init-adapter` takes its steps from trainer_state.json).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { strToU8, zipSync } from 'fflate';
import { readAdapterZip, validateAdapterFiles, IMPORT_FILE, AdapterImportError } from '../../../src/storage/adapterZip';
import { serializeSafetensors } from '../../../src/formats/safetensors';
import { fromF32 } from '../../../src/formats/dtype';
import { parseAdapterConfig, AdapterError } from '../../../src/formats/peft';
import { parseTrainerState, pythonJsonToStrict } from '../../../src/formats/trainerState';
import { importAdapter } from '../../../src/engine/model/adapterFiles';
import { openModelFolder, requireDecoder } from '../../../src/formats/modelFolder';
import { nodeFiles } from '../../../src/formats/nodeSource';
import { DEFAULT_SETTINGS } from '../../../src/settings/settings';
import { main } from '../../../src/cli/main';
import { DEMO_MODEL_DIR } from '../data/tokenizer';

// The demo model: 2 layers, hidden 64, 4 heads of 16, 2 KV heads → q_proj [64, 64], v_proj [32, 64].
const R = 4;
const SHAPES: Record<string, [number, number]> = { q_proj: [64, 64], v_proj: [32, 64] };

function peftWeights(scale: number, dtype: 'F32' | 'BF16' = 'F32'): Uint8Array {
  const tensors = new Map<string, { dtype: 'F32' | 'BF16'; shape: number[]; data: Uint8Array }>();
  // PEFT's state dict order: layer by layer, the module's lora_A then lora_B (safetensors sorts keys itself).
  for (const layer of [0, 1]) {
    for (const m of ['q_proj', 'v_proj']) {
      const [out, inF] = SHAPES[m];
      const a = Float32Array.from({ length: R * inF }, (_, i) => scale * Math.sin(i + layer));
      const b = Float32Array.from({ length: out * R }, (_, i) => scale * Math.cos(i - layer));
      tensors.set(`base_model.model.model.layers.${layer}.self_attn.${m}.lora_A.weight`, { dtype, shape: [R, inF], data: fromF32(dtype, a) });
      tensors.set(`base_model.model.model.layers.${layer}.self_attn.${m}.lora_B.weight`, { dtype, shape: [out, R], data: fromF32(dtype, b) });
    }
  }
  return serializeSafetensors(tensors, { format: 'pt' });
}

/** adapter_config.json as PEFT 0.18.0 writes it: LoraConfig.to_dict() (runtime_config popped), json.dumps(indent=2, sort_keys=True). */
function peftConfig(extra: Record<string, unknown> = {}): string {
  const fields: Record<string, unknown> = {
    alora_invocation_tokens: null, alpha_pattern: {}, arrow_config: null, auto_mapping: null, base_model_name_or_path: 'model', bias: 'none',
    corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: null, fan_in_fan_out: false, inference_mode: true,
    init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_alpha: 8,
    lora_bias: false, lora_dropout: 0.05, megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null, peft_type: 'LORA',
    peft_version: '0.18.0', qalora_group_size: 16, r: R, rank_pattern: {}, revision: null, target_modules: ['v_proj', 'q_proj'],
    target_parameters: null, task_type: 'CAUSAL_LM', trainable_token_indices: null, use_dora: false, use_qalora: false, use_rslora: false,
    ...extra,
  };
  const sorted = Object.fromEntries(Object.keys(fields).sort().map((k) => [k, fields[k]]));
  return JSON.stringify(sorted, null, 2);
}

const MODEL_CARD = ['---', 'base_model: model', 'library_name: peft', 'pipeline_tag: text-generation', 'tags:', '- base_model:adapter:model', '- lora', '- transformers', '---', '',
  '# Model Card for Model ID', '', '<!-- Provide a quick summary of what the model is/does. -->', '', '### Framework versions', '', '- PEFT 0.18.0', ''].join('\n');

/** trainer_state.json as TrainerState.save_to_json writes it (sorted keys, indent 2), with Python's NaN. */
function trainerState(globalStep: number, log: Record<string, number | string>[]): string {
  const state: Record<string, unknown> = {
    best_global_step: null, best_metric: null, best_model_checkpoint: null, epoch: globalStep / 4, eval_steps: 2, global_step: globalStep,
    is_hyper_param_search: false, is_local_process_zero: true, is_world_process_zero: true, log_history: log, logging_steps: 1, max_steps: 8,
    num_input_tokens_seen: 0, num_train_epochs: 2, save_steps: 2, stateful_callbacks: { TrainerControl: { args: { should_epoch_stop: false, should_evaluate: false, should_log: false, should_save: true, should_training_stop: false }, attributes: {} } },
    total_flos: 1234.0, train_batch_size: 2, trial_name: null, trial_params: null,
  };
  return JSON.stringify(state, null, 2).replace(/"__NaN__"/g, 'NaN') + '\n';
}

const LOG: Record<string, number | string>[] = [
  { epoch: 0, eval_loss: 6.3, eval_perplexity: 544.6, eval_accuracy: 0.01, step: 0 },
  { epoch: 0.25, grad_norm: 1.5, learning_rate: 0.0002, loss: 6.2, step: 1 },
  { epoch: 0.5, grad_norm: '__NaN__', learning_rate: 0.00019, loss: 6.0, step: 2 },
  { epoch: 0.5, eval_loss: 5.9, eval_perplexity: 365.0, eval_accuracy: 0.05, step: 2 },
  { epoch: 0.75, grad_norm: 1.1, learning_rate: 0.00017, loss: 5.5, step: 3 },
  { epoch: 1, grad_norm: 0.9, learning_rate: 0.00015, loss: 5.1, step: 4 },
  { epoch: 1, eval_loss: 5.2, eval_perplexity: 181.3, eval_accuracy: 0.1, step: 4 },
  { epoch: 1, step: 4, total_flos: 1234.0, train_loss: 5.7, train_runtime: 12.5, train_samples_per_second: 3.2, train_steps_per_second: 0.3 },
];

const RUN_RECORD = {
  format: 'adapter-studio-pytorch', version: 1, title: 'animals on demo',
  base_model: { name: 'adapter-studio/demo', hub_id: null, revision: null, bundled: true },
  settings: { ...DEFAULT_SETTINGS, lora: { ...DEFAULT_SETTINGS.lora, r: R, alpha: 8 }, train: { ...DEFAULT_SETTINGS.train, batchSize: 4, learningRate: 2e-4 } },
  dataset: { name: 'animals.jsonl', schema: 'chat', train: { rows: 23, tokens: 900 }, validation: { rows: 5, tokens: 170 } },
  init_adapter: { path: 'init_adapter', name: 'studio adapter', steps: 10 },
  launch: { processes: 2, per_device_batch: 1, gradient_accumulation_steps: 2, precision: 'bf16', fsdp: false, deepspeed: false, versions: { torch: '2.9.1', transformers: '4.57.3', peft: '0.18.0' } },
};

/** The output folder of train.py: the final adapter, two checkpoints, the Trainer's and the run's records. */
function trainerOutput(root: string): void {
  const write = (path: string, data: Uint8Array | string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), data);
  };
  for (const [dir, step, scale] of [['checkpoint-2', 2, 0.01], ['checkpoint-4', 4, 0.02]] as const) {
    write(`${dir}/adapter_model.safetensors`, peftWeights(scale));
    write(`${dir}/adapter_config.json`, peftConfig());
    write(`${dir}/README.md`, MODEL_CARD);
    for (const f of ['optimizer.pt', 'scheduler.pt', 'rng_state.pth', 'training_args.bin']) write(`${dir}/${f}`, new Uint8Array(64).fill(7));
    write(`${dir}/trainer_state.json`, trainerState(step, LOG.filter((e) => (e.step as number) <= step && !('train_loss' in e))));
  }
  write('adapter_model.safetensors', peftWeights(0.03));
  write('adapter_config.json', peftConfig());
  write('README.md', MODEL_CARD);
  write('training_args.bin', new Uint8Array(64).fill(7));
  write('trainer_state.json', trainerState(4, LOG));
  write('adapter_studio_run.json', JSON.stringify(RUN_RECORD, null, 2));
}

function folderEntries(root: string, filter = false): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const rel = `output/${relative(root, p)}`;
        if (!filter || IMPORT_FILE.test(rel)) out.set(rel, new Uint8Array(readFileSync(p)));
      }
    }
  };
  walk(root);
  return out;
}

describe("importing what PEFT's save_pretrained and the Trainer write", () => {
  const root = mkdtempSync(join(tmpdir(), 'pytorch-import-'));
  trainerOutput(root);

  it('reads a PEFT 0.18 adapter_config.json (every field PEFT adds) and refuses the fields that change the computation', () => {
    const c = parseAdapterConfig(peftConfig(), null);
    expect(c).toMatchObject({ r: R, alpha: 8, dropout: 0.05, targetModules: ['q_proj', 'v_proj'], useRslora: false, layers: null });
    for (const [extra, message] of [
      [{ exclude_modules: ['q_proj'] }, /exclude_modules/],
      [{ target_parameters: ['mlp.experts.down_proj'] }, /target_parameters/],
      [{ alora_invocation_tokens: [5, 6] }, /aLoRA/],
      [{ use_qalora: true }, /QALoRA/],
      [{ init_lora_weights: 'pissa_niter_4' }, /need the base model it modified/],
      [{ use_dora: true }, /DoRA/],
    ] as const) {
      expect(() => parseAdapterConfig(peftConfig(extra), null), JSON.stringify(extra)).toThrow(AdapterError);
      expect(() => parseAdapterConfig(peftConfig(extra), null)).toThrow(message);
    }
    expect(parseAdapterConfig(peftConfig({ init_lora_weights: 'gaussian', exclude_modules: [] }), null).r).toBe(R);
  });

  it("reads trainer_state.json with Python's NaN as a missing value", () => {
    expect(pythonJsonToStrict('{"a": NaN, "b": "NaN", "c": -Infinity, "d": [Infinity]}')).toBe('{"a": null, "b": "NaN", "c": null, "d": [null]}');
    const s = parseTrainerState(trainerState(4, LOG));
    expect(s.globalStep).toBe(4);
    expect(s.log[2]).toEqual({ step: 2, metrics: { epoch: 0.5, learning_rate: 0.00019, loss: 6.0 } });
    expect(() => parseTrainerState(trainerState(1, LOG))).toThrow(/log_history\[2\]\.step 2 is not a step of this run \(0–1\)/);
  });

  for (const how of ['the whole folder', 'the files a folder pick keeps', 'a zip'] as const) {
    it(`imports ${how}: the final adapter (not a checkpoint's), its log from trainer_state.json, the run it continues`, async () => {
      const entries = folderEntries(root, how === 'the files a folder pick keeps');
      const v = how === 'a zip'
        ? await readAdapterZip(zipSync(Object.fromEntries([...entries].map(([k, b]) => [k, b]))), 'output.zip')
        : await validateAdapterFiles(entries);
      expect(v.folder).toBe('output');
      expect(v.files.adapterModel).toEqual(new Uint8Array(readFileSync(join(root, 'adapter_model.safetensors'))));
      expect(v.config).toEqual({ baseModel: 'model', r: R, alpha: 8, dropout: 0.05, targets: ['q_proj', 'v_proj'], useRslora: false });
      expect(v.tensors).toBe(8);
      // Steps count on from the studio's 10 (the run continued the studio's adapter).
      expect(v.training).toMatchObject({ file: 'output/trainer_state.json', steps: 14, finalLoss: 5.1, finalValidationLoss: 5.2, trainSeconds: 12.5 });
      expect(v.training!.lossCurve).toEqual([[11, 6.2], [12, 6.0], [13, 5.5], [14, 5.1]]);
      expect(v.training!.validationCurve).toEqual([[10, 6.3], [12, 5.9], [14, 5.2]]);
      expect(v.run!.settings!.train.learningRate).toBe(2e-4);
      expect(v.run!.baseModel).toBe('adapter-studio/demo');
      expect(v.run!.dataset).toMatchObject({ name: 'animals.jsonl', rows: 28, trainRows: 23, validationRows: 5, kind: 'chat' });
      expect(v.run!.trainedWith).toBe('PyTorch (DDP): 2 processes × 1 rows × 2 accumulation, bf16; transformers 4.57.3, peft 0.18.0, torch 2.9.1');
      // The same bytes load against the demo model through the engine's importer (the playground's and "continue"'s path).
      const spec = requireDecoder(await openModelFolder(nodeFiles(DEMO_MODEL_DIR)), 'test').spec;
      const imported = await importAdapter(spec, { 'adapter_model.safetensors': v.files.adapterModel, 'adapter_config.json': v.files.adapterConfig });
      expect(imported.settings).toMatchObject({ r: R, alpha: 8, targets: ['q_proj', 'v_proj'] });
      expect(imported.params.length).toBe(2 * (R * 64 + 64 * R + R * 64 + 32 * R));
    });
  }

  it('imports the last checkpoint when the final adapter is not there yet (a stopped launch), and BF16 weights (DeepSpeed)', async () => {
    const entries = folderEntries(root);
    for (const k of [...entries.keys()]) if (!k.includes('checkpoint-')) entries.delete(k);
    entries.set('output/checkpoint-4/adapter_model.safetensors', peftWeights(0.02, 'BF16'));
    const v = await validateAdapterFiles(entries);
    expect(v.folder).toBe('output/checkpoint-4');
    expect(v.training).toMatchObject({ file: 'output/checkpoint-4/trainer_state.json', steps: 4, finalLoss: 5.1 });
    expect(v.run).toBeNull();
  });

  it('refuses two unrelated adapters in one import', async () => {
    const entries = folderEntries(root);
    entries.set('other/adapter_model.safetensors', peftWeights(0.05));
    entries.set('other/adapter_config.json', strToU8(peftConfig()));
    const error = await validateAdapterFiles(entries).catch((e) => e);
    expect(error).toBeInstanceOf(AdapterImportError);
    expect(error.message).toMatch(/found more than once \(output, other\)/);
  });

  it('the CLI continues it: inspect validates it against the demo model; export --init-adapter takes its steps from trainer_state.json', async () => {
    const t = { out: '', err: '' };
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (d) => (t.out += d));
    err.on('data', (d) => (t.err += d));
    const cli = { out: out as unknown as NodeJS.WriteStream, err: err as unknown as NodeJS.WriteStream };
    expect(await main(['inspect', root, '--model', DEMO_MODEL_DIR], cli)).toBe(0);
    expect(t.out).toMatch(/PEFT LoRA adapter, r 4, alpha 8/);
    const dest = join(mkdtempSync(join(tmpdir(), 'pytorch-continue-')), 'run');
    expect(await main(['export', '--format', 'pytorch', '--model', DEMO_MODEL_DIR, '--data', 'public/samples/animals-and-colors.jsonl', '--out', dest, '--init-adapter', root, '--batch-size', '4'], cli)).toBe(0);
    const run = JSON.parse(readFileSync(join(dest, 'run.json'), 'utf8'));
    expect(run.init_adapter).toEqual({ path: 'init_adapter', name: relative(join(root, '..'), root), steps: 4 });
    expect(run.settings.lora).toMatchObject({ r: R, alpha: 8, dropout: 0.05, targets: ['q_proj', 'v_proj'] });
    expect(readFileSync(join(dest, 'init_adapter/adapter_model.safetensors'))).toEqual(readFileSync(join(root, 'adapter_model.safetensors')));
    expect(readFileSync(join(dest, 'train.py'), 'utf8')).toMatch(/^INIT_ADAPTER_STEPS = 4 /m);
  });
});
