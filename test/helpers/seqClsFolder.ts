/**
 * The folder the PyTorch export's train.py writes for a classification run on the demo encoder, built
 * by hand in the exact layout PEFT 0.18 and the Trainer write (test/unit/storage/seqClsImport.test.ts
 * imports it; test/cli/encoder.test.ts evaluates it on the GPU).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeSafetensors } from '../../src/formats/safetensors';
import { DEFAULT_SETTINGS } from '../../src/settings/settings';

export const MODEL = 'public/models/demo-bert';
// The demo encoder: a BERT of 2 layers, hidden 64; LoRA r 4 on query and value; a head for 3 labels.
export const R = 4;
export const C = 64;
export const LABELS = ['negative', 'neutral', 'positive'];

/** adapter_model.safetensors as PEFT writes a SEQ_CLS LoRA: the LoRA pairs and the head's modules_to_save tensors without "modules_to_save.default.". */
export function peftWeights(scale: number, head = LABELS.length): Uint8Array {
  const tensors = new Map<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }>();
  const f32 = (n: number, f: (i: number) => number) => new Uint8Array(Float32Array.from({ length: n }, (_, i) => f(i)).buffer);
  for (const layer of [0, 1]) {
    for (const m of ['query', 'value']) {
      const path = `base_model.model.bert.encoder.layer.${layer}.attention.self.${m}`;
      tensors.set(`${path}.lora_A.weight`, { dtype: 'F32', shape: [R, C], data: f32(R * C, (i) => scale * Math.sin(i + layer)) });
      tensors.set(`${path}.lora_B.weight`, { dtype: 'F32', shape: [C, R], data: f32(C * R, (i) => scale * Math.cos(i - layer)) });
    }
  }
  tensors.set('base_model.model.classifier.weight', { dtype: 'F32', shape: [head, C], data: f32(head * C, (i) => 0.02 * Math.sin(3 * i)) });
  tensors.set('base_model.model.classifier.bias', { dtype: 'F32', shape: [head], data: f32(head, (i) => 0.01 * i) });
  return serializeSafetensors(tensors, { format: 'pt' });
}

/** adapter_config.json as PEFT 0.18.0 writes a SEQ_CLS LoRA: LoraConfig.to_dict(), json.dumps(indent=2, sort_keys=True). */
export function peftConfig(extra: Record<string, unknown> = {}): string {
  const fields: Record<string, unknown> = {
    alora_invocation_tokens: null, alpha_pattern: {}, arrow_config: null, auto_mapping: null, base_model_name_or_path: 'model', bias: 'none',
    corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: null, fan_in_fan_out: false, inference_mode: true,
    init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_alpha: 8,
    lora_bias: false, lora_dropout: 0.1, megatron_config: null, megatron_core: 'megatron.core', modules_to_save: ['classifier', 'score'], peft_type: 'LORA',
    peft_version: '0.18.0', qalora_group_size: 16, r: R, rank_pattern: {}, revision: null, target_modules: ['value', 'query'],
    target_parameters: null, task_type: 'SEQ_CLS', trainable_token_indices: null, use_dora: false, use_qalora: false, use_rslora: false,
    ...extra,
  };
  return JSON.stringify(Object.fromEntries(Object.keys(fields).sort().map((k) => [k, fields[k]])), null, 2);
}

/** config.json as train.py's save_labels writes it: Transformers' PretrainedConfig.save_pretrained (the diff from the defaults, sorted, indent 2). */
export function labelsConfig(): string {
  const base = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
  delete base.torch_dtype;
  const c: Record<string, unknown> = {
    ...base, architectures: ['BertForSequenceClassification'], dtype: 'float32', transformers_version: '4.57.3',
    id2label: Object.fromEntries(LABELS.map((l, i) => [String(i), l])), label2id: Object.fromEntries(LABELS.map((l, i) => [l, i])),
    problem_type: 'single_label_classification', hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0, classifier_dropout: 0.0,
  };
  return JSON.stringify(Object.fromEntries(Object.keys(c).sort().map((k) => [k, c[k]])), null, 2) + '\n';
}

export const MODEL_CARD = ['---', 'base_model: model', 'library_name: peft', 'tags:', '- base_model:adapter:model', '- lora', '- transformers', '---', '',
  '# Model Card for Model ID', '', '### Framework versions', '', '- PEFT 0.18.0', ''].join('\n');

/** trainer_state.json as TrainerState.save_to_json writes it; evaluations carry compute_metrics' keys and the Trainer's timings. */
export function trainerState(globalStep: number, log: Record<string, number>[]): string {
  const state: Record<string, unknown> = {
    best_global_step: null, best_metric: null, best_model_checkpoint: null, epoch: globalStep / 24, eval_steps: 5, global_step: globalStep,
    is_hyper_param_search: false, is_local_process_zero: true, is_world_process_zero: true, log_history: log, logging_steps: 2, max_steps: 10,
    num_input_tokens_seen: 0, num_train_epochs: 1, save_steps: 5, stateful_callbacks: { TrainerControl: { args: { should_epoch_stop: false, should_evaluate: false, should_log: false, should_save: true, should_training_stop: false }, attributes: {} } },
    total_flos: 321.0, train_batch_size: 8, trial_name: null, trial_params: null,
  };
  return JSON.stringify(state, null, 2) + '\n';
}

const timings = { eval_runtime: 0.21, eval_samples_per_second: 200.0, eval_steps_per_second: 14.3 };
export const LOG: Record<string, number>[] = [
  { epoch: 0, eval_accuracy: 0.3333, eval_f1: 0.1667, eval_loss: 1.0986, ...timings, step: 0 },
  { epoch: 0.4, grad_norm: 1.2, learning_rate: 0.0005, loss: 1.09, step: 2 },
  { epoch: 0.8, grad_norm: 1.1, learning_rate: 0.0004, loss: 1.02, step: 4 },
  { epoch: 1.0, eval_accuracy: 0.5714, eval_f1: 0.5, eval_loss: 0.95, ...timings, step: 5 },
  { epoch: 1.6, grad_norm: 0.9, learning_rate: 0.0002, loss: 0.81, step: 8 },
  { epoch: 2.0, grad_norm: 0.7, learning_rate: 0.0, loss: 0.66, step: 10 },
  { epoch: 2.0, eval_accuracy: 0.9286, eval_f1: 0.928, eval_loss: 0.41, ...timings, step: 10 },
  { epoch: 2.0, step: 10, total_flos: 321.0, train_loss: 0.91, train_runtime: 3.5, train_samples_per_second: 40.0, train_steps_per_second: 2.9 },
];

export const RUN_RECORD = {
  format: 'adapter-studio-pytorch', version: 1, title: 'reviews-sentiment.jsonl on demo-bert',
  base_model: { name: 'adapter-studio/demo-bert', hub_id: null, revision: null, bundled: true },
  settings: { ...DEFAULT_SETTINGS, model: { kind: 'demo', variant: 'bert' }, lora: { ...DEFAULT_SETTINGS.lora, r: R, alpha: 8, dropout: 0.1 }, train: { ...DEFAULT_SETTINGS.train, batchSize: 8, encoderDropout: false } },
  dataset: { name: 'reviews-sentiment.jsonl', schema: 'classification', task: { problem_type: 'single_label_classification', labels: LABELS }, train: { rows: 378, tokens: 1909 }, validation: { rows: 42, tokens: 224 } },
  init_adapter: null,
  launch: { processes: 1, per_device_batch: 8, gradient_accumulation_steps: 1, precision: 'bf16', fsdp: false, deepspeed: false, versions: { torch: '2.9.1', transformers: '4.57.3', peft: '0.18.0' } },
  result: { global_step: 10, epoch: 2.0, final_eval: { eval_accuracy: 0.9286, eval_f1: 0.928, eval_loss: 0.41, step: 10 } },
};

/** train.py's output folder for a classifier: the final adapter with its labels, a checkpoint, the Trainer's and the run's records. */
export function classifierOutput(root: string): void {
  const write = (path: string, data: Uint8Array | string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), data);
  };
  write('checkpoint-5/adapter_model.safetensors', peftWeights(0.01));
  write('checkpoint-5/adapter_config.json', peftConfig());
  write('checkpoint-5/README.md', MODEL_CARD);
  write('checkpoint-5/config.json', labelsConfig());
  for (const f of ['optimizer.pt', 'scheduler.pt', 'rng_state.pth', 'training_args.bin']) write(`checkpoint-5/${f}`, new Uint8Array(64).fill(7));
  write('checkpoint-5/trainer_state.json', trainerState(5, LOG.filter((e) => e.step <= 5)));
  write('adapter_model.safetensors', peftWeights(0.03));
  write('adapter_config.json', peftConfig());
  write('README.md', MODEL_CARD);
  write('config.json', labelsConfig());
  write('training_args.bin', new Uint8Array(64).fill(7));
  write('trainer_state.json', trainerState(10, LOG));
  write('adapter_studio_run.json', JSON.stringify(RUN_RECORD, null, 2));
}

