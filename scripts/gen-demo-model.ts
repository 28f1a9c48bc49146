/**
 * Rebuilds the studio's built-in demo model (public/models/demo/) and its sample dataset
 * (public/samples/pirate-talk.jsonl). The model is pre-trained here, with the project's own
 * engine, on the generated chat corpus of src/formats/gen/demoWorld.ts (scripts/demo/pretrain.ts).
 *
 *   npm run gen:demo               pre-train and write both (minutes: see docs/studio.md; run it on
 *                                  the fastest Vulkan driver there is, e.g. ADAPTER_STUDIO_ICD=lavapipe)
 *   npm run gen:demo -- --check    exit 1 unless the committed files are what this script makes, as far
 *                                  as that is cheap to know: the sample dataset, the tokenizer and config
 *                                  files byte for byte, and the weights' tensor names, shapes and dtype
 *                                  (their behaviour is checked by test/gpu/engine/demo.test.ts)
 *   npm run gen:demo -- --sample   write only the sample dataset
 */
import { register } from 'node:module';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

register('../bench/raw-hooks.mjs', import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modelDir = join(root, 'public', 'models', 'demo');
const samplePath = join(root, 'public', 'samples', 'pirate-talk.jsonl');
const bytes = (v: Uint8Array | string) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

const { DEMO_MODEL_OPTIONS, DEMO_PRETRAINING } = await import('../src/formats/demoModel');
const { generateModel } = await import('../src/formats/generate');
const { chatJsonl, pirateSample } = await import('../src/formats/gen/demoWorld');
const sample = chatJsonl(pirateSample());
// Everything but the weights comes straight from the generator.
const generated = generateModel(DEMO_MODEL_OPTIONS);

if (process.argv.includes('--check')) {
  const { openModelFolder } = await import('../src/formats/modelFolder');
  const { nodeFiles } = await import('../src/formats/nodeSource');
  const { openSafetensors } = await import('../src/formats/safetensors');
  const problems: string[] = [];
  if (!existsSync(samplePath) || !readFileSync(samplePath).equals(bytes(sample))) problems.push(`${samplePath} differs from pirateSample()`);
  const present = existsSync(modelDir) ? readdirSync(modelDir).sort() : [];
  const wanted = [...generated.keys()].sort();
  if (JSON.stringify(present) !== JSON.stringify(wanted)) problems.push(`the model folder has ${present.join(', ')}; want ${wanted.join(', ')}`);
  for (const [name, content] of generated) {
    if (name === 'model.safetensors') continue;
    const path = join(modelDir, name);
    if (!existsSync(path) || !readFileSync(path).equals(bytes(content))) problems.push(`${name} differs from the generator's output`);
  }
  if (existsSync(join(modelDir, 'model.safetensors'))) {
    const committed = await openSafetensors(new Uint8Array(readFileSync(join(modelDir, 'model.safetensors'))), 'model.safetensors');
    const fresh = await openSafetensors(bytes(generated.get('model.safetensors')!), 'generated');
    const shape = (h: typeof committed.header) => JSON.stringify(h.tensors.map((t) => [t.name, t.dtype, t.shape]).sort());
    if (shape(committed.header) !== shape(fresh.header)) problems.push('model.safetensors: tensor names, dtypes or shapes differ from the generator\'s');
    await openModelFolder(nodeFiles(modelDir)).catch((e: Error) => problems.push(`the folder does not load: ${e.message}`));
  }
  for (const p of problems) console.error(p);
  console.log(problems.length ? 'demo files are stale: run npm run gen:demo' : 'demo files are up to date');
  process.exit(problems.length ? 1 : 0);
}

mkdirSync(dirname(samplePath), { recursive: true });
writeFileSync(samplePath, sample);
console.log(`wrote ${samplePath} (${pirateSample().length} rows)`);
if (process.argv.includes('--sample')) process.exit(0);

const { createNodeGpu } = await import('../src/engine/gpu/node');
const { loadTokenizer } = await import('../src/data/tokenize');
const { pretrainDemo } = await import('./demo/pretrain');
const { mkdtempSync } = await import('node:fs');
const { tmpdir } = await import('node:os');

const tokDir = mkdtempSync(join(tmpdir(), 'demo-tokenizer-'));
for (const [name, content] of generated) if (name !== 'model.safetensors') writeFileSync(join(tokDir, name), bytes(content));
const tok = await loadTokenizer(tokDir);
const gpu = await createNodeGpu();
console.log(`pre-training on ${gpu.adapter.name}: ${DEMO_PRETRAINING.rounds} rounds of ${DEMO_PRETRAINING.stepsPerRound} steps`);
const t0 = performance.now();
const result = await pretrainDemo(gpu, tok, { ...DEMO_PRETRAINING, model: DEMO_MODEL_OPTIONS, dtype: DEMO_MODEL_OPTIONS.dtype ?? 'F32', log: (line) => console.log(line), probe: 48 });
console.log(`pre-training took ${((performance.now() - t0) / 1000).toFixed(0)} s`);

rmSync(modelDir, { recursive: true, force: true });
mkdirSync(modelDir, { recursive: true });
let total = 0;
for (const [name, content] of result.files) {
  const b = bytes(content);
  writeFileSync(join(modelDir, name), b);
  total += b.byteLength;
  console.log(`${name.padEnd(28)} ${b.byteLength} bytes`);
}
console.log(`wrote ${result.files.size} files (${total} bytes) to ${modelDir}`);
process.exit(0);
