/**
 * The studio's "Run on GPUs": the worker's export of the current run (the demo model, a dropped
 * dataset as the worker renders it, a library adapter to continue) is a zip of the same project the
 * CLI writes, whose rows are the worker's own training and validation examples.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { strFromU8, unzipSync } from 'fflate';
import { readDataset } from '../../../src/worker/dataset';
import { exportPytorchZip } from '../../../src/worker/exportPytorch';
import type { SessionModel } from '../../../src/worker/model';
import { nodeFiles } from '../../../src/formats/nodeSource';
import { DEFAULT_SETTINGS, DEMO_MODEL_NAME, type RunSettings } from '../../../src/settings/settings';
import { demoTokenizer, DEMO_MODEL_DIR } from '../data/tokenizer';

describe('the studio exports its run for PyTorch', () => {
  it('zips the project with the worker\'s own rows, the demo model and the adapter to continue', async () => {
    const tokenizer = await demoTokenizer();
    const bytes = readFileSync('public/samples/pirate-talk.jsonl');
    const file = new Blob([bytes]);
    const settings: RunSettings = { ...DEFAULT_SETTINGS, train: { ...DEFAULT_SETTINGS.train, batchSize: 4, maxLength: 128 }, data: { ...DEFAULT_SETTINGS.data, trainOn: 'all', validationFraction: 0.2 } };
    const dataset = await readDataset({ file, name: 'pirate-talk.jsonl', tokenizer, mapping: null, maxLength: 128, seed: settings.train.seed, trainOn: 'all', onBadRows: 'stop', validationFraction: 0.2, validationFile: null, vocabSize: 768, signal: new AbortController().signal });
    expect(dataset.train).toBeTruthy();
    const model = { files: nodeFiles(DEMO_MODEL_DIR), text: async () => ({ tokenizer, padId: 2, eosIds: [2] }) } as unknown as SessionModel;
    const adapterModel = new Uint8Array([1, 2, 3]);
    const zip = await exportPytorchZip({
      model, dataset, datasetFile: { file, name: 'pirate-talk.jsonl', mapping: dataset.info.mapping }, settings, title: 'demo run',
      initialAdapter: { name: 'my adapter', steps: 30, adapterModel, adapterConfig: '{}' }, studioPlan: { microBatch: 2, gradAccum: 2, seqLen: 64 }, signal: new AbortController().signal,
    });
    const files = unzipSync(zip);
    for (const f of ['train.py', 'run.json', 'README.md', 'data/train.jsonl', 'model/model.safetensors', 'tokenizer/chat_template.jinja', 'init_adapter/adapter_model.safetensors']) {
      expect(files[`pytorch-run/${f}`], f).toBeDefined();
    }
    expect(files['pytorch-run/model/model.safetensors']).toEqual(new Uint8Array(readFileSync(`${DEMO_MODEL_DIR}/model.safetensors`)));
    expect(files['pytorch-run/init_adapter/adapter_model.safetensors']).toEqual(adapterModel);
    const run = JSON.parse(strFromU8(files['pytorch-run/run.json']));
    expect(run.base_model).toEqual({ name: DEMO_MODEL_NAME, hub_id: null, revision: null, bundled: true });
    expect(run.init_adapter).toEqual({ path: 'init_adapter', name: 'my adapter', steps: 30 });
    expect(run.studio_plan).toEqual({ microBatch: 2, gradAccum: 2, seqLen: 64 });
    const script = strFromU8(files['pytorch-run/train.py']);
    expect(script).toMatch(/^BASE_MODEL = "model" /m);
    expect(script).toMatch(/^INIT_ADAPTER = "init_adapter" /m);
    expect(files['pytorch-run/data/validation.jsonl'] !== undefined).toBe(dataset.validation !== null);
    for (const [name, store] of [['train', dataset.train!], ...(dataset.validation ? [['validation', dataset.validation] as const] : [])] as const) {
      const rows = strFromU8(files[`pytorch-run/data/${name}.jsonl`]).trim().split('\n').map((l) => JSON.parse(l));
      expect(rows.length).toBe(store.length);
      rows.forEach((r, i) => {
        expect(r.input_ids).toEqual(Array.from(store.get(i).ids));
        // trainOn 'all': every token but the first is a label.
        expect(r.labels.slice(1)).toEqual(r.input_ids.slice(1));
      });
    }
  });
});
