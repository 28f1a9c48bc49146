import type { GenerateOptions } from './generate';

/**
 * The options that make the committed demo model (public/models/demo/, served at ./models/demo/).
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
  intermediateSize: 128,
  tieWordEmbeddings: true,
  dtype: 'F32',
  ropeTheta: 100000,
  rmsNormEps: 1e-5,
  maxPositionEmbeddings: 2048,
  tokenizerVocabSize: 512,
};

/** Path of the demo model relative to the studio's base URL. */
export const DEMO_MODEL_PATH = 'models/demo/';
