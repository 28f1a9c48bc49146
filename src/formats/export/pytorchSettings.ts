/**
 * How each run setting of the settings contract (src/settings/settings.ts) reaches the PyTorch
 * project: the Python constant train.py declares, the Transformers / PEFT argument it feeds, and,
 * where no argument exists, what train.py does instead. The settings block of train.py is generated
 * from this table and the run's RunSettings, so values are never typed twice; a setting the table
 * does not cover stops the export (and the unit test that checks the table against SETTING_DEFS).
 *
 * A run is a causal-LM run (a Llama-family decoder) or a classification run (a BERT-family encoder
 * with a trained head): a setting whose PyTorch counterpart differs for the encoder says so in its
 * `classification` entry, and the block, the README table and the test use the run's own.
 */
import { SETTING_DEFS, getSetting, type RunSettings, type SettingValue } from '../../settings/settings';
import { ExportError } from './types';

/** A value as train.py's settings block writes it: a Python literal made from JSON-like data. */
export type PyValue = number | boolean | string | null | (number | string)[];

/** What a run trains: a decoder's next tokens, or an encoder's classification head. */
export type ExportObjective = 'causal-lm' | 'classification';

export interface PyMapping {
  /** The Python constant in train.py's settings block. */
  name: string;
  /** Where the value goes in the Transformers / PEFT code (or how train.py applies it). */
  target: string;
  /** Why there is no direct argument, or what differs; empty when the argument is one to one. */
  note?: string;
  /** Where it goes instead in a classification run (an encoder), when that differs. */
  classification?: { target: string; note?: string };
}

/** The mapping as it applies to a run of this objective. */
export function mappingFor(m: PyMapping, objective: ExportObjective): { name: string; target: string; note?: string } {
  const c = objective === 'classification' ? m.classification : undefined;
  return c ? { name: m.name, target: c.target, note: c.note } : { name: m.name, target: m.target, note: m.note };
}

/**
 * Every setting of SETTING_DEFS, by key. The values are the studio's own (no conversion here): the
 * conversions (0 → -1 for max_steps, "constant" → "constant_with_warmup", …) are written in train.py
 * where the reader sees them next to the argument.
 */
export const PYTORCH_SETTING_MAP: Readonly<Record<string, PyMapping>> = {
  'lora.r': { name: 'LORA_R', target: 'LoraConfig(r=LORA_R)' },
  'lora.alpha': { name: 'LORA_ALPHA', target: 'LoraConfig(lora_alpha=LORA_ALPHA)' },
  'lora.dropout': { name: 'LORA_DROPOUT', target: 'LoraConfig(lora_dropout=LORA_DROPOUT)', note: 'PEFT draws its own dropout masks (torch RNG), not the studio\'s Philox masks' },
  'lora.targets': {
    name: 'LORA_TARGETS',
    target: 'LoraConfig(target_modules=LORA_TARGETS)',
    note: 'the Llama-family names (q_proj … down_proj) are the modules of Llama, Mistral, Qwen2 and Qwen3 in Transformers',
    classification: {
      target: 'LoraConfig(target_modules=PEFT_TARGET_MODULES)',
      note: 'the studio\'s names mapped to the encoder\'s own modules (BERT, RoBERTa: q_proj → query, v_proj → value, o_proj → attention.output.dense, up_proj → intermediate.dense, down_proj → output.dense; DistilBERT: q_lin, v_lin, out_lin, lin1, lin2), exactly as the studio\'s adapter_config.json writes them',
    },
  },
  'lora.useRslora': { name: 'USE_RSLORA', target: 'LoraConfig(use_rslora=USE_RSLORA)' },
  'train.learningRate': { name: 'LEARNING_RATE', target: 'TrainingArguments(learning_rate=LEARNING_RATE)' },
  'train.epochs': { name: 'EPOCHS', target: 'TrainingArguments(num_train_epochs=EPOCHS)' },
  'train.maxSteps': { name: 'MAX_STEPS', target: 'TrainingArguments(max_steps=MAX_STEPS or -1)', note: '0 (all epochs) is -1 in Transformers' },
  'train.batchSize': {
    name: 'BATCH_SIZE',
    target: 'TrainingArguments(per_device_train_batch_size × gradient_accumulation_steps × processes = BATCH_SIZE)',
    note: 'the effective batch: train.py splits it at launch over the processes accelerate starts, so it stays the same on 1 or 64 GPUs',
  },
  'train.microBatch': {
    name: 'MICRO_BATCH',
    target: 'the default of --per-device-batch (0: BATCH_SIZE)',
    note: 'a memory choice, not a recipe one: train.py takes the largest divisor of BATCH_SIZE / processes that is at most --per-device-batch, and accumulates the rest',
  },
  'train.maxLength': {
    name: 'MAX_LENGTH',
    target: 'the exported rows (cut to MAX_LENGTH tokens when the studio rendered them); the length of a packed row',
    note: 'train.py checks that no row is longer; nothing is tokenized again',
    classification: {
      target: 'the exported rows (encoded with the tokenizer\'s special tokens and cut longest-first to MAX_LENGTH, or the model\'s positions, when the studio read them)',
      note: 'train.py checks that no row is longer; nothing is tokenized again',
    },
  },
  'train.weightDecay': {
    name: 'WEIGHT_DECAY',
    target: 'TrainingArguments(weight_decay=WEIGHT_DECAY)',
    note: 'every LoRA matrix is decayed, as in the studio (Transformers exempts only biases and norms, which LoRA does not train)',
    classification: { target: 'TrainingArguments(weight_decay=WEIGHT_DECAY)', note: 'every LoRA matrix and the head\'s weights are decayed, its biases are not: Transformers\' rule, which the studio follows for the head' },
  },
  'train.schedule': { name: 'SCHEDULE', target: 'TrainingArguments(lr_scheduler_type=…)', note: '"constant" is Transformers\' "constant_with_warmup" (the studio\'s constant schedule warms up too)' },
  'train.warmupRatio': { name: 'WARMUP_RATIO', target: 'TrainingArguments(warmup_ratio=WARMUP_RATIO)', note: 'both round the warmup up: ceil(total steps × ratio)' },
  'train.maxGradNorm': { name: 'MAX_GRAD_NORM', target: 'TrainingArguments(max_grad_norm=MAX_GRAD_NORM)', note: '0 turns clipping off in both' },
  'train.seed': { name: 'SEED', target: 'TrainingArguments(seed=SEED, data_seed=SEED)', note: 'the same seed, another generator: PyTorch draws other LoRA inits, shuffles and dropout masks than the studio' },
  'train.shuffle': { name: 'SHUFFLE', target: 'StudioTrainer._get_train_sampler (SequentialSampler when off)', note: 'Transformers always shuffles; train.py keeps file order when shuffling is off' },
  'train.packing': {
    name: 'PACKING',
    target: 'pack_rows() + StudioCollator (one sequence per micro-batch, position_ids restarting per example; attention stays inside each)',
    note: 'rows are packed greedily up to MAX_LENGTH as the studio packs them, once before training rather than every epoch; train.py checks that packed examples do not attend to each other before it trains',
    classification: {
      target: 'recorded only: classification rows are never packed (ClassificationCollator pads each micro-batch to its longest row)',
      note: 'the studio\'s encoder batches are padded rows too: one label per row',
    },
  },
  'train.gradientCheckpointing': {
    name: 'GRADIENT_CHECKPOINTING',
    target: 'TrainingArguments(gradient_checkpointing=…, use_reentrant=False)',
    note: '"auto" is off unless --gradient-checkpointing on is given (PyTorch has no memory planner; the GPUs are larger)',
  },
  'train.weights': {
    name: 'BASE_WEIGHTS',
    target: 'recorded for the reader: train.py loads the base in --precision (bf16 by default, f32 under FSDP)',
    note: 'the studio stores its frozen base in this precision on the browser GPU (q8: 8-bit per output channel, nf4: 4-bit NF4 as QLoRA); a GPU run has the memory for a 16-bit base, and bitsandbytes (QLoRA\'s 4-bit) is not among the pinned packages',
    classification: {
      target: 'recorded for the reader: train.py loads an encoder in f32 and computes in --precision (bf16 autocast by default)',
      note: 'encoders are small: the head PEFT trains in full (modules_to_save) stays f32, as in the studio',
    },
  },
  'train.encoderDropout': {
    name: 'ENCODER_DROPOUT',
    target: 'recorded only: a causal-LM run has no encoder',
    note: 'an encoder\'s hidden, attention and classifier dropout',
    classification: {
      target: 'the model\'s config: when False, every dropout probability of config.json (hidden_dropout_prob, attention_probs_dropout_prob, classifier_dropout; DistilBERT: dropout, attention_dropout, seq_classif_dropout) is set to 0 before the model is built',
      note: 'True keeps config.json\'s probabilities, as the studio does; LORA_DROPOUT is separate in both',
    },
  },
  'data.task': {
    name: 'TASK',
    target: 'recorded only: a causal-LM run has no classification head',
    note: 'an encoder head\'s task',
    classification: {
      target: 'PROBLEM_TYPE and LABELS (this export): AutoModelForSequenceClassification(num_labels, id2label, label2id, problem_type) and the labels of the exported rows',
      note: 'resolved when the studio read the rows (auto: class names or integer ids → single_label_classification, numbers with fractions → regression, lists → multi_label_classification); recorded here for the reader',
    },
  },
  'data.trainOn': {
    name: 'TRAIN_ON',
    target: 'the labels of the exported rows (-100 where the studio did not train)',
    note: 'applied when the studio rendered the rows; recorded here for the reader',
    classification: { target: 'recorded only: a classification row trains its label, not its tokens' },
  },
  'data.onBadRows': {
    name: 'ON_BAD_ROWS',
    target: 'the exported rows (skipped rows are not in data/)',
    note: 'applied when the studio read the file; recorded here for the reader',
  },
  'data.validationFraction': {
    name: 'VALIDATION_FRACTION',
    target: 'data/validation.jsonl (the studio\'s own split)',
    note: 'applied when the studio split the rows; recorded here for the reader',
    classification: {
      target: 'data/validation.jsonl (the studio\'s own split, stratified by class for single-label data)',
      note: 'applied when the studio split the rows; validation gives eval_loss and compute_metrics\' metrics',
    },
  },
  'eval.evalInterval': {
    name: 'EVAL_EVERY',
    target: 'TrainingArguments(eval_strategy="steps", eval_steps=EVAL_EVERY) + an evaluation before the first step and after the last',
    note: '0: only at the end, as in the studio',
    classification: {
      target: 'TrainingArguments(eval_strategy="steps", eval_steps=EVAL_EVERY) + an evaluation before the first step and after the last; compute_metrics gives the studio\'s metrics',
      note: '0: only at the end, as in the studio',
    },
  },
  'eval.logInterval': { name: 'LOG_EVERY', target: 'TrainingArguments(logging_steps=LOG_EVERY)' },
  'eval.checkpointInterval': { name: 'SAVE_EVERY', target: 'TrainingArguments(save_strategy="steps", save_steps=SAVE_EVERY)', note: '0: only the final adapter is saved' },
};

/** RunSettings fields that are not in SETTING_DEFS (no flag, no slider) and how they travel. */
export const PYTORCH_EXTRA_MAP: Readonly<Record<string, PyMapping>> = {
  'lora.layers': { name: 'LAYERS_TO_TRANSFORM', target: 'LoraConfig(layers_to_transform=LAYERS_TO_TRANSFORM)', note: 'None: every layer' },
  model: {
    name: 'BASE_MODEL',
    target: 'AutoModelForCausalLM.from_pretrained(--model or BASE_MODEL)',
    note: 'the hub id, the bundled model/ folder, or the name of a local folder (pass --model)',
    classification: { target: 'AutoModelForSequenceClassification.from_pretrained(--model or BASE_MODEL)', note: 'the hub id, the bundled model/ folder, or the name of a local folder (pass --model); a head of another size is drawn anew, as the studio does' },
  },
};

/** Settings the engine fixes (no setting in the studio) and their PyTorch values. */
export const PYTORCH_FIXED: readonly { name: string; value: PyValue; target: string; why: string }[] = [
  { name: 'LORA_BIAS', value: 'none', target: 'LoraConfig(bias=LORA_BIAS)', why: 'the studio trains no biases' },
  { name: 'ADAM_BETAS', value: [0.9, 0.999], target: 'TrainingArguments(adam_beta1, adam_beta2)', why: 'the engine\'s AdamW (DESIGN.md §2)' },
  { name: 'ADAM_EPSILON', value: 1e-8, target: 'TrainingArguments(adam_epsilon=ADAM_EPSILON)', why: 'the engine\'s AdamW' },
];

/** The Python literal of a value: JSON for strings and numbers (valid Python), True/False/None. */
export function pyLiteral(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ExportError(`cannot write ${v} as a Python number`);
    return Number.isInteger(v) ? String(v) : String(v).replace(/^(-?)\./, '$10.');
  }
  if (typeof v === 'string') return JSON.stringify(v).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  return `[${v.map((x) => pyLiteral(x)).join(', ')}]`;
}

function asPy(key: string, v: SettingValue | number[] | null): PyValue {
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (Array.isArray(v)) return v as (number | string)[];
  throw new ExportError(`setting ${key} has a value train.py cannot hold: ${JSON.stringify(v)}`);
}

export interface SettingLine {
  key: string;
  name: string;
  value: PyValue;
  target: string;
  note?: string;
}

/** The settings block's lines: every setting of the contract (in its order), then lora.layers. */
export function settingLines(s: RunSettings, objective: ExportObjective = 'causal-lm'): SettingLine[] {
  const missing = SETTING_DEFS.filter((d) => !PYTORCH_SETTING_MAP[d.key]).map((d) => d.key);
  if (missing.length) throw new ExportError(`the PyTorch export does not map ${missing.join(', ')}: add ${missing.length === 1 ? 'it' : 'them'} to PYTORCH_SETTING_MAP (src/formats/export/pytorchSettings.ts)`);
  const extra = Object.keys(PYTORCH_SETTING_MAP).filter((k) => !SETTING_DEFS.some((d) => d.key === k));
  if (extra.length) throw new ExportError(`PYTORCH_SETTING_MAP maps settings the contract no longer has: ${extra.join(', ')}`);
  const lines: SettingLine[] = SETTING_DEFS.map((d) => {
    const m = mappingFor(PYTORCH_SETTING_MAP[d.key], objective);
    return { key: d.key, name: m.name, value: asPy(d.key, getSetting(s, d.key)), target: m.target, note: m.note };
  });
  const layers = PYTORCH_EXTRA_MAP['lora.layers'];
  lines.push({ key: 'lora.layers', name: layers.name, value: s.lora.layers ? [...s.lora.layers] : null, target: layers.target, note: layers.note });
  return lines;
}

/** The settings block of train.py: one `NAME = value  # key → target` line per setting. */
export function settingsBlock(s: RunSettings, objective: ExportObjective = 'causal-lm'): string {
  const lines = settingLines(s, objective);
  const width = Math.max(...lines.map((l) => `${l.name} = ${pyLiteral(l.value)}`.length)) + 2;
  const out = lines.map((l) => `${`${l.name} = ${pyLiteral(l.value)}`.padEnd(width)}# ${l.key} → ${l.target}`);
  for (const f of PYTORCH_FIXED) out.push(`${`${f.name} = ${pyLiteral(f.value)}`.padEnd(width)}# fixed by the engine → ${f.target}`);
  return out.join('\n');
}

/** The mapping as a Markdown table for the export's README (setting, value, where it goes, note). */
export function settingsTable(s: RunSettings, objective: ExportObjective = 'causal-lm'): string {
  const rows = settingLines(s, objective).map((l) => `| \`${l.key}\` | \`${pyLiteral(l.value)}\` | ${l.target.replace(/\|/g, '\\|')} | ${(l.note ?? '').replace(/\|/g, '\\|')} |`);
  for (const f of PYTORCH_FIXED) rows.push(`| (fixed) \`${f.name}\` | \`${pyLiteral(f.value)}\` | ${f.target} | ${f.why} |`);
  return ['| setting | value | in train.py | note |', '|---|---|---|---|', ...rows].join('\n');
}
