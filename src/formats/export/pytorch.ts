/**
 * "Run on GPUs": a run of the studio as a PyTorch project — Transformers + PEFT + Trainer, launched
 * with accelerate on one GPU, several, or several machines — that trains the same adapter on the
 * same tokens, and whose output folder imports back into the studio's library.
 *
 *   train.py                      the recipe with this run's settings (pytorchScript.ts, pytorchSettings.ts)
 *   run.json                      the run as the studio has it: settings, base model, data summary
 *   README.md                     the two commands, what to expect, where each setting goes
 *   requirements.txt              pinned versions (requirements-deepspeed.txt adds DeepSpeed)
 *   accelerate/*.yaml             one GPU, several GPUs (DDP), FSDP, DeepSpeed ZeRO-2 (+ ds_zero2.json)
 *   data/{train,validation}.jsonl the rows as the studio rendered them: source, token ids, labels (a
 *                                 classifier's: text, text pair, label as written, token ids and types, the head's label)
 *   tokenizer/                    the tokenizer files and chat_template.jinja the rows were rendered with
 *   model/                        the base model, when it travels with the export (the demo model)
 *   init_adapter/                 the studio's adapter to continue from, when given
 *
 * A classification run (an encoder and its head) exports the same project: train.py switches to
 * AutoModelForSequenceClassification, task_type SEQ_CLS and compute_metrics (pytorchScript.ts).
 *
 * Bytes in, files out (no DOM, no Node APIs), like the other exporters of this folder.
 */
import type { ClassifiedRow, RenderedRow } from '../../data/renderedRows';
import { SETTING_DEFS, canonicalJson, getSetting, formatSettingValue, loraScale, type RunSettings } from '../../settings/settings';
import { trainScript, type ScriptClassification } from './pytorchScript';
import { settingsTable, type ExportObjective } from './pytorchSettings';
import { ExportError, textPart, type ExportedFiles } from './types';

export const PYTORCH_EXPORT_FORMAT = 'adapter-studio-pytorch';
export const PYTORCH_EXPORT_VERSION = 1;
/** The run record train.py writes next to the adapter (run.json plus how it was launched). */
export const PYTORCH_RUN_RECORD = 'adapter_studio_run.json';

/**
 * Versions that install together (all from November 2025): torch 2.9.1 (CUDA 12.8 wheels on Linux,
 * Python 3.10–3.14), the last Transformers 4.x line, PEFT 0.18.0 (0.19 and later require torchao >
 * 0.16), accelerate 1.12.0, datasets 4.4.1, and the tokenizers / hub / safetensors that transformers
 * 4.57.3 accepts (tokenizers < 0.23, huggingface-hub < 1.0). train.py is written against these.
 */
export const PINNED_REQUIREMENTS: readonly [string, string][] = [
  ['torch', '2.9.1'],
  ['transformers', '4.57.3'],
  ['peft', '0.18.0'],
  ['accelerate', '1.12.0'],
  ['datasets', '4.4.1'],
  ['safetensors', '0.7.0'],
  ['tokenizers', '0.22.2'],
  ['huggingface-hub', '0.36.0'],
];
/** DeepSpeed for the ZeRO-2 option: a release built and used with torch 2.9. */
export const PINNED_DEEPSPEED: [string, string] = ['deepspeed', '0.18.3'];

export interface PytorchExportRequest {
  settings: RunSettings;
  /** A title for the README and train.py's header (e.g. the adapter's or dataset's name). */
  title: string;
  base: {
    /** What the studio calls the base: a hub id, "adapter-studio/demo", or a local folder's name. */
    name: string;
    /** A hub repository train.py downloads (null for a bundled or local model). */
    hubId: string | null;
    revision: string | null;
    /** The model folder's files when the model travels with the export (written under model/). */
    files: Map<string, Uint8Array> | null;
  };
  /** tokenizer.json, tokenizer_config.json, special_tokens_map.json, … as the run used them. */
  tokenizerFiles: Map<string, string>;
  padTokenId: number;
  /** Every example of the run with its source (data/renderedRows.ts): causal-LM rows, or a classifier's rows. */
  rows: AsyncIterable<RenderedRow | ClassifiedRow> | Iterable<RenderedRow | ClassifiedRow>;
  /** A classification run's head (its rows are ClassifiedRow); null or absent for a causal-LM run. */
  classification?: ScriptClassification | null;
  /** Decodes token ids into the text the model saw (written as "rendered"); optional. */
  decode?: (ids: number[]) => string;
  dataset: { name: string; schema: string };
  /** How the rows were rendered (recorded for the reader; the tokens already carry it). */
  render: { maxLength: number; trainOn: 'response' | 'all'; pairFormat: 'template' | 'chat' };
  /** The studio's adapter to continue from, and how many steps it had been trained (an encoder's: with its labels' config.json). */
  initAdapter?: { name: string; steps: number; adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string } | null;
  /** The studio's memory plan for this run, for the record. */
  studioPlan?: { microBatch: number; gradAccum: number; seqLen: number } | null;
  createdAt?: Date;
}

/** The chat template of a tokenizer_config.json: a string, or the "default" of a list of named templates. */
export function chatTemplateOf(tokenizerConfig: string | undefined): string | null {
  if (!tokenizerConfig) return null;
  let c: { chat_template?: unknown };
  try {
    c = JSON.parse(tokenizerConfig);
  } catch (e) {
    throw new ExportError(`tokenizer_config.json is not valid JSON (${(e as Error).message})`);
  }
  const t = c.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const d = t.find((x) => x && (x as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    return typeof d?.template === 'string' ? d.template : null;
  }
  return null;
}

interface SplitStats {
  rows: number;
  tokens: number;
  /** Trained tokens (causal LM); a classifier's rows each train one label. */
  targetTokens: number;
  longest: number;
}

/** One JSONL line: every field in every line (null where unused), so Arrow infers one schema. */
export function jsonlRow(r: RenderedRow, rendered: string | null): string {
  const { ids, lossMask } = r.example;
  const inputIds = Array.from(ids);
  const labels = inputIds.map((id, t) => (t > 0 && lossMask[t] ? id : -100));
  const s = r.source;
  return JSON.stringify({
    row: r.row,
    messages: s.kind === 'chat' ? s.messages : null,
    train_from: s.kind === 'chat' ? s.trainFrom : null,
    prompt: s.kind === 'pair' ? s.prompt : null,
    completion: s.kind === 'pair' ? s.completion : null,
    text: s.kind === 'text' ? s.text : null,
    rendered,
    input_ids: inputIds,
    labels,
  });
}

/**
 * A float as JSON that Arrow reads as a float even when it is whole (1.0, not 1): a regression
 * target or a multi-hot value, so that every line of a column has one type.
 */
export function floatJson(x: number): string {
  if (!Number.isFinite(x)) throw new ExportError(`label ${x} is not a finite number`);
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

/**
 * One JSONL line of a classification run: the row's text (and text pair), its label in words, the
 * tokens and token types as the studio encoded them, and `labels`, what the head trained on: the
 * class id (single-label), the target (regression, the studio's f32 value) or the multi-hot row
 * (multi-label), floats written as floats. `label` has one type in every line, whatever the file
 * held (Arrow infers one schema per column): the class name, the list of names, or the target as
 * the file wrote it (a double).
 */
export function classificationJsonlRow(r: ClassifiedRow, rendered: string | null, c: Pick<ScriptClassification, 'problemType' | 'labels'>): string {
  let label: string;
  let labels: string;
  const bad = (what: string) => new ExportError(`row ${r.row}: ${what} ${JSON.stringify(r.label)} does not fit a ${c.problemType} head of ${c.labels.length} output${c.labels.length === 1 ? '' : 's'}`);
  if (c.problemType === 'single_label_classification') {
    if (typeof r.label !== 'number' || !Number.isInteger(r.label) || r.label < 0 || r.label >= c.labels.length) throw bad('label');
    label = JSON.stringify(c.labels[r.label]);
    labels = String(r.label);
  } else if (c.problemType === 'multi_label_classification') {
    const hot = r.label;
    if (!Array.isArray(hot) || hot.length !== c.labels.length) throw bad('labels');
    label = JSON.stringify(c.labels.filter((_, k) => hot[k] > 0.5));
    labels = `[${hot.map(floatJson).join(', ')}]`;
  } else {
    if (typeof r.label !== 'number') throw bad('target');
    const written = Number(r.source.label);
    label = floatJson(Number.isFinite(written) ? written : r.label);
    labels = floatJson(r.label);
  }
  const head = JSON.stringify({ row: r.row, text: r.source.text, text_pair: r.source.textPair });
  const tokens = JSON.stringify({ rendered, input_ids: Array.from(r.example.ids), token_type_ids: Array.from(r.example.tokenTypeIds) });
  return `${head.slice(0, -1)},"label":${label},${tokens.slice(1, -1)},"labels":${labels}}`;
}

/** Text parts of about 1 MiB, so a large dataset never needs one string. */
class PartWriter {
  readonly parts: Uint8Array[] = [];
  private buf: string[] = [];
  private size = 0;
  private readonly enc = new TextEncoder();
  write(line: string): void {
    this.buf.push(line);
    this.size += line.length;
    if (this.size > 1 << 20) this.flush();
  }
  flush(): Uint8Array[] {
    if (this.buf.length) this.parts.push(this.enc.encode(this.buf.join('')));
    this.buf = [];
    this.size = 0;
    return this.parts;
  }
}

function yaml(lines: string[]): Uint8Array[] {
  return textPart(lines.join('\n') + '\n');
}

/** The accelerate configs: one GPU, several (DDP), FSDP, DeepSpeed ZeRO-2. train.py decides the precision. */
export function accelerateConfigs(batchSize: number): Map<string, Uint8Array[]> {
  // Processes must divide the batch (train.py refuses others): the largest of 8, 4, 2, 1 that does.
  const gpus = [8, 4, 2, 1].find((n) => batchSize % n === 0) ?? 1;
  const common = ['machine_rank: 0', 'main_training_function: main', "mixed_precision: 'no'  # train.py sets it (--precision, default bf16)", 'rdzv_backend: static', 'same_network: true', 'use_cpu: false'];
  const files = new Map<string, Uint8Array[]>();
  files.set('accelerate/single_gpu.yaml', yaml(['# One GPU: accelerate launch --config_file accelerate/single_gpu.yaml train.py', 'compute_environment: LOCAL_MACHINE', 'debug: false', "distributed_type: 'NO'", 'num_machines: 1', 'num_processes: 1', ...common]));
  files.set('accelerate/multi_gpu.yaml', yaml([
    '# Several GPUs, data parallel (DDP): each GPU holds the model and takes its share of every batch.',
    '# num_processes = GPUs in all, a divisor of the batch size (set it, or pass --num_processes N); several machines: --num_machines, --machine_rank, --main_process_ip.',
    'compute_environment: LOCAL_MACHINE', 'debug: false', 'distributed_type: MULTI_GPU', 'num_machines: 1', `num_processes: ${gpus}`, ...common,
  ]));
  files.set('accelerate/fsdp.yaml', yaml([
    '# FSDP: the base model sharded over the GPUs, for models one GPU cannot hold (PEFT\'s FSDP recipe).',
    '# The final adapter is gathered whole; checkpoint-N folders hold sharded states (resumable with --resume-from-checkpoint).',
    'compute_environment: LOCAL_MACHINE', 'debug: false', 'distributed_type: FSDP', 'fsdp_config:',
    '  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP', '  fsdp_backward_prefetch: BACKWARD_PRE', '  fsdp_cpu_ram_efficient_loading: true', '  fsdp_forward_prefetch: false',
    '  fsdp_offload_params: false', '  fsdp_sharding_strategy: FULL_SHARD', '  fsdp_state_dict_type: SHARDED_STATE_DICT', '  fsdp_sync_module_states: true', '  fsdp_use_orig_params: false',
    'num_machines: 1', `num_processes: ${gpus}`, ...common,
  ]));
  files.set('accelerate/deepspeed_zero2.yaml', yaml([
    '# DeepSpeed ZeRO-2: optimizer states and gradients sharded over the GPUs (pip install -r requirements-deepspeed.txt).',
    'compute_environment: LOCAL_MACHINE', 'debug: false', 'distributed_type: DEEPSPEED', 'deepspeed_config:', '  deepspeed_config_file: accelerate/ds_zero2.json', '  zero3_init_flag: false',
    'num_machines: 1', `num_processes: ${gpus}`, ...common.filter((l) => !l.startsWith('mixed_precision')),
  ]));
  // "auto" values come from train.py's TrainingArguments; no optimizer section: Transformers' AdamW is used.
  files.set('accelerate/ds_zero2.json', textPart(JSON.stringify({
    bf16: { enabled: 'auto' },
    fp16: { enabled: 'auto' },
    zero_optimization: { stage: 2, overlap_comm: true, contiguous_gradients: true, reduce_bucket_size: 'auto', allgather_bucket_size: 5e8 },
    gradient_accumulation_steps: 'auto',
    gradient_clipping: 'auto',
    train_batch_size: 'auto',
    train_micro_batch_size_per_gpu: 'auto',
    zero_allow_untested_optimizer: true,
  }, null, 2) + '\n'));
  return files;
}

function requirements(): string {
  return [
    '# Pinned: versions that install together (Nov 2025) and that train.py is written against.',
    '# torch wheels: the default index gives CUDA 12.8 builds on Linux; see https://pytorch.org for other CUDA versions.',
    ...PINNED_REQUIREMENTS.map(([n, v]) => `${n}==${v}`),
    '',
  ].join('\n');
}

/** The README's lines that say what a classification run trains on and how it is measured. */
function classificationReadme(req: PytorchExportRequest, c: ScriptClassification, stats: { train: SplitStats; validation: SplitStats | null }): { expect: string; same: string[] } {
  const metrics = c.problemType === 'single_label_classification'
    ? 'eval_accuracy, eval_f1 (macro over every label)'
    : c.problemType === 'multi_label_classification' ? 'eval_f1 (micro), eval_f1_macro, eval_precision, eval_recall, eval_accuracy (exact match)' : 'eval_mse, eval_mae, eval_pearson';
  const loss = c.problemType === 'single_label_classification' ? 'cross-entropy' : c.problemType === 'multi_label_classification' ? 'binary cross-entropy with logits, summed over the labels' : 'squared error';
  return {
    expect: stats.validation ? ` and validation (eval_loss, ${metrics}) before the first step, every ${req.settings.eval.evalInterval || 'N'} steps${req.settings.eval.evalInterval ? '' : ' (here: only at the end)'} and after the last` : '',
    same: [
      `- Task: \`${c.problemType}\` with ${c.labels.length} output${c.labels.length === 1 ? '' : 's'} (${c.labels.join(', ')}): \`AutoModelForSequenceClassification\` with num_labels, id2label, label2id and problem_type; PEFT's \`task_type="SEQ_CLS"\` trains the head in full (modules_to_save), as the studio does, and \`output/config.json\` carries the labels.`,
      `- Tokens: \`data/train.jsonl\`${stats.validation ? ' and `data/validation.jsonl` (the studio\'s split)' : ''} hold each row as the studio encoded it: \`text\` (and \`text_pair\`), \`label\` in words (the class name, the list of names, or the target), \`input_ids\` and \`token_type_ids\` with the tokenizer's special tokens, \`rendered\` (the tokens as text) and \`labels\`, what the head trains on (a class id, a target, or one 0/1 per label). Nothing is tokenized again.`,
      `- ${stats.train.rows} training rows, ${stats.train.tokens} tokens; ${stats.validation ? `${stats.validation.rows} validation rows` : 'no validation rows'}. Max length ${req.render.maxLength}; rows are padded per micro-batch, never packed.`,
      `- Loss: the ${loss} of every row of the effective batch (every micro-batch, every GPU) summed and divided by its ${c.problemType === 'single_label_classification' ? 'rows' : 'rows × outputs'}, as the studio computes it. AdamW with betas (0.9, 0.999), eps 1e-8, decoupled weight decay on every LoRA matrix and the head's weights (not its biases), global-norm clipping, the learning-rate schedule with warmup as Transformers defines it.`,
      `- Metrics: compute_metrics computes the studio's (${metrics}) over the whole validation split; eval_loss is the mean over every row${c.problemType === 'single_label_classification' ? '' : ' × output'}, as the studio's. The last evaluation's per-class precision, recall, F1 and support${c.problemType === 'single_label_classification' ? ' and its confusion matrix' : ''} go to \`output/adapter_studio_run.json\`.`,
      '- Differs: the random numbers (PyTorch draws other LoRA initial values, a new head, dropout masks and shuffles from the same seed), the arithmetic (bf16 autocast by default; `--precision fp32` for f32 like the studio), and the logged training loss is Transformers\' mean of step losses over the logging interval.',
    ],
  };
}

function readme(req: PytorchExportRequest, stats: { train: SplitStats; validation: SplitStats | null }, hasTemplate: boolean, objective: ExportObjective): string {
  const s = req.settings;
  const cls = req.classification ? classificationReadme(req, req.classification, stats) : null;
  const model = req.base.files ? 'the bundled `model/` folder' : req.base.hubId ? `\`${req.base.hubId}\` from the Hugging Face hub` : `the local model \`${req.base.name}\` (pass \`--model /path/to/it\`)`;
  const packing = s.train.packing ? 'on (rows packed up to the max length; train.py checks on the GPU that packed examples do not attend to each other)' : 'off';
  return [
    `# ${req.title} — on PyTorch`,
    '',
    `This folder is an Adapter Studio run as a PyTorch project: the same LoRA recipe (r ${s.lora.r}, alpha ${s.lora.alpha}, ${s.lora.targets.join(', ')}; lr ${s.train.learningRate}, batch ${s.train.batchSize}, ${s.train.maxSteps > 0 ? `${s.train.maxSteps} steps` : `${s.train.epochs} epochs`}) on the same tokens, in Transformers + PEFT, launched with accelerate on one GPU, several, or several machines. Base model: ${model}.${cls ? ' A sequence classifier: an encoder with a classification head.' : ''}`,
    '',
    '## Run it',
    '',
    '```sh',
    'pip install -r requirements.txt',
    'accelerate launch --config_file accelerate/single_gpu.yaml train.py',
    '```',
    '',
    'Several GPUs on one machine: `accelerate launch --config_file accelerate/multi_gpu.yaml --num_processes 4 train.py` (DDP).',
    'A model one GPU cannot hold: `accelerate/fsdp.yaml` (FSDP). DeepSpeed ZeRO-2: `pip install -r requirements-deepspeed.txt`, then `accelerate/deepspeed_zero2.yaml`.',
    'Several machines: the same command on each, with `--num_machines M --machine_rank i --main_process_ip <first machine> --main_process_port 29500` and `--num_processes` = GPUs in all.',
    '',
    `The effective batch stays ${s.train.batchSize} rows per optimizer step whatever the number of GPUs: train.py splits it at launch into rows per GPU × gradient accumulation × processes (it refuses a number of processes that does not divide ${s.train.batchSize}). \`--per-device-batch N\` caps the rows per GPU per pass (lower it if a GPU runs out of memory; accumulation makes up the rest). \`python3 train.py --check-only\` checks the data and prints this plan without a GPU.`,
    '',
    '## What to expect',
    '',
    `- train.py prints the plan (processes, rows per GPU, accumulation, steps), the trainable parameters, then a line every ${s.eval.logInterval} steps (loss, grad_norm, learning_rate, epoch)${cls ? cls.expect : stats.validation ? ` and validation (eval_loss, eval_perplexity, eval_accuracy) before the first step, every ${s.eval.evalInterval || 'N'} steps${s.eval.evalInterval ? '' : ' (here: only at the end)'} and after the last` : ''}.`,
    `- \`output/\` gets the adapter as PEFT saves it (adapter_model.safetensors, adapter_config.json, README.md${cls ? '; the head under its modules_to_save keys, and config.json with the labels' : ''}), \`trainer_state.json\` with every logged metric, \`adapter_studio_run.json\` (this run and how it was launched)${s.eval.checkpointInterval ? `, and \`checkpoint-N/\` folders every ${s.eval.checkpointInterval} steps (\`--resume-from-checkpoint last\` continues a stopped launch)` : ''}.`,
    '- Back in the studio: Library → Import folder (or zip `output/` and Import zip). The adapter comes with its loss curve and metrics, and can be tried in the playground, trained further or exported like any other.',
    '',
    '## The same run',
    '',
    ...(cls ? cls.same : [
    `- Tokens: \`data/train.jsonl\`${stats.validation ? ' and `data/validation.jsonl` (the studio\'s split)' : ''} hold each row as the studio rendered it: \`input_ids\` and \`labels\` (-100 where the loss does not train: ${s.data.trainOn === 'response' ? 'prompts, system and user turns' : 'only the first token'}), the row's source (\`messages\` + \`train_from\`, or \`prompt\` + \`completion\`, or \`text\`), and \`rendered\`, the text the model sees. \`datasets.load_dataset("json", data_files="data/train.jsonl")\` reads them. Nothing is tokenized again.`,
    `- ${stats.train.rows} training rows, ${stats.train.tokens} tokens, ${stats.train.targetTokens} trained; ${stats.validation ? `${stats.validation.rows} validation rows, ${stats.validation.targetTokens} trained tokens` : 'no validation rows'}. Max length ${req.render.maxLength}; packing ${packing}.`,
    `- Template: ${hasTemplate ? '`tokenizer/chat_template.jinja` is the chat template the conversations were rendered with (also in tokenizer_config.json)' : 'the tokenizer has no chat template (rows used the studio\'s plain templates)'}.`,
    '- Loss: the sum of cross-entropy over the target tokens of the whole effective batch (every micro-batch, every GPU) divided by their count, as the studio computes it. AdamW with betas (0.9, 0.999), eps 1e-8, decoupled weight decay on every LoRA matrix, global-norm clipping, the learning-rate schedule with warmup as Transformers defines it (the studio uses the same formulas).',
    '- Differs: the random numbers (PyTorch draws other LoRA initial values, dropout masks and shuffles from the same seed), the arithmetic (bf16 autocast by default; `--precision fp32` for f32 like the studio), packing is planned once rather than every epoch, and the logged training loss is Transformers\' mean of step losses over the logging interval (the studio weighs by tokens). Validation is token-weighted as in the studio.',
    ]),
    ...(req.initAdapter ? ['', `Continues the studio's adapter \`${req.initAdapter.name}\` (in \`init_adapter/\`) after its ${req.initAdapter.steps} steps: a new optimizer and schedule start from its weights, as "Continue training" does in the studio.`] : []),
    '',
    '## Settings',
    '',
    'Every setting of the run, the constant it is in train.py, and where it goes:',
    '',
    settingsTable(s, objective),
    '',
    `LoRA scale: ${loraScale(s.lora)} (alpha/${s.lora.useRslora ? '√r' : 'r'}).`,
    '',
    '## Versions',
    '',
    'requirements.txt pins a set that installs together: ' + PINNED_REQUIREMENTS.map(([n, v]) => `${n} ${v}`).join(', ') + '. train.py uses the Trainer arguments and PEFT calls of these versions; other versions may need changes.',
    '',
  ].join('\n');
}

function splitStats(): SplitStats {
  return { rows: 0, tokens: 0, targetTokens: 0, longest: 0 };
}

/** The export's files. */
export async function exportPytorch(req: PytorchExportRequest): Promise<ExportedFiles> {
  const s = req.settings;
  const files: ExportedFiles = new Map();
  const train = new PartWriter();
  const validation = new PartWriter();
  const stats = { train: splitStats(), validation: splitStats() };
  const cls = req.classification ?? null;
  const objective: ExportObjective = cls ? 'classification' : 'causal-lm';
  for await (const r of req.rows as AsyncIterable<RenderedRow | ClassifiedRow>) {
    if ((r.kind === 'classification') !== (cls !== null)) throw new ExportError(`row ${r.row} is a ${r.kind} row but the run is a ${objective} run`);
    const st = stats[r.split];
    const ids = Array.from(r.example.ids);
    if (ids.length > s.train.maxLength) throw new ExportError(`row ${r.row} has ${ids.length} tokens, more than the max length ${s.train.maxLength}: the rows were rendered with another max length`);
    st.rows++;
    st.tokens += ids.length;
    st.longest = Math.max(st.longest, ids.length);
    const rendered = req.decode ? req.decode(ids) : null;
    if (r.kind === 'classification') {
      st.targetTokens++;
      (r.split === 'train' ? train : validation).write(classificationJsonlRow(r, rendered, cls!) + '\n');
    } else {
      for (let t = 1; t < ids.length; t++) st.targetTokens += r.example.lossMask[t] ? 1 : 0;
      (r.split === 'train' ? train : validation).write(jsonlRow(r, rendered) + '\n');
    }
  }
  if (stats.train.rows === 0) throw new ExportError('the run has no training rows to export');
  if (stats.train.targetTokens === 0) throw new ExportError('no training row has a trained token: nothing to learn');
  if (cls) {
    if (cls.labels.length === 0) throw new ExportError('the classification run has no labels');
    if (cls.problemType === 'regression' && cls.labels.length !== 1) throw new ExportError(`a regression head has one output, not ${cls.labels.length}`);
    if (typeof cls.targetModules === 'string' && s.lora.layers) {
      throw new ExportError(`PEFT cannot limit a regex target_modules (${cls.targetModules}) to layers ${s.lora.layers.join(', ')} (layers_to_transform needs a list): adapt every layer, or add o_proj to the targets`);
    }
  }
  const hasValidation = stats.validation.rows > 0;
  files.set('data/train.jsonl', train.flush());
  if (hasValidation) files.set('data/validation.jsonl', validation.flush());

  for (const name of ['tokenizer.json', 'tokenizer_config.json']) if (!req.tokenizerFiles.has(name)) throw new ExportError(`the tokenizer's ${name} is missing: the export carries the tokenizer the rows were rendered with`);
  for (const [name, text] of req.tokenizerFiles) files.set(`tokenizer/${name}`, textPart(text));
  const template = chatTemplateOf(req.tokenizerFiles.get('tokenizer_config.json')) ?? req.tokenizerFiles.get('chat_template.jinja') ?? null;
  if (template !== null) files.set('tokenizer/chat_template.jinja', textPart(template));

  if (req.base.files) for (const [name, bytes] of req.base.files) files.set(`model/${name}`, [bytes]);
  if (req.initAdapter) {
    files.set('init_adapter/adapter_model.safetensors', [req.initAdapter.adapterModel]);
    files.set('init_adapter/adapter_config.json', textPart(req.initAdapter.adapterConfig));
    if (req.initAdapter.labelsConfig) files.set('init_adapter/config.json', textPart(req.initAdapter.labelsConfig));
  }

  const record = {
    format: PYTORCH_EXPORT_FORMAT,
    version: PYTORCH_EXPORT_VERSION,
    created: (req.createdAt ?? new Date()).toISOString(),
    title: req.title,
    base_model: { name: req.base.name, hub_id: req.base.hubId, revision: req.base.revision, bundled: !!req.base.files },
    settings: JSON.parse(canonicalJson(s)) as RunSettings,
    settings_text: Object.fromEntries(SETTING_DEFS.map((d) => [d.key, formatSettingValue(d, getSetting(s, d.key))])),
    studio_plan: req.studioPlan ?? null,
    dataset: {
      name: req.dataset.name,
      schema: req.dataset.schema,
      render: { max_length: req.render.maxLength, train_on: req.render.trainOn, pair_format: req.render.pairFormat },
      task: cls ? { problem_type: cls.problemType, labels: cls.labels } : null,
      train: { file: 'data/train.jsonl', rows: stats.train.rows, tokens: stats.train.tokens, target_tokens: stats.train.targetTokens, longest: stats.train.longest },
      validation: hasValidation ? { file: 'data/validation.jsonl', rows: stats.validation.rows, tokens: stats.validation.tokens, target_tokens: stats.validation.targetTokens, longest: stats.validation.longest } : null,
    },
    init_adapter: req.initAdapter ? { path: 'init_adapter', name: req.initAdapter.name, steps: req.initAdapter.steps } : null,
    requirements: Object.fromEntries(PINNED_REQUIREMENTS),
  };
  files.set('run.json', textPart(JSON.stringify(record, null, 2) + '\n'));
  files.set('train.py', textPart(trainScript(s, {
    title: req.title,
    baseModel: req.base.files ? 'model' : (req.base.hubId ?? req.base.name),
    baseModelRevision: req.base.revision,
    baseModelName: req.base.name,
    bundledModel: !!req.base.files,
    trainFile: 'data/train.jsonl',
    validationFile: hasValidation ? 'data/validation.jsonl' : null,
    tokenizerDir: 'tokenizer',
    initAdapter: req.initAdapter ? 'init_adapter' : null,
    initAdapterSteps: req.initAdapter?.steps ?? 0,
    padTokenId: req.padTokenId,
    classification: cls,
  })));
  files.set('requirements.txt', textPart(requirements()));
  files.set('requirements-deepspeed.txt', textPart(`-r requirements.txt\n${PINNED_DEEPSPEED[0]}==${PINNED_DEEPSPEED[1]}\n`));
  for (const [name, parts] of accelerateConfigs(s.train.batchSize)) files.set(name, parts);
  files.set('README.md', textPart(readme(req, { train: stats.train, validation: hasValidation ? stats.validation : null }, template !== null, objective)));
  return files;
}
