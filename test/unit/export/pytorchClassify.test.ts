/**
 * The PyTorch export of a classification run (the demo encoder, a BERT), checked as far as a machine
 * without a GPU or ML packages can: `adapter-studio export --format pytorch` writes the project;
 * train.py compiles; Python's parser reads the settings back equal to the run's (through the
 * classification side of the table) and the export block names the run's task, labels and PEFT's
 * target modules; `train.py --check-only` accepts the rows of all three tasks and counts the run's
 * classes; the exported rows, encoded again with the exported tokenizer, are the run's tokens, token
 * types and labels; train.py's compute_metrics (plain Python) gives the studio's metrics
 * (classify/metrics.ts) on the same logits; the studio's worker export of an encoder run holds the
 * worker's own rows.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { main, COMMANDS } from '../../../src/cli/main';
import { applySettings, parseCommand } from '../../../src/cli/args';
import { loadClassificationData } from '../../../src/cli/inputs';
import { fromPath } from '../../../src/data/nodeSource';
import { nodeFiles } from '../../../src/formats/nodeSource';
import { loadTokenizer, prepareTokenizer } from '../../../src/data/tokenize';
import { classCounts, encodeClassification, type ClassificationStore } from '../../../src/data/classify';
import { parseEncoderConfig } from '../../../src/formats/encoderConfig';
import { peftTargetModules } from '../../../src/formats/peft';
import { encoderTaskFor } from '../../../src/engine/model/encoderSpec';
import { classificationStatsRef, type ClassificationTask } from '../../../src/engine/kernels/classify/classify.ref';
import { metricsFromStats } from '../../../src/engine/kernels/classify/metrics';
import { readDataset } from '../../../src/worker/dataset';
import { exportPytorchZip } from '../../../src/worker/exportPytorch';
import type { SessionModel } from '../../../src/worker/model';
import { DEFAULT_SETTINGS, SETTING_DEFS, getSetting, type RunSettings } from '../../../src/settings/settings';
import { PYTORCH_EXTRA_MAP, PYTORCH_SETTING_MAP, settingLines } from '../../../src/formats/export/pytorchSettings';
import { EXPORT_BEGIN, EXPORT_END, SETTINGS_BEGIN, SETTINGS_END } from '../../../src/formats/export/pytorchScript';
import { cliIo as io } from '../../helpers/cliIo';
import { python, readTrainPyBlock } from '../../helpers/trainPy';

const MODEL = 'public/models/demo-bert';
const SAMPLE = 'public/samples/reviews-sentiment.jsonl';

interface ClassificationJsonlRow {
  row: number;
  text: string;
  text_pair: string | null;
  label: string | string[] | number;
  rendered: string | null;
  input_ids: number[];
  token_type_ids: number[];
  labels: number | number[];
}

function readJsonl(path: string): ClassificationJsonlRow[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

/** The store's label of example i as train.py reads it: a class id, a target, or a multi-hot row. */
function storeLabel(store: ClassificationStore, i: number): number | number[] {
  const L = store.labels!;
  return L.task === 'multi_label' ? Array.from(L.values.subarray(i * L.numLabels, (i + 1) * L.numLabels)) : L.values[i];
}

const FLAGS = ['--batch-size', '8', '--micro-batch', '4', '--val-fraction', '0.1', '--eval-every', '5', '--log-every', '2', '--save-every', '0',
  '--rank', '4', '--alpha', '8', '--dropout', '0.1', '--targets', 'q_proj,v_proj', '--no-encoder-dropout', '--lr', '5e-4', '--epochs', '2',
  '--schedule', 'cosine', '--warmup-ratio', '0.1', '--max-grad-norm', '0.5', '--seed', '7'];

describe('adapter-studio export --format pytorch on the demo encoder (sequence classification)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pytorch-classify-'));
  const out = join(dir, 'run');
  let settings: RunSettings;
  const cfg = parseEncoderConfig(readFileSync(join(MODEL, 'config.json'), 'utf8'));
  const runData = async (data: string, s: RunSettings) => loadClassificationData(await fromPath(data), undefined, await loadTokenizer(nodeFiles(MODEL)), cfg, s, Math.min(s.train.maxLength, cfg.maxPositionEmbeddings));

  beforeAll(async () => {
    const t = io();
    const code = await main(['export', '--format', 'pytorch', '--model', MODEL, '--data', SAMPLE, '--out', out, '--bundle-model', '--layers', '0,1', ...FLAGS], t.io);
    expect(t.text.err.includes('error:') ? t.text.err : '').toBe('');
    expect(code).toBe(0);
    const parsed = parseCommand(COMMANDS.export, ['--format', 'pytorch', ...FLAGS]);
    const base = applySettings('export', parsed.settings, { ...DEFAULT_SETTINGS, model: { kind: 'local', name: MODEL } });
    settings = { ...base, lora: { ...base.lora, layers: [0, 1] } };
  });

  it('writes the project with the encoder, its tokenizer (vocab.txt too) and the task in run.json and the README', () => {
    for (const f of ['train.py', 'run.json', 'README.md', 'requirements.txt', 'accelerate/multi_gpu.yaml', 'data/train.jsonl', 'data/validation.jsonl',
      'tokenizer/tokenizer.json', 'tokenizer/tokenizer_config.json', 'tokenizer/vocab.txt', 'model/config.json', 'model/model.safetensors', 'model/vocab.txt']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.settings).toEqual(settings);
    expect(run.dataset.schema).toBe('classification');
    expect(run.dataset.task).toEqual({ problem_type: 'single_label_classification', labels: ['negative', 'neutral', 'positive'] });
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    expect(readme).toContain('AutoModelForSequenceClassification');
    expect(readme).toContain('eval_accuracy, eval_f1 (macro over every label)');
    expect(readme).toMatch(/\| `train\.encoderDropout` \| `False` \| the model's config: when False/);
  });

  it('train.py compiles, and its blocks hold the run: every setting through the classification table, the task, the labels, PEFT\'s target modules', () => {
    const script = join(out, 'train.py');
    const compiled = python(['-m', 'py_compile', script]);
    expect(compiled.stderr).toBe('');
    expect(compiled.status).toBe(0);
    const block = readTrainPyBlock(script, SETTINGS_BEGIN, SETTINGS_END);
    for (const d of SETTING_DEFS) expect(block[PYTORCH_SETTING_MAP[d.key].name], d.key).toEqual(getSetting(settings, d.key));
    expect(block[PYTORCH_EXTRA_MAP['lora.layers'].name]).toEqual([0, 1]);
    expect(block.ENCODER_DROPOUT).toBe(false);
    expect(Object.keys(block).sort()).toEqual([...settingLines(settings, 'classification').map((l) => l.name), 'LORA_BIAS', 'ADAM_BETAS', 'ADAM_EPSILON'].sort());
    // The comments say where each setting goes in a classification run, not a decoder's.
    const text = readFileSync(script, 'utf8');
    expect(text).toMatch(/^LORA_TARGETS = \["q_proj", "v_proj"\] +# lora\.targets → LoraConfig\(target_modules=PEFT_TARGET_MODULES\)$/m);
    expect(text).not.toMatch(/recorded only: a causal-LM run has no encoder/);
    const exported = readTrainPyBlock(script, EXPORT_BEGIN, EXPORT_END);
    expect(exported).toMatchObject({
      OBJECTIVE: 'classification', PROBLEM_TYPE: 'single_label_classification', LABELS: ['negative', 'neutral', 'positive'],
      PEFT_TARGET_MODULES: ['query', 'value'], USE_TOKEN_TYPE_IDS: true, PAD_TOKEN_ID: 0, BASE_MODEL: 'model',
    });
    // The same target_modules the studio's own adapter_config.json writes for this encoder.
    expect(exported.PEFT_TARGET_MODULES).toEqual(peftTargetModules(cfg, settings.lora.targets));
  });

  it('train.py --check-only accepts the rows, counts the run\'s classes, keeps the effective batch on 1, 2 and 4 processes and refuses 3', async () => {
    const data = await runData(SAMPLE, settings);
    const cls = data.classification!;
    for (const world of [1, 2, 4]) {
      const r = python([join(out, 'train.py'), '--check-only'], { env: { WORLD_SIZE: String(world) } });
      expect(r.stderr).toBe('');
      const plan = JSON.parse(r.stdout);
      expect(plan.per_device_batch * plan.gradient_accumulation_steps * world).toBe(8);
      expect(plan.per_device_batch).toBeLessThanOrEqual(4);
      expect(plan).toMatchObject({ problem_type: 'single_label_classification', labels: 3, packing: false, train_rows: cls.train.length, validation_rows: cls.validation!.length });
      expect(plan.train_tokens).toBe(cls.train.tokens);
      expect(plan.train_label_counts).toEqual(classCounts(cls.train.labels!).counts);
      expect(plan.validation_label_counts).toEqual(classCounts(cls.validation!.labels!).counts);
    }
    const bad = python([join(out, 'train.py'), '--check-only'], { env: { WORLD_SIZE: '3' } });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/BATCH_SIZE 8 does not split over 3 processes/);
  });

  it('train.py --check-only refuses a row whose class id and label disagree', () => {
    const copy = join(dir, 'tampered');
    const r = python(['-c', `import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])`, out, copy]);
    expect(r.status).toBe(0);
    const lines = readFileSync(join(copy, 'data/train.jsonl'), 'utf8').split('\n');
    const first = JSON.parse(lines[0]);
    first.labels = (first.labels + 1) % 3;
    lines[0] = JSON.stringify(first);
    writeFileSync(join(copy, 'data/train.jsonl'), lines.join('\n'));
    const bad = python([join(copy, 'train.py'), '--check-only']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/train row 1 \(row 1 of the studio's file\): class id \d is '\w+' in LABELS, but the row's label is '\w+'/);
  });

  it('the exported rows, encoded again with the exported tokenizer, are the run\'s tokens, token types and labels', async () => {
    const data = await runData(SAMPLE, settings);
    const cls = data.classification!;
    const exportedTok = prepareTokenizer(await loadTokenizer(nodeFiles(join(out, 'tokenizer'))));
    const labels = readTrainPyBlock(join(out, 'train.py'), EXPORT_BEGIN, EXPORT_END).LABELS as string[];
    for (const [file, store] of [['data/train.jsonl', cls.train], ['data/validation.jsonl', cls.validation!]] as const) {
      const rows = readJsonl(join(out, file));
      expect(rows.length).toBe(store.length);
      rows.forEach((r, i) => {
        const want = store.get(i);
        expect(r.row).toBe(store.rowOf(i));
        expect(r.input_ids).toEqual(Array.from(want.ids));
        expect(r.token_type_ids).toEqual(Array.from(want.tokenTypeIds));
        expect(r.labels).toBe(storeLabel(store, i));
        expect(r.label).toBe(labels[r.labels as number]);
        const again = encodeClassification(exportedTok, r.text, r.text_pair ?? undefined, settings.train.maxLength);
        expect(Array.from(again.ids), `${file} row ${r.row}`).toEqual(r.input_ids);
        expect(Array.from(again.tokenTypeIds)).toEqual(r.token_type_ids);
        expect(r.rendered).toMatch(/^\[CLS\] .* \[SEP\]$/);
      });
    }
  });

  for (const task of ['regression', 'multi-label'] as const) {
    it(`a ${task} run exports too: float targets written as floats, text pairs with their token types, check-only accepts them`, async () => {
      const rows = Array.from({ length: 30 }, (_, i) => {
        const text = ['great movie', 'awful film', 'okay book', 'lovely hotel', 'boring trip'][i % 5];
        if (task === 'regression') return { text, label: i % 4 === 0 ? i % 3 : (i % 7) * 0.3 - 0.5 };
        return { text, text_pair: ['fine coffee', 'bad phone'][i % 2], label: [['food'], ['place', 'thing'], ['thing'], ['food', 'place']][i % 4] };
      });
      const data = join(dir, `${task}.jsonl`);
      writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const dest = join(dir, task);
      const t = io();
      expect(await main(['export', '--format', 'pytorch', '--model', MODEL, '--data', data, '--out', dest, '--val-fraction', '0.2', '--batch-size', '4'], t.io)).toBe(0);
      const exported = readTrainPyBlock(join(dest, 'train.py'), EXPORT_BEGIN, EXPORT_END);
      const s: RunSettings = { ...DEFAULT_SETTINGS, data: { ...DEFAULT_SETTINGS.data, validationFraction: 0.2 } };
      const cls = (await runData(data, s)).classification!;
      const task2 = encoderTaskFor(cls.labels, cfg);
      expect(exported.PROBLEM_TYPE).toBe(task2.problemType);
      expect(exported.PROBLEM_TYPE).toBe(task === 'regression' ? 'regression' : 'multi_label_classification');
      expect(exported.LABELS).toEqual(task2.labels);
      const text = readFileSync(join(dest, 'data/train.jsonl'), 'utf8');
      const lines = readJsonl(join(dest, 'data/train.jsonl'));
      expect(lines.length).toBe(cls.train.length);
      lines.forEach((r, i) => {
        expect(r.labels).toEqual(storeLabel(cls.train, i));
        expect(r.token_type_ids).toEqual(Array.from(cls.train.get(i).tokenTypeIds));
      });
      if (task === 'regression') {
        // Whole targets as 1.0, not 1: one Arrow type for the column.
        expect(text).toMatch(/"labels":\d+\.0\}/);
        expect(text).not.toMatch(/"labels":-?\d+\}/);
      } else {
        expect(text).toMatch(/"labels":\[(0|1)\.0, (0|1)\.0, (0|1)\.0\]\}/);
        expect(lines.some((r) => r.token_type_ids.includes(1))).toBe(true);
        lines.forEach((r) => expect(r.label).toEqual((exported.LABELS as string[]).filter((_, k) => (r.labels as number[])[k] === 1)));
      }
      const r = python([join(dest, 'train.py'), '--check-only']);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ problem_type: exported.PROBLEM_TYPE, train_rows: cls.train.length, validation_rows: cls.validation!.length });
    });
  }

  it("train.py's compute_metrics gives the studio's metrics (classify/metrics.ts) on the same logits: all three tasks, ties, a class never predicted, a constant prediction", () => {
    // Logits from a grid of exactly representable values, so that ties and the 0 threshold are exercised exactly.
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const grid = [-2, -1, -0.5, 0, 0.5, 1, 2];
    const pick = () => grid[Math.floor(next() * grid.length)];
    const cases: { task: ClassificationTask; labels: string[]; B: number; logits: number[]; targets: number[] }[] = [];
    const single = { task: 'single_label_classification' as const, labels: ['a', 'b', 'c', 'd'], B: 60, logits: [] as number[], targets: [] as number[] };
    for (let b = 0; b < single.B; b++) {
      single.logits.push(pick(), pick(), pick(), -9); // class d is never predicted
      single.targets.push(Math.floor(next() * 3)); // and never the label: its F1 counts as 0 in the macro mean
    }
    cases.push(single);
    const multi = { task: 'multi_label_classification' as const, labels: ['x', 'y', 'z'], B: 40, logits: [] as number[], targets: [] as number[] };
    for (let b = 0; b < multi.B * 3; b++) {
      multi.logits.push(pick());
      multi.targets.push(next() < 0.4 ? 1 : 0);
    }
    cases.push(multi);
    const regression = { task: 'regression' as const, labels: ['score'], B: 30, logits: [] as number[], targets: [] as number[] };
    for (let b = 0; b < regression.B; b++) {
      regression.logits.push(pick());
      regression.targets.push(pick() * 0.75);
    }
    cases.push(regression, { ...regression, logits: regression.logits.map(() => 0.5) });

    const input = cases.map((c) => {
      const L = c.labels.length;
      const rows = Array.from({ length: c.B }, (_, b) => c.logits.slice(b * L, (b + 1) * L));
      const targets = c.task === 'multi_label_classification' ? Array.from({ length: c.B }, (_, b) => c.targets.slice(b * L, (b + 1) * L)) : c.targets;
      return { problem_type: c.task, labels: c.labels, logits: rows, targets };
    });
    const r = python(['-c', String.raw`
import importlib.util, json, math, sys
spec = importlib.util.spec_from_file_location("train", sys.argv[1])
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
out = []
for case in json.load(sys.stdin):
    train.PROBLEM_TYPE, train.LABELS = case["problem_type"], case["labels"]
    metrics, details = train.classification_metrics(case["logits"], case["targets"])
    out.append({"metrics": {k: (None if math.isnan(v) else v) for k, v in metrics.items()}, "details": details})
print(json.dumps(out))
`, join(out, 'train.py')], { input: JSON.stringify(input) });
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as { metrics: Record<string, number | null>; details: { per_class?: { label: string; precision: number; recall: number; f1: number; support: number }[]; confusion?: { labels: string[]; counts: number[][] } } }[];
    cases.forEach((c, k) => {
      const studio = metricsFromStats(c.task, classificationStatsRef(c.task, c.logits, c.targets, { B: c.B, L: c.labels.length }), c.labels);
      const python = Object.fromEntries(Object.entries(got[k].metrics).map(([name, v]) => [`eval_${name}`, v]));
      expect(Object.keys(python).sort(), c.task).toEqual(Object.keys(studio.metrics).sort());
      for (const [name, v] of Object.entries(studio.metrics)) {
        if (Number.isNaN(v)) expect(python[name], `${c.task} ${name}`).toBeNull();
        else expect(python[name] as number, `${c.task} ${name}`).toBeCloseTo(v, 12);
      }
      if (studio.perClass) {
        expect(got[k].details.per_class!.map((p) => p.label)).toEqual(studio.perClass.map((p) => p.label));
        got[k].details.per_class!.forEach((p, i) => {
          for (const f of ['precision', 'recall', 'f1', 'support'] as const) expect(p[f], `${c.task} ${p.label} ${f}`).toBeCloseTo(studio.perClass![i][f], 12);
        });
      }
      if (studio.confusion) expect(got[k].details.confusion).toEqual(studio.confusion);
    });
    // The cases are not degenerate: the metrics vary, the last regression's correlation is undefined.
    expect(got[0].metrics.accuracy).toBeGreaterThan(0.2);
    expect(got[0].metrics.accuracy).toBeLessThan(0.8);
    expect(got[3].metrics.pearson).toBeNull();
    expect(got[2].metrics.pearson).not.toBeNull();
  });
});

describe("the studio's Run on GPUs for an encoder run", () => {
  it("zips the project with the worker's own classification rows, the bundled demo encoder, and the adapter to continue with its labels", async () => {
    const files = nodeFiles(MODEL);
    const tokenizer = await loadTokenizer(files);
    const spec = parseEncoderConfig(readFileSync(join(MODEL, 'config.json'), 'utf8'));
    const bytes = readFileSync(SAMPLE);
    const file = new Blob([bytes]);
    const settings: RunSettings = { ...DEFAULT_SETTINGS, model: { kind: 'demo', variant: 'bert' }, train: { ...DEFAULT_SETTINGS.train, batchSize: 8, maxLength: 64 }, data: { ...DEFAULT_SETTINGS.data, validationFraction: 0.1 } };
    const dataset = await readDataset({
      file, name: 'reviews-sentiment.jsonl', tokenizer, mapping: null, maxLength: 64, seed: settings.train.seed, onBadRows: 'stop', validationFraction: 0.1, validationFile: null,
      vocabSize: spec.vocabSize, signal: new AbortController().signal, objective: 'classification', task: 'auto',
    });
    const cls = dataset.classification!;
    expect(cls.validation).toBeTruthy();
    const model = { family: 'encoder', spec, files, config: JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')), text: async () => ({ tokenizer, padId: 0, eosIds: [] }) } as unknown as SessionModel;
    const labelsConfig = '{"id2label": {"0": "negative", "1": "neutral", "2": "positive"}}';
    const zip = await exportPytorchZip({
      model, dataset, datasetFile: { file, name: 'reviews-sentiment.jsonl', mapping: dataset.info.mapping }, settings, title: 'demo encoder run',
      initialAdapter: { name: 'my classifier', steps: 12, adapterModel: new Uint8Array([1, 2, 3]), adapterConfig: '{}', labelsConfig }, studioPlan: null, signal: new AbortController().signal,
    });
    const out = unzipSync(zip);
    for (const f of ['train.py', 'run.json', 'model/model.safetensors', 'model/vocab.txt', 'tokenizer/vocab.txt', 'init_adapter/config.json']) expect(out[`pytorch-run/${f}`], f).toBeDefined();
    expect(strFromU8(out['pytorch-run/init_adapter/config.json'])).toBe(labelsConfig);
    const run = JSON.parse(strFromU8(out['pytorch-run/run.json']));
    expect(run.base_model).toEqual({ name: 'adapter-studio/demo-bert', hub_id: null, revision: null, bundled: true });
    expect(run.dataset.task).toEqual({ problem_type: 'single_label_classification', labels: ['negative', 'neutral', 'positive'] });
    const script = strFromU8(out['pytorch-run/train.py']);
    expect(script).toMatch(/^OBJECTIVE = "classification" /m);
    expect(script).toMatch(/^PEFT_TARGET_MODULES = \["query", "value"\] /m);
    for (const [name, store] of [['train', cls.train], ['validation', cls.validation!]] as const) {
      const rows = strFromU8(out[`pytorch-run/data/${name}.jsonl`]).trim().split('\n').map((l) => JSON.parse(l) as ClassificationJsonlRow);
      expect(rows.length).toBe(store.length);
      rows.forEach((r, i) => {
        expect(r.input_ids).toEqual(Array.from(store.get(i).ids));
        expect(r.labels).toBe(storeLabel(store, i));
      });
    }
  });
});
