import type { GenerateOptions } from './generate';
import { demoTokenizerCorpus } from './gen/demoWorld';

/**
 * The studio's built-in demo model (public/models/demo/, served at ./models/demo/): a 2-layer
 * Llama-architecture model that the project pre-trains itself (scripts/gen-demo-model.ts) on the
 * chat corpus of gen/demoWorld.ts, so that it answers simple questions in plain sentences — and a
 * short fine-tune on the sample dataset visibly changes how it answers.
 *
 * These options make its starting point and its tokenizer (a 768-token byte-level BPE learned from
 * the built-in English text and the demo's corpus, so every word of the corpus is one token).
 * The embedding has a larger standard deviation than HF's 0.02 because pre-training only trains the
 * projections (the engine trains LoRA adapters, merged round after round): with tied embeddings the
 * embedding rows also bound the logits, and 0.02 × √64 would cap every logit near 1.3.
 *
 * Changing them changes the committed files: run `npm run gen:demo`.
 */
export const DEMO_MODEL_OPTIONS: GenerateOptions = {
  architecture: 'llama',
  seed: 20251125,
  hiddenSize: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  intermediateSize: 256,
  tieWordEmbeddings: true,
  dtype: 'F16',
  ropeTheta: 100000,
  rmsNormEps: 1e-5,
  maxPositionEmbeddings: 2048,
  embeddingStd: 0.25,
  tokenizerVocabSize: 768,
  get tokenizerCorpus() {
    return demoTokenizerCorpus(DEMO_PRETRAINING.extraConversations, DEMO_PRETRAINING.seed);
  },
};

/**
 * How the demo model is pre-trained (ReLoRA: `rounds` LoRA runs through the engine's run driver,
 * each merged into the weights before the next): read by scripts/gen-demo-model.ts.
 */
export const DEMO_PRETRAINING = {
  rounds: 20,
  stepsPerRound: 100,
  /**
   * Peak learning rate of the first round, decaying (cosine over rounds) to finalLr in the last.
   * 1e-2 and above kept the model at "a plausible answer about some animal" (it never learned to
   * look back at the question); 5e-3 learned it within 500 steps.
   */
  lr: 5e-3,
  finalLr: 1e-3,
  /** Full rank for every projection of a 64-wide model: each round can move W anywhere. */
  rank: 64,
  /** Packed rows of maxLength tokens per optimizer step (8 rows: more updates per minute than 16, as good per update). */
  batchSize: 8,
  maxLength: 128,
  /** Two-turn conversations (and single ones after a system prompt) beyond one conversation per fact. */
  extraConversations: 1500,
  trainOn: 'response' as const,
  seed: 7,
};

/** Path of the demo model relative to the studio's base URL. */
export const DEMO_MODEL_PATH = 'models/demo/';
