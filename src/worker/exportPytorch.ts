// "Run on GPUs" in the studio: the current run (model, dataset as this worker rendered it, settings,
// optionally a library adapter to continue) as the PyTorch project of formats/export/pytorch.ts, zipped.
// A decoder's run exports its causal-LM rows; an encoder's, its classification rows and head's task.
import { zipSync } from 'fflate';
import { fromBlob } from '../data/source';
import { classifiedRows, renderedRows } from '../data/renderedRows';
import type { ColumnMapping } from '../data/schema';
import { exportPytorch, type PytorchExportRequest } from '../formats/export/pytorch';
import { concatParts } from '../formats/export/gguf/format';
import { peftTargetModules } from '../formats/peft';
import { encoderTaskFor } from '../engine/model/encoderSpec';
import { baseModelName, type RunSettings } from '../settings/settings';
import type { SessionModel } from './model';
import type { PreparedDataset } from './dataset';

export interface PytorchExportArgs {
  model: SessionModel;
  dataset: PreparedDataset;
  datasetFile: { file: Blob; name: string; mapping: ColumnMapping | null; options?: { validationFile?: { file: Blob; name: string } | null } };
  settings: RunSettings;
  title: string;
  initialAdapter?: { name: string; steps: number; adapterModel: Uint8Array; adapterConfig: string; labelsConfig?: string } | null;
  studioPlan?: { microBatch: number; gradAccum: number; seqLen: number } | null;
  signal: AbortSignal;
}

/** The tokenizer's files (an encoder's vocab.txt, or vocab.json + merges.txt, too). */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'vocab.txt', 'vocab.json', 'merges.txt'];
const DEMO_FILES = ['config.json', 'generation_config.json', 'model.safetensors', ...TOKENIZER_FILES];

export async function exportPytorchZip(a: PytorchExportArgs): Promise<Uint8Array> {
  const { model, dataset, settings } = a;
  const mapping = dataset.info.mapping;
  const cls = dataset.classification;
  if (!mapping || (model.family === 'encoder' ? !cls : !dataset.train)) throw new Error('the dataset has no training rows (fix its errors first)');
  const tokenizerFiles = new Map<string, string>();
  for (const f of TOKENIZER_FILES) {
    const text = await model.files.text(f);
    if (text !== null) tokenizerFiles.set(f, text);
  }
  // The demo model is small and not on the hub: it travels with the export. A hub model is downloaded by train.py;
  // a dropped folder is named (train.py --model points at it).
  let bundled: Map<string, Uint8Array> | null = null;
  if (settings.model.kind === 'demo') {
    bundled = new Map();
    for (const f of DEMO_FILES) {
      const src = await model.files.source(f);
      if (src) bundled.set(f, await src.read(0, src.size));
    }
  }
  // The worker renders its rows with the run's max length and trainOn (worker/dataset.ts), without a pair format.
  const render = { maxLength: settings.train.maxLength, trainOn: settings.data.trainOn };
  const validationFile = a.datasetFile.options?.validationFile ?? null;
  const side = await model.text();
  const tok = side.tokenizer as typeof side.tokenizer & { decode?: (ids: number[], o: { skip_special_tokens: boolean }) => string };
  const input = {
    source: fromBlob(a.datasetFile.file, a.datasetFile.name),
    validationSource: validationFile ? fromBlob(validationFile.file, validationFile.name) : undefined,
    tokenizer: side.tokenizer,
    mapping,
    signal: a.signal,
  };
  let rows: PytorchExportRequest['rows'];
  let classification: PytorchExportRequest['classification'] = null;
  if (model.family === 'encoder') {
    const task = encoderTaskFor(cls!.labels, model.spec);
    classification = { problemType: task.problemType, labels: task.labels, targetModules: peftTargetModules(model.spec, settings.lora.targets), tokenTypeIds: model.spec.family !== 'distilbert' };
    rows = classifiedRows({ ...input, maxLength: settings.train.maxLength, train: cls!.train, validation: cls!.validation });
  } else {
    rows = renderedRows({ ...input, render, train: dataset.train!, validation: dataset.validation });
  }
  const files = await exportPytorch({
    settings,
    title: a.title,
    base: {
      name: baseModelName(settings.model),
      hubId: settings.model.kind === 'hub' ? settings.model.id : null,
      revision: null,
      files: bundled,
    },
    tokenizerFiles,
    padTokenId: side.padId,
    rows,
    classification,
    decode: tok.decode ? (ids) => tok.decode!(ids, { skip_special_tokens: false }) : undefined,
    dataset: { name: a.datasetFile.name, schema: mapping.kind },
    render: { maxLength: settings.train.maxLength, trainOn: settings.data.trainOn, pairFormat: 'template' },
    initAdapter: a.initialAdapter ?? null,
    studioPlan: a.studioPlan ?? null,
  });
  const entries: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
  for (const [name, parts] of files) entries[`pytorch-run/${name}`] = [concatParts(parts), { level: name.endsWith('.safetensors') ? 0 : 6 }];
  return zipSync(entries);
}
