/**
 * Regenerates the studio's built-in demo models byte for byte:
 * public/models/demo/: a 2-layer Llama-architecture model (hidden 64, 4 heads / 2 kv heads,
 * head_dim 16, intermediate 128, tied embeddings, F32) with a 512-token byte-level BPE tokenizer;
 * public/models/demo-bert/: a 2-layer BERT (hidden 64, 4 heads, intermediate 128, no head) with a
 * WordPiece tokenizer, and its sample dataset public/samples/reviews-sentiment.jsonl.
 *
 *   npm run gen:demo            write the files
 *   npm run gen:demo -- --check exit 1 if the committed files differ from what the generator makes
 */
import { register } from 'node:module';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_MODEL_OPTIONS } from '../src/formats/demoModel';
import { generateModel } from '../src/formats/generate';
import { DEMO_ENCODER_OPTIONS, demoSentimentRows } from '../src/formats/demoEncoder';
import { generateEncoderModel } from '../src/formats/generateEncoder';
import { bertWords } from '../src/formats/gen/wordpiece';
import type { EncoderConfig } from '../src/formats/encoderConfig';

// bert.ref.ts reaches kernel files that import WGSL with `?raw`: teach Node that import first.
register('../bench/raw-hooks.mjs', import.meta.url);
const { encoderReference } = await import('../src/engine/model/bert.ref');

/**
 * The demo's pooler bias: −W·mean(h) over the sample's sentences, so its outputs are centred on the
 * language it reads (a stand-in for a pre-trained pooler). h, the last hidden state of [CLS], comes
 * from the float64 reference with a probe head (pooler εI, classifier I/ε: tanh(εh)/ε = h to ~ε²h²).
 */
function centrePooler(tensors: Map<string, Float32Array>, config: EncoderConfig, vocab: string[]): void {
  const C = config.hiddenSize;
  const eps = 1e-3;
  const probe = new Map<string, ArrayLike<number>>(tensors);
  probe.set('bert.pooler.dense.weight', Float32Array.from({ length: C * C }, (_, i) => (i % (C + 1) === 0 ? eps : 0)));
  probe.set('bert.pooler.dense.bias', new Float32Array(C));
  probe.set('classifier.weight', Float64Array.from({ length: C * C }, (_, i) => (i % (C + 1) === 0 ? 1 / eps : 0)));
  probe.set('classifier.bias', new Float32Array(C));
  const spec = { ...config, numLabels: C, problemType: 'regression' as const };
  const rows = demoSentimentRows().slice(0, 240);
  const W = tensors.get('bert.pooler.dense.weight')!;
  const mean = new Float64Array(C);
  for (const r of rows) {
    const ids = [vocab.indexOf('[CLS]'), ...bertWords(r.text).map((w) => vocab.indexOf(w)), vocab.indexOf('[SEP]')];
    if (ids.includes(-1)) throw new Error(`"${r.text}" has a word outside the vocabulary`);
    const h = encoderReference(spec, probe, { B: 1, T: ids.length, inputIds: ids, labels: new Float32Array(C) }).logits;
    for (let o = 0; o < C; o++) {
      let s = 0;
      for (let k = 0; k < C; k++) s += W[o * C + k] * h[k];
      mean[o] += s / rows.length;
    }
  }
  tensors.set('bert.pooler.dense.bias', Float32Array.from(mean, (x) => -x));
}

const publicDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'public');
const bytes = (v: Uint8Array | string) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
const check = process.argv.includes('--check');
let ok = true;
for (const [dir, files] of [
  ['models/demo', generateModel(DEMO_MODEL_OPTIONS)],
  ['models/demo-bert', generateEncoderModel({ ...DEMO_ENCODER_OPTIONS, adjust: centrePooler }).files],
] as const) {
  const outDir = join(publicDir, dir);
  if (check) ok = checkFolder(outDir, files) && ok;
  else writeFolder(outDir, files);
}
const sample = join(publicDir, 'samples', 'reviews-sentiment.jsonl');
const sampleText = demoSentimentRows().map((r) => JSON.stringify(r)).join('\n') + '\n';
if (check) {
  if (!existsSync(sample) || readFileSync(sample, 'utf8') !== sampleText) {
    console.error(`${sample} differs from the generator's output`);
    ok = false;
  }
  console.log(ok ? 'demo models are up to date' : 'demo models are stale: run npm run gen:demo');
  process.exit(ok ? 0 : 1);
}
mkdirSync(dirname(sample), { recursive: true });
writeFileSync(sample, sampleText);
console.log(`wrote ${sample}`);

function checkFolder(outDir: string, files: Map<string, Uint8Array | string>): boolean {
  const present = existsSync(outDir) ? readdirSync(outDir).sort() : [];
  const wanted = [...files.keys()].sort();
  let ok = JSON.stringify(present) === JSON.stringify(wanted);
  if (!ok) console.error(`files differ: have ${present.join(', ')}; want ${wanted.join(', ')}`);
  for (const [name, content] of files) {
    const path = join(outDir, name);
    if (!existsSync(path) || !readFileSync(path).equals(bytes(content))) {
      console.error(`${name} differs from the generator's output`);
      ok = false;
    }
  }
  return ok;
}

function writeFolder(outDir: string, files: Map<string, Uint8Array | string>): void {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  let total = 0;
  for (const [name, content] of files) {
    const b = bytes(content);
    writeFileSync(join(outDir, name), b);
    total += b.byteLength;
    console.log(`${name.padEnd(28)} ${b.byteLength} bytes`);
  }
  console.log(`wrote ${files.size} files (${total} bytes) to ${outDir}`);
}
