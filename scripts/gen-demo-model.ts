/**
 * Regenerates the studio's built-in demo model (public/models/demo/) byte for byte:
 * a 2-layer Llama-architecture model (hidden 64, 4 heads / 2 kv heads, head_dim 16,
 * intermediate 128, tied embeddings, F32) with a 512-token byte-level BPE tokenizer.
 *
 *   npm run gen:demo            write the files
 *   npm run gen:demo -- --check exit 1 if the committed files differ from what the generator makes
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_MODEL_OPTIONS } from '../src/formats/demoModel';
import { generateModel } from '../src/formats/generate';

const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'models', 'demo');
const files = generateModel(DEMO_MODEL_OPTIONS);
const bytes = (v: Uint8Array | string) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

if (process.argv.includes('--check')) {
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
  console.log(ok ? 'demo model is up to date' : 'demo model is stale: run npm run gen:demo');
  process.exit(ok ? 0 : 1);
}

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
