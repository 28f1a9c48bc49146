/** The demo model's tokenizer (a real byte-level BPE with a ChatML template), loaded offline once per test file. */
import { fileURLToPath } from 'node:url';
import { nodeFiles } from '../../../src/formats/nodeSource';
import { loadTokenizer } from '../../../src/data/tokenize';

export const DEMO_MODEL_DIR = fileURLToPath(new URL('../../../public/models/demo', import.meta.url));

let cached: ReturnType<typeof loadTokenizer> | undefined;
export function demoTokenizer(): ReturnType<typeof loadTokenizer> {
  cached ??= loadTokenizer(nodeFiles(DEMO_MODEL_DIR));
  return cached;
}
