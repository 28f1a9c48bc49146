/**
 * Rebuilds the studio's built-in demo models and their sample datasets:
 * - public/models/demo/ and public/samples/pirate-talk.jsonl: a 2-layer Llama-architecture model
 *   pre-trained here, with the project's own engine, on the generated chat corpus of
 *   src/formats/gen/demoWorld.ts (scripts/demo/pretrain.ts), and the chat rows that teach it a style;
 * - public/models/demo-bert/ and public/samples/reviews-sentiment.jsonl: a 2-layer BERT (hidden 64,
 *   4 heads, intermediate 128, no head) with a WordPiece tokenizer, and its labelled reviews — made by
 *   the generator alone, byte for byte.
 *
 *   npm run gen:demo               pre-train the decoder and write everything (half an hour on lavapipe:
 *                                  run it on the fastest Vulkan driver there is, ADAPTER_STUDIO_ICD=lavapipe)
 *   npm run gen:demo -- --check    exit 1 unless the committed files are what this script makes, as far
 *                                  as that is cheap to know: both samples, the encoder's folder and the
 *                                  decoder's config and tokenizer files byte for byte, and the decoder's
 *                                  weights by tensor names, shapes and dtype (how they answer is checked
 *                                  by test/gpu/engine/demo.test.ts; the recorded digest by the unit test)
 *   npm run gen:demo -- --sample   write only the two sample datasets
 *   npm run gen:demo -- --encoder  write only the demo encoder and its sample (no pre-training)
 */
import { register } from 'node:module';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// bert.ref.ts and the engine reach kernel files that import WGSL with `?raw`: teach Node that import first.
register('../bench/raw-hooks.mjs', import.meta.url);

const { DEMO_MODEL_OPTIONS, DEMO_PRETRAINING } = await import('../src/formats/demoModel');
const { generateModel } = await import('../src/formats/generate');
const { chatJsonl, pirateSample } = await import('../src/formats/gen/demoWorld');
const { DEMO_ENCODER_OPTIONS, demoSentimentRows } = await import('../src/formats/demoEncoder');
const { generateEncoderModel } = await import('../src/formats/generateEncoder');
const { bertWords } = await import('../src/formats/gen/wordpiece');
const { encoderReference } = await import('../src/engine/model/bert.ref');
type EncoderConfig = import('../src/formats/encoderConfig').EncoderConfig;

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
const decoderDir = join(publicDir, 'models', 'demo');
const encoderDir = join(publicDir, 'models', 'demo-bert');
const bytes = (v: Uint8Array | string) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

const samples = new Map<string, string>([
  [join(publicDir, 'samples', 'pirate-talk.jsonl'), chatJsonl(pirateSample())],
  [join(publicDir, 'samples', 'reviews-sentiment.jsonl'), demoSentimentRows().map((r) => JSON.stringify(r)).join('\n') + '\n'],
]);
const encoderFiles = generateEncoderModel({ ...DEMO_ENCODER_OPTIONS, adjust: centrePooler }).files;
// Everything of the decoder but its weights comes straight from the generator.
const decoderStart = generateModel(DEMO_MODEL_OPTIONS);

if (process.argv.includes('--check')) {
  const { openModelFolder } = await import('../src/formats/modelFolder');
  const { nodeFiles } = await import('../src/formats/nodeSource');
  const { openSafetensors } = await import('../src/formats/safetensors');
  const problems: string[] = [];
  for (const [path, text] of samples) if (!existsSync(path) || readFileSync(path, 'utf8') !== text) problems.push(`${path} differs from the generator's output`);
  problems.push(...checkFolder(encoderDir, encoderFiles, new Set()));
  problems.push(...checkFolder(decoderDir, decoderStart, new Set(['model.safetensors'])));
  if (existsSync(join(decoderDir, 'model.safetensors'))) {
    const committed = await openSafetensors(new Uint8Array(readFileSync(join(decoderDir, 'model.safetensors'))), 'model.safetensors');
    const fresh = await openSafetensors(bytes(decoderStart.get('model.safetensors')!), 'generated');
    const shape = (h: typeof committed.header) => JSON.stringify(h.tensors.map((t) => [t.name, t.dtype, t.shape]).sort());
    if (shape(committed.header) !== shape(fresh.header)) problems.push('models/demo/model.safetensors: tensor names, dtypes or shapes differ from the generator\'s');
    await openModelFolder(nodeFiles(decoderDir)).catch((e: Error) => problems.push(`models/demo does not load: ${e.message}`));
  }
  for (const p of problems) console.error(p);
  console.log(problems.length ? 'demo files are stale: run npm run gen:demo' : 'demo files are up to date');
  process.exit(problems.length ? 1 : 0);
}

for (const [path, text] of samples) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`wrote ${path}`);
}
if (process.argv.includes('--sample')) process.exit(0);
writeFolder(encoderDir, encoderFiles);
if (process.argv.includes('--encoder')) process.exit(0);

const { createNodeGpu } = await import('../src/engine/gpu/node');
const { loadTokenizer } = await import('../src/data/tokenize');
const { pretrainDemo } = await import('./demo/pretrain');
const { nodeFiles } = await import('../src/formats/nodeSource');

const tokDir = mkdtempSync(join(tmpdir(), 'demo-tokenizer-'));
for (const [name, content] of decoderStart) if (name !== 'model.safetensors') writeFileSync(join(tokDir, name), bytes(content));
const tok = await loadTokenizer(nodeFiles(tokDir));
const gpu = await createNodeGpu();
console.log(`pre-training on ${gpu.adapter.name}: ${DEMO_PRETRAINING.rounds} rounds of ${DEMO_PRETRAINING.stepsPerRound} steps`);
const t0 = performance.now();
const result = await pretrainDemo(gpu, tok, { ...DEMO_PRETRAINING, model: DEMO_MODEL_OPTIONS, dtype: DEMO_MODEL_OPTIONS.dtype ?? 'F32', log: (line) => console.log(line), probe: 48 });
console.log(`pre-training took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
writeFolder(decoderDir, result.files);
console.log(`model.safetensors sha256 ${createHash('sha256').update(bytes(result.files.get('model.safetensors')!)).digest('hex')}`);
process.exit(0);

/** What differs between a folder and the files that should be in it (`skip`: compared elsewhere). */
function checkFolder(dir: string, files: Map<string, Uint8Array | string>, skip: Set<string>): string[] {
  const problems: string[] = [];
  const present = existsSync(dir) ? readdirSync(dir).sort() : [];
  const wanted = [...files.keys()].sort();
  if (JSON.stringify(present) !== JSON.stringify(wanted)) problems.push(`${dir} has ${present.join(', ')}; want ${wanted.join(', ')}`);
  for (const [name, content] of files) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    if (!existsSync(path) || !readFileSync(path).equals(bytes(content))) problems.push(`${path} differs from the generator's output`);
  }
  return problems;
}

function writeFolder(dir: string, files: Map<string, Uint8Array | string>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let total = 0;
  for (const [name, content] of files) {
    const b = bytes(content);
    writeFileSync(join(dir, name), b);
    total += b.byteLength;
    console.log(`${name.padEnd(28)} ${b.byteLength} bytes`);
  }
  console.log(`wrote ${files.size} files (${total} bytes) to ${dir}`);
}
