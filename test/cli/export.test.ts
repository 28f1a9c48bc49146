// `adapter-studio export` on the demo model with an adapter, every model format with a quantization
// other than its default, and on the demo encoder with a SEQ_CLS adapter (onnx, hf; `merge`): the
// files it writes are the exporters' (byte for byte; the runtimes that load them are tested in
// test/unit/export), each written whole, and usage mistakes are refused before anything is read.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { main } from '../../src/cli/main';
import { openModelFolder, requireDecoder } from '../../src/formats/modelFolder';
import { readExportAdapter } from '../../src/formats/export/index';
import { encoderTestModel, TASKS, testEncoderAdapter } from '../unit/export/encoderFixtures';
import { readPeftAdapter, writePeftAdapter } from '../../src/formats/peft';
import { concatParts, exportModel, MODEL_EXPORTS, openExportSource, type ModelExportFormat } from '../../src/formats/export/index';
import { testAdapter } from '../unit/export/fixtures';
import { cliIo as io } from '../helpers/cliIo';
import { folderFiles } from '../helpers/folderFiles';

const DEMO = 'public/models/demo';

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), sha(readFileSync(p)));
    }
  };
  walk(dir);
  return out;
}

describe('adapter-studio export', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'adapter-studio-export-'));
  const demo = folderFiles(DEMO, 'demo');
  const spec = requireDecoder(await openModelFolder(demo), 'test').spec;
  const made = testAdapter(spec, 9, { baseModelNameOrPath: 'adapter-studio/demo', targetModules: ['q_proj', 'v_proj', 'gate_proj'] });
  const files = writePeftAdapter(spec, made.config, made.tensors);
  const adapterDir = join(dir, 'adapter');
  mkdirSync(adapterDir);
  writeFileSync(join(adapterDir, 'adapter_model.safetensors'), files['adapter_model.safetensors']);
  writeFileSync(join(adapterDir, 'adapter_config.json'), files['adapter_config.json']);

  const cases: [ModelExportFormat, string][] = [['onnx', 'fp16,q4'], ['gguf', 'q8_0'], ['gguf-adapter', 'f16'], ['hf', 'BF16']];
  for (const [format, quant] of cases) {
    it(`--format ${format} --quant ${quant} writes the exporter's files, whole`, async () => {
      expect(MODEL_EXPORTS[format].defaultQuant).not.toBe(quant);
      const out = join(dir, `out-${format}`);
      const t = io();
      const code = await main(['export', '--model', DEMO, '--adapter', adapterDir, '--format', format, '--quant', quant, '--out', out, '--name', 'demo-tuned'], t.io);
      expect(code, t.text.err).toBe(0);
      expect(t.text.err).toMatch(new RegExp(`wrote ${format} export of`));
      const adapter = await readPeftAdapter(files, spec);
      const want = await exportModel(format, await openExportSource(demo, adapter), adapter, { quant, name: 'demo-tuned' });
      const got = filesUnder(out);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort()); // no temporaries, no lock left behind
      for (const [path, parts] of want) expect(got.get(path), path).toBe(sha(concatParts(parts)));
    });
  }

  it('refuses what it cannot do, before reading the model: an unknown quantization, a missing adapter, an output inside the model', async () => {
    const cases: [string[], RegExp][] = [
      [['--format', 'onnx', '--quant', 'q3'], /export --quant: "q3" is not an ONNX variant \(fp32, fp16, q8, int8, uint8, q4, q4f16\)/],
      [['--format', 'gguf', '--quant', 'q4_k'], /export --quant: "q4_k" is not a GGUF type \(f16, q8_0, f32\)/],
      [['--format', 'gguf-adapter'], /needs --adapter/],
      [['--format', 'safetensors'], /export --format: "safetensors" is not one of onnx, gguf, gguf-adapter, hf, pytorch/],
    ];
    for (const [args, message] of cases) {
      const t = io();
      expect(await main(['export', '--model', DEMO, '--out', join(dir, 'never'), ...args], t.io)).toBe(2);
      expect(t.text.err).toMatch(message);
    }
    const t = io();
    expect(await main(['export', '--model', DEMO, '--adapter', adapterDir, '--format', 'hf', '--out', join(DEMO, 'merged')], t.io)).toBe(2);
    expect(t.text.err).toMatch(/is the base model's folder \(or inside it\)/);
    expect(readdirSync(dir)).not.toContain('never');
  });
});

describe('adapter-studio export of an encoder classifier (the demo encoder + a SEQ_CLS adapter with its labels)', async () => {
  const MODEL = 'public/models/demo-bert';
  const dir = mkdtempSync(join(tmpdir(), 'adapter-studio-export-bert-'));
  const m = await encoderTestModel('demo-bert');
  const made = testEncoderAdapter(m, TASKS.sentiment, 31);
  const adapterDir = join(dir, 'adapter');
  mkdirSync(adapterDir);
  for (const [f, data] of Object.entries(made.files)) writeFileSync(join(adapterDir, f), data);

  /** What the exporters write for the same model and adapter, read the way the CLI reads them. */
  async function want(format: 'onnx' | 'hf', quant: string | null): Promise<Map<string, string>> {
    const adapter = await readExportAdapter(await openModelFolder(m.files), made.files);
    const files = await exportModel(format, await openExportSource(m.files, adapter), adapter, { quant });
    return new Map([...files].map(([path, parts]) => [path, sha(concatParts(parts))]));
  }

  for (const [format, quant] of [['onnx', 'fp32,q8,fp16'], ['hf', null]] as const) {
    it(`--format ${format}${quant ? ` --quant ${quant}` : ''} writes the exporter's files, whole`, async () => {
      const out = join(dir, `out-${format}`);
      const t = io();
      const code = await main(['export', '--model', MODEL, '--adapter', adapterDir, '--format', format, ...(quant ? ['--quant', quant] : []), '--out', out], t.io);
      expect(code, t.text.err).toBe(0);
      const got = filesUnder(out);
      const w = await want(format, quant);
      expect([...got.keys()].sort()).toEqual([...w.keys()].sort());
      for (const [path, hash] of w) expect(got.get(path), path).toBe(hash);
      expect(got.has(format === 'onnx' ? 'onnx/model_quantized.onnx' : 'model.safetensors')).toBe(true);
      expect(got.has('vocab.txt')).toBe(true);
      expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toMatchObject({ architectures: ['BertForSequenceClassification'], id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' }, problem_type: 'single_label_classification' });
    });
  }

  it('merge writes the F32 hf export: one merge path for decoders and encoders', async () => {
    const out = join(dir, 'merged');
    const t = io();
    expect(await main(['merge', '--model', MODEL, '--adapter', adapterDir, '--out', out], t.io), t.text.err).toBe(0);
    const got = filesUnder(out);
    const w = await want('hf', 'F32');
    expect([...got.keys()].sort()).toEqual([...w.keys()].sort());
    for (const [path, hash] of w) expect(got.get(path), path).toBe(hash);
  });

  it('refuses GGUF for an encoder, and a base holding NaN, writing nothing', async () => {
    for (const format of ['gguf', 'gguf-adapter']) {
      const t = io();
      expect(await main(['export', '--model', MODEL, '--adapter', adapterDir, '--format', format, '--out', join(dir, `never-${format}`)], t.io)).toBe(1);
      expect(t.text.err).toMatch(/llama\.cpp has no sequence-classification head for BertForSequenceClassification/);
      expect(readdirSync(dir)).not.toContain(`never-${format}`);
    }
    const nanModel = join(dir, 'nan-bert');
    mkdirSync(nanModel);
    for (const f of readdirSync(MODEL)) writeFileSync(join(nanModel, f), readFileSync(join(MODEL, f)));
    const { openSafetensors, serializeSafetensors } = await import('../../src/formats/safetensors');
    const { fromF32 } = await import('../../src/formats/dtype');
    const st = await openSafetensors(new Uint8Array(readFileSync(join(MODEL, 'model.safetensors'))));
    const tensors = new Map<string, { dtype: 'F32'; shape: number[]; data: Uint8Array }>();
    for (const info of st.header.tensors) {
      const v = await st.readF32(info.name);
      if (info.name === 'bert.encoder.layer.1.output.dense.weight') v[5] = NaN;
      tensors.set(info.name, { dtype: 'F32', shape: info.shape, data: fromF32('F32', v) });
    }
    writeFileSync(join(nanModel, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
    const t = io();
    expect(await main(['merge', '--model', nanModel, '--adapter', adapterDir, '--out', join(dir, 'never-merged')], t.io)).toBe(1);
    expect(t.text.err).toMatch(/tensor "bert\.encoder\.layer\.1\.output\.dense\.weight" holds NaN at index 5: refusing to export a non-finite model/);
    expect(existsSync(join(dir, 'never-merged', 'model.safetensors'))).toBe(false);
  });
});
