// The demo's run as the studio makes it, in Node: the shipped demo model, the settings the studio
// proposes for it (the demo preset) and the sample dataset, through the one run driver. Used by the
// demo's GPU test and by browser tests that need an adapter which really learned something.
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset';
import { fromPath } from '../../src/data/nodeSource';
import { loadTokenizer, type LoadedTokenizer } from '../../src/data/tokenize';
import { nodeFiles } from '../../src/formats/nodeSource';
import { padTokenId, type ModelSpec } from '../../src/formats/hfConfig';
import type { Gpu } from '../../src/engine/gpu/device';
import { loadModel } from '../../src/engine/model/load';
import type { LlamaGpu } from '../../src/engine/model/llama';
import { runTraining, type RunOutcome } from '../../src/engine/train/run';
import { DEFAULT_SETTINGS, settingsForModel, type RunSettings } from '../../src/settings/settings';

export const DEMO_DIR = join(__dirname, '../../public/models/demo');
export const DEMO_SAMPLE = join(__dirname, '../../public/samples/pirate-talk.jsonl');

export interface DemoRun {
  model: LlamaGpu;
  spec: ModelSpec;
  tok: LoadedTokenizer;
  settings: RunSettings;
  outcome: RunOutcome;
  /** Training loss of every optimizer step. */
  losses: number[];
  seconds: number;
}

/** Loads the demo model and its tokenizer. */
export async function loadDemo(gpu: Gpu): Promise<{ model: LlamaGpu; spec: ModelSpec; tok: LoadedTokenizer }> {
  const tok = await loadTokenizer(nodeFiles(DEMO_DIR));
  const loaded = await loadModel(gpu, nodeFiles(DEMO_DIR));
  if (loaded.family !== 'llama') throw new Error(`the demo model loaded as ${loaded.family}, not a decoder`);
  return { model: loaded.model, spec: loaded.folder.spec, tok };
}

/** Trains the demo preset on the sample dataset (the model stays loaded: the caller destroys it). */
export async function trainDemo(gpu: Gpu, demo?: { model: LlamaGpu; spec: ModelSpec; tok: LoadedTokenizer }): Promise<DemoRun> {
  const { model, spec, tok } = demo ?? (await loadDemo(gpu));
  const settings = settingsForModel(DEFAULT_SETTINGS, { kind: 'demo' });
  const data = await loadDataset(await fromPath(DEMO_SAMPLE), tok, {
    maxLength: settings.train.maxLength,
    seed: settings.train.seed,
    vocabSize: spec.vocabSize,
    trainOn: settings.data.trainOn,
    validation: settings.data.validationFraction > 0 ? { fraction: settings.data.validationFraction } : undefined,
  });
  const losses: number[] = [];
  const t0 = performance.now();
  const outcome = await runTraining({
    model,
    data: { train: data.train, validation: data.validation ?? null, longestRow: data.stats.maxLength },
    settings,
    identity: { model: 'demo', data: 'pirate-talk.jsonl' },
    limits: { budgetBytes: 2 ** 30, maxBufferSize: gpu.limits.maxBufferSize },
    padId: padTokenId(spec, tok.pad_token_id),
    onEvent: (e) => void (e.type === 'step' && losses.push(e.report.loss)),
  });
  return { model, spec, tok, settings, outcome, losses, seconds: (performance.now() - t0) / 1000 };
}
