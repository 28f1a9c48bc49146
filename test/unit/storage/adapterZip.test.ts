import { describe, expect, it } from 'vitest';
import { strToU8, unzipSync, zipSync, strFromU8 } from 'fflate';
import { AdapterImportError, adapterZip, modelCard, readAdapterZip, safeFileName, validateAdapterFiles } from '../../../src/storage/adapterZip';
import { SafetensorsError, serializeF32 } from '../../../src/formats/safetensors';
import { AdapterError } from '../../../src/formats/peft';
import { DEFAULT_SETTINGS } from '../../../src/settings/settings';
import type { AdapterMeta } from '../../../src/storage/adapters';

const r = 4;
function adapterFile(names: { layer: number; group: string; module: string; inF: number; outF: number }[], rank = r, fill = 0.5) {
  const m = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const n of names) {
    const p = `base_model.model.model.layers.${n.layer}.${n.group}.${n.module}`;
    m.set(`${p}.lora_A.weight`, { shape: [rank, n.inF], data: new Float32Array(rank * n.inF).fill(fill) });
    m.set(`${p}.lora_B.weight`, { shape: [n.outF, rank], data: new Float32Array(n.outF * rank) });
  }
  return serializeF32(m);
}
const slots = [0, 1].flatMap((layer) => [
  { layer, group: 'self_attn', module: 'q_proj', inF: 16, outF: 16 },
  { layer, group: 'self_attn', module: 'v_proj', inF: 16, outF: 8 },
]);
const config = JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r, lora_alpha: 8, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj'], base_model_name_or_path: 'demo' });
const meta: AdapterMeta = {
  id: 'adapter-1',
  name: 'tiny <b>test</b> [x](javascript:1)',
  createdAt: 0,
  updatedAt: 1_700_000_000_000,
  baseModel: 'HuggingFaceTB/SmolLM2-135M-Instruct',
  settings: { ...DEFAULT_SETTINGS, model: { kind: 'hub', id: 'HuggingFaceTB/SmolLM2-135M-Instruct' } },
  metrics: { steps: 20, finalLoss: 1.25, finalValidationLoss: null, lossCurve: [], trainSeconds: 3 },
  dataset: { name: 'chat.jsonl', format: 'jsonl', rows: 100, trainRows: 90, validationRows: 10, tokens: 5000, kind: 'chat' },
  origin: 'trained',
  bytes: 0,
};

describe('adapter zip export and import', () => {
  it('zips the adapter, its config and a model card, and reads it back validated', async () => {
    const files = { adapterModel: adapterFile(slots), adapterConfig: config };
    const zip = adapterZip(meta, files);
    const entries = unzipSync(zip);
    expect(Object.keys(entries).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors']);
    const card = strFromU8(entries['README.md']);
    expect(card).toContain('PeftModel.from_pretrained(base, "path/to/this/folder")');
    expect(card).toContain('HuggingFaceTB/SmolLM2-135M-Instruct');
    expect(card).toContain('| Rank r | 8 |');
    expect(card).toContain('| Batch size | 16 rows |');
    expect(card).toContain('final training loss: 1.2500');
    expect(card).toContain('rows: 100 (90 train, 10 validation)');
    expect(card).not.toContain('<b>');
    const back = await readAdapterZip(zip);
    expect(back.config).toEqual({ baseModel: 'demo', r, alpha: 8, dropout: 0.05, targets: ['q_proj', 'v_proj'], useRslora: false });
    expect(back.tensors).toBe(8);
    expect(back.layers).toEqual([0, 1]);
    expect(back.files.adapterModel).toEqual(files.adapterModel);
  });

  it('imports a folder whose files sit under a sub-path', async () => {
    const v = await validateAdapterFiles(new Map([
      ['my-adapter/adapter_model.safetensors', adapterFile(slots)],
      ['my-adapter/adapter_config.json', strToU8(config)],
      ['my-adapter/README.md', strToU8('hi')],
    ]));
    expect(v.parameters).toBe(2 * (r * 16 + 16 * r + r * 16 + 8 * r));
  });

  const bad: [string, Map<string, Uint8Array>, RegExp][] = [
    ['no config', new Map([['adapter_model.safetensors', adapterFile(slots)]]), /adapter_config\.json: missing/],
    ['no weights', new Map([['adapter_config.json', strToU8(config)]]), /adapter_model\.safetensors: missing/],
    ['not LoRA', new Map([['adapter_model.safetensors', adapterFile(slots)], ['adapter_config.json', strToU8('{"peft_type":"IA3"}')]]), /peft_type.*"IA3" is not "LORA"/],
    ['wrong rank', new Map([['adapter_model.safetensors', adapterFile(slots, 2)], ['adapter_config.json', strToU8(config)]]), /but its rank is 4/],
    ['a NaN weight', new Map([['adapter_model.safetensors', adapterFile(slots, r, NaN)], ['adapter_config.json', strToU8(config)]]), /holds NaN at index 0/],
    ['missing v_proj', new Map([['adapter_model.safetensors', adapterFile(slots.filter((s) => s.module === 'q_proj'))], ['adapter_config.json', strToU8(config)]]), /v_proj is in target_modules but has no tensors/],
    ['k_proj not targeted', new Map([['adapter_model.safetensors', adapterFile([...slots, { layer: 0, group: 'self_attn', module: 'k_proj', inF: 16, outF: 8 }])], ['adapter_config.json', strToU8(config)]]), /k_proj is not in target_modules/],
    ['garbage weights', new Map([['adapter_model.safetensors', new Uint8Array(20)], ['adapter_config.json', strToU8(config)]]), /adapter_model\.safetensors/],
  ];
  for (const [what, entries, message] of bad) {
    it(`refuses an adapter with ${what}`, async () => {
      const error = await validateAdapterFiles(entries).catch((e) => e);
      // Zip-level problems are the storage's; what is in the files, the one PEFT validator's.
      expect(error instanceof AdapterImportError || error instanceof AdapterError || error instanceof SafetensorsError, String(error)).toBe(true);
      expect(error.message).toMatch(message);
    });
  }

  it('refuses a zip that is not a zip', async () => {
    await expect(readAdapterZip(new Uint8Array([1, 2, 3]), 'x.zip')).rejects.toThrow(/x\.zip: not a readable zip/);
    const empty = zipSync({ 'notes.txt': strToU8('x') });
    await expect(readAdapterZip(empty)).rejects.toThrow(/missing/);
  });

  it('makes safe download names', () => {
    expect(safeFileName('../../my adapter <1>.zip')).toBe('my-adapter-1-.zip');
    expect(safeFileName('../../etc')).toBe('etc');
    expect(safeFileName('')).toBe('adapter');
    expect(modelCard(meta)).toMatch(/^---\nbase_model: HuggingFaceTB\/SmolLM2-135M-Instruct/);
  });
});
