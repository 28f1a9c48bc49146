import { describe, expect, it } from 'vitest';
import { AdapterLibrary, AdapterNotFoundError } from '../../../src/storage/adapters';
import { CheckpointQuotaError, CheckpointStore } from '../../../src/storage/checkpoints';
import { memoryKeyValue } from '../../../src/storage/kv';
import { DEFAULT_SETTINGS } from '../../../src/settings/settings';
import { deserializeCheckpoint, serializeCheckpoint } from '../../../src/formats/checkpoint';

const meta = {
  name: 'my adapter',
  baseModel: 'demo',
  settings: DEFAULT_SETTINGS,
  metrics: { steps: 20, finalLoss: 1.5, finalValidationLoss: 1.7, lossCurve: [[1, 3], [20, 1.5]] as [number, number][], trainSeconds: 12 },
  dataset: null,
  origin: 'trained' as const,
};
const files = { adapterModel: new Uint8Array([1, 2, 3, 4]), adapterConfig: '{"peft_type":"LORA"}' };

describe('adapter library', () => {
  it('saves, lists, renames and deletes adapters', async () => {
    const lib = new AdapterLibrary(memoryKeyValue());
    const a = await lib.save(meta, files);
    const b = await lib.save({ ...meta, name: 'second' }, files);
    expect((await lib.list()).map((m) => m.id).sort()).toEqual([a.id, b.id].sort());
    expect((await lib.files(a.id)).adapterModel).toEqual(files.adapterModel);
    expect((await lib.rename(a.id, '  renamed  ')).name).toBe('renamed');
    expect((await lib.meta(a.id)).name).toBe('renamed');
    await lib.delete(a.id);
    expect((await lib.list()).map((m) => m.id)).toEqual([b.id]);
    await expect(lib.files(a.id)).rejects.toBeInstanceOf(AdapterNotFoundError);
  });

  it('lists nothing half-written when the metadata write fails', async () => {
    const kv = memoryKeyValue(40); // room for the files, not for the metadata
    const lib = new AdapterLibrary(kv);
    await expect(lib.save(meta, files)).rejects.toThrow(/StorageQuotaError/);
    expect(await lib.list()).toEqual([]);
    expect(await kv.keys()).toEqual([]);
  });
});

describe('checkpoint store', () => {
  const progress = { train: [{ step: 1, loss: 2 }], validation: [], totalSteps: 30 };
  /** A real checkpoint of `n` parameters all equal to `fill`. */
  const ckpt = (step: number, fill: number, n = 20) => serializeCheckpoint({
    step, totalSteps: 30, dataCursor: { epoch: 0, index: 0, seed: 1 }, skippedSteps: 0, rolledBackSteps: 0, run: {},
    params: new Float32Array(n).fill(fill), m: new Float32Array(n), v: new Float32Array(n),
  });
  const paramsOf = (bytes: Uint8Array) => deserializeCheckpoint(bytes).params;

  it('keeps exactly the latest checkpoint of a run', async () => {
    const kv = memoryKeyValue();
    const store = new CheckpointStore(kv);
    await store.begin({ runId: 'r1', baseModel: 'demo', settings: DEFAULT_SETTINGS, dataset: null, totalSteps: 30, train: [], validation: [] });
    await store.save('r1', 10, ckpt(10, 1), progress);
    await store.save('r1', 20, ckpt(20, 2), progress);
    const latest = await store.latest('r1');
    expect(latest!.meta.checkpointStep).toBe(20);
    expect(paramsOf(latest!.bytes)[0]).toBe(2);
    expect((await kv.keys()).filter((k) => k.startsWith('ckpt:'))).toEqual(['ckpt:r1:20']);
    expect((await store.runs()).map((r) => r.runId)).toEqual(['r1']);
    await store.delete('r1');
    expect(await kv.keys()).toEqual([]);
  });

  it('on a full disk keeps the previous checkpoint and names what could be deleted', async () => {
    const kv = memoryKeyValue(3000);
    const store = new CheckpointStore(kv, async () => [
      { kind: 'adapter', id: 'a1', name: 'old adapter', bytes: 5000 },
      { kind: 'run', id: 'r1', name: 'this run', bytes: 100 },
    ]);
    await store.begin({ runId: 'r1', baseModel: 'demo', settings: DEFAULT_SETTINGS, dataset: null, totalSteps: 30, train: [], validation: [] });
    await store.save('r1', 10, ckpt(10, 7, 40), progress);
    const error = await store.save('r1', 20, ckpt(20, 8, 200), progress).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointQuotaError);
    expect(error.previousStep).toBe(10);
    expect(error.deletable.map((d: { id: string }) => d.id)).toEqual(['a1']);
    expect(error.message).toMatch(/checkpoint of step 10 is kept.*adapter “old adapter”/);
    const latest = await store.latest('r1');
    expect(latest!.meta.checkpointStep).toBe(10);
    expect(paramsOf(latest!.bytes).every((b) => b === 7)).toBe(true);
    expect((await kv.keys()).filter((k) => k.startsWith('ckpt:'))).toEqual(['ckpt:r1:10']);
  });

  it('refuses damaged bytes (read back and verified before the old checkpoint is dropped)', async () => {
    const kv = memoryKeyValue();
    const store = new CheckpointStore(kv);
    await store.begin({ runId: 'r1', baseModel: 'demo', settings: DEFAULT_SETTINGS, dataset: null, totalSteps: 30, train: [], validation: [] });
    await store.save('r1', 10, ckpt(10, 3), progress);
    const damaged = ckpt(20, 4);
    damaged[damaged.length - 1] ^= 0x10;
    await expect(store.save('r1', 20, damaged, progress)).rejects.toThrow(/checksum mismatch/);
    const latest = await store.latest('r1');
    expect(latest!.meta.checkpointStep).toBe(10);
    expect(paramsOf(latest!.bytes)[0]).toBe(3);
    expect((await kv.keys()).filter((k) => k.startsWith('ckpt:'))).toEqual(['ckpt:r1:10']);
  });
});
