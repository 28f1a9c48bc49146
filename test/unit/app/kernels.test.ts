// The controller's background compile of the next run's kernels (StudioController.watchKernels),
// against a fake worker: when it asks the worker to compile, what it shows while and after, and what
// it lets go of when the state moves on.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Remote } from 'comlink';
import { COMPILE_DELAY_MS, StudioController } from '../../../src/app/controller';
import { currentKernels, planKey } from '../../../src/app/store/store';
import type { WorkerApi } from '../../../src/worker/api';
import type { CompileResult, DatasetInfo, ModelInfo, PlanInfo } from '../../../src/worker/protocol';
import type { RunSettings } from '../../../src/settings/settings';
import { memoryKeyValue } from '../../../src/storage/kv';

const MODEL: ModelInfo = { name: 'demo', source: 'demo', architecture: 'LlamaForCausalLM', layers: 2, hidden: 64, heads: 4, kvHeads: 2, vocab: 512, parameters: 1000, bytes: 4000, backend: 'WebGPU', weights: 'f32', family: 'llama' };
const DATASET = { name: 'rows.jsonl', bytes: 100, mapping: null, errors: [], stats: { rows: 10, tokens: 200, maxTokens: 30 } } as unknown as DatasetInfo;
const PLAN = { weights: 'f32', weightsNote: '', microBatch: 4, gradAccum: 1, checkpointing: false, seqLen: 32, memory: { total: 1 }, fits: true, reasons: [], advice: null, fix: null, budget: 10, maxBufferSize: 10, longestRow: 30 } as unknown as PlanInfo;

interface Call {
  settings: RunSettings;
  progress: (done: number, total: number) => void;
  token: string;
  resolve: (r: CompileResult) => void;
  reject: (e: Error) => void;
}

let calls: Call[];
let aborted: string[];
let controller: StudioController;
const st = () => controller.store.getState();

/** Lets the settings rest past the debounce, and the promises it started settle. */
const rest = () => vi.advanceTimersByTimeAsync(COMPILE_DELAY_MS + 50);

/** The planner answers for the current state (as schedulePlan would). */
function planned(plan: PlanInfo = PLAN): void {
  st().setPlan(plan, planKey(st()));
}

beforeEach(() => {
  vi.useFakeTimers();
  calls = [];
  aborted = [];
  const engine = {
    compile: (settings: RunSettings, progress: Call['progress'], token: string) =>
      new Promise<CompileResult>((resolve, reject) => calls.push({ settings, progress, token, resolve, reject })),
    abort: (token: string) => {
      aborted.push(token);
      return Promise.resolve();
    },
  } as unknown as Remote<WorkerApi>;
  controller = new StudioController(engine, memoryKeyValue(), { href: 'http://localhost/', search: '' });
  st().setModel({ status: 'ready', info: MODEL });
  st().setDataset({ status: 'ready', info: DATASET });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('background compile of the next run’s kernels', () => {
  it('starts once a model, a dataset and the plan for them are in, shows its progress, then says ready', async () => {
    await rest();
    expect(calls).toHaveLength(0); // no plan for this state yet
    planned();
    await rest();
    expect(calls).toHaveLength(1);
    expect(calls[0].settings).toEqual(st().settings);
    expect(currentKernels(st())).toMatchObject({ status: 'compiling', done: 0, total: 0 });
    calls[0].progress(12, 22);
    expect(currentKernels(st())).toMatchObject({ status: 'compiling', done: 12, total: 22 });
    calls[0].resolve({ status: 'ready', pipelines: 22 });
    await rest();
    expect(currentKernels(st())).toMatchObject({ status: 'ready', pipelines: 22 });
    // Nothing changed: no second compile.
    st().setDataset({ status: 'ready', info: { ...DATASET } });
    planned();
    await rest();
    expect(calls).toHaveLength(1);
  });

  it('compiles again, once the knobs rest, for settings that change; the stale call is let go and its late answers change nothing', async () => {
    planned();
    await rest();
    expect(calls).toHaveLength(1);
    const r = st().settings.lora.r;
    st().setSetting('lora.r', r + 4);
    st().setSetting('lora.r', r + 8);
    planned();
    await vi.advanceTimersByTimeAsync(COMPILE_DELAY_MS / 2);
    expect(calls).toHaveLength(1); // still moving
    await rest();
    expect(calls).toHaveLength(2);
    expect(calls[1].settings.lora.r).toBe(r + 8);
    expect(aborted).toEqual([calls[0].token]);
    calls[0].progress(20, 22);
    calls[0].resolve({ status: 'ready', pipelines: 22 });
    await rest();
    expect(currentKernels(st())).toMatchObject({ status: 'compiling', done: 0, total: 0 });
    calls[1].resolve({ status: 'ready', pipelines: 3 });
    await rest();
    expect(currentKernels(st())).toMatchObject({ status: 'ready', pipelines: 3 });
    // Back to the first r: another compile (every kernel is in the cache by now, so it answers quickly).
    st().setSetting('lora.r', r);
    planned();
    await rest();
    expect(calls).toHaveLength(3);
  });

  it('a failed compile is shown as failed — never as ready — and a skipped one with its reason', async () => {
    planned();
    await rest();
    calls[0].reject(new Error('PlanError: the run needs 3 GB'));
    await rest();
    expect(currentKernels(st())).toMatchObject({ status: 'failed', message: 'PlanError: the run needs 3 GB' });
    st().setSetting('train.weights', 'f16');
    planned({ ...PLAN, weights: 'f16' });
    await rest();
    calls[1].resolve({ status: 'skipped', reason: 'the run reloads the model with f16 weights first' });
    await rest();
    expect(currentKernels(st())).toMatchObject({ status: 'skipped', reason: 'the run reloads the model with f16 weights first' });
  });

  it('compiles nothing while the plan does not fit, a dataset is missing or a run is on; a compile in flight goes on into a run', async () => {
    planned({ ...PLAN, fits: false });
    await rest();
    expect(calls).toHaveLength(0);
    st().setDataset({ status: 'empty' });
    planned();
    await rest();
    expect(calls).toHaveLength(0);
    st().setDataset({ status: 'ready', info: DATASET });
    planned();
    await rest();
    expect(calls).toHaveLength(1);
    st().startTraining('run-1'); // Start pressed while compiling: the worker's run waits for the compile
    await rest();
    expect(aborted).toEqual([]);
    calls[0].resolve({ status: 'ready', pipelines: 22 });
    await rest();
    expect(currentKernels(st())?.status).toBe('ready');
    st().setSetting('lora.r', st().settings.lora.r + 8);
    planned();
    await rest();
    expect(calls).toHaveLength(1);
  });

  it('another model forgets the kernels compiled for the last one', async () => {
    planned();
    await rest();
    calls[0].resolve({ status: 'ready', pipelines: 22 });
    await rest();
    expect(currentKernels(st())?.status).toBe('ready');
    // The same model loaded again (after a lost device, say): the same key, but none of its kernels.
    st().setModel({ status: 'ready', info: { ...MODEL } });
    expect(currentKernels(st())).toBeNull();
    planned();
    await rest();
    expect(calls).toHaveLength(2);
  });

  it('a compile skipped beside a run is made again once the run has ended (its kernels are compiled by then: a quick answer)', async () => {
    planned();
    await rest();
    st().startTraining('run-2');
    calls[0].resolve({ status: 'skipped', reason: 'a training run is in progress; it compiles its own kernels' });
    await rest();
    expect(currentKernels(st())?.status).toBe('skipped');
    st().patchTraining({ status: 'done' });
    expect(currentKernels(st())).toBeNull();
    await rest();
    expect(calls).toHaveLength(2);
    calls[1].resolve({ status: 'ready', pipelines: 0 });
    await rest();
    expect(currentKernels(st())).toMatchObject({ status: 'ready', pipelines: 0 });
    // A ready state outlives the next run.
    st().startTraining('run-3');
    st().patchTraining({ status: 'done' });
    await rest();
    expect(calls).toHaveLength(2);
    expect(currentKernels(st())?.status).toBe('ready');
  });
});
