// A tiny Qwen2 (hidden 32, 2 layers, heads of 8, vocabulary 64) and three optimizer steps on eight
// rows of 9 tokens: the run the tests of the run's start-up (compiling ahead, warming, compiling
// while loading) compare with and without what they test.
import { arrayDataset, type Example } from '../../src/data/batches';
import { generateModel } from '../../src/formats/generate';
import { DEFAULT_SETTINGS, type RunSettings } from '../../src/settings/settings';

export const tinyQwen2 = (): Map<string, Uint8Array | string> =>
  generateModel({ architecture: 'qwen2', seed: 21, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, tokenizer: false, vocabSize: 64 });

const examples: Example[] = Array.from({ length: 8 }, (_, i) => {
  const ids = Int32Array.from({ length: 9 }, (_, t) => 1 + ((i * 7 + t * 5) % 60));
  return { ids, lossMask: new Uint8Array(9).fill(1) };
});

export const tinyRunData = { train: arrayDataset(examples), validation: null, longestRow: 9 };

export const tinyRunSettings: RunSettings = {
  ...DEFAULT_SETTINGS,
  lora: { ...DEFAULT_SETTINGS.lora, r: 4, alpha: 8, dropout: 0.1 },
  train: { ...DEFAULT_SETTINGS.train, learningRate: 1e-2, maxSteps: 3, batchSize: 4, microBatch: 2, maxLength: 9, seed: 5 },
  eval: { evalInterval: 0, logInterval: 1, checkpointInterval: 0 },
};
