import { describe, expect, it } from 'vitest';
import { createStudioStore, currentKernels, currentPlan, kernelsKey, MAX_CHART_POINTS, MAX_NOTICES, planKey } from '../../../src/app/store/store';
import { DEFAULT_SETTINGS } from '../../../src/settings/settings';
import type { StepReport } from '../../../src/engine/train/trainer';

const report = (step: number, totalSteps: number, loss: number, skipped = false, skippedSteps = 0): StepReport => ({
  step, totalSteps, epoch: 0, loss, lr: 1e-4, gradNorm: 1, paramNorm: 1, skipped, reasons: [], applied: step - skippedSteps, skippedSteps, targetTokens: 10, tokens: 16, stepMs: 10, tokensPerSecond: 100,
});

describe('studio store', () => {
  it('starts with the PEFT defaults and the demo model', () => {
    const s = createStudioStore().getState();
    expect(s.settings.model).toEqual({ kind: 'demo' });
    expect(s.settings.lora).toEqual({ r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], useRslora: false, layers: null });
    expect(s.settings.train.learningRate).toBe(1e-4);
    expect(s.settings.train.epochs).toBe(3);
    expect(s.settings.train.batchSize).toBe(16);
    expect(s.settings.eval.logInterval).toBe(10);
    expect(s.settings.train.weightDecay).toBe(0.01);
    expect(s.settings.train.schedule).toBe('linear');
  });

  it('updates settings without mutating the defaults', () => {
    const store = createStudioStore();
    store.getState().setSetting('lora.r', 32);
    store.getState().setSetting('lora.targets', ['q_proj']);
    store.getState().setSetting('train.learningRate', 3e-4);
    expect(store.getState().settings.lora).toMatchObject({ r: 32, targets: ['q_proj'] });
    expect(store.getState().settings.train.learningRate).toBe(3e-4);
    expect(DEFAULT_SETTINGS.lora.r).toBe(8);
    expect(DEFAULT_SETTINGS.lora.targets).toEqual(['q_proj', 'v_proj']);
  });

  it('folds the progress stream into the training state', () => {
    const store = createStudioStore();
    const st = () => store.getState();
    st().startTraining('run-1');
    expect(st().training.status).toBe('starting');
    for (let i = 1; i <= 5; i++) {
      st().applyTrainEvent({ type: 'step', report: report(i, 5, 5 - i * 0.5, i === 3, i >= 3 ? 1 : 0), etaSeconds: i < 2 ? null : 5 - i });
    }
    expect(st().training.etaSeconds).toBe(0);
    st().applyTrainEvent({ type: 'eval', step: 5, result: { loss: 2.7, count: 10, metrics: { eval_loss: 2.7 } }, metrics: { eval_loss: 2.7 } });
    st().applyTrainEvent({ type: 'checkpoint', step: 5, bytes: new Uint8Array(4) });
    st().applyTrainEvent({ type: 'paused', step: 5 });
    const t = st().training;
    expect(t.status).toBe('paused');
    expect(t.train.map((p) => p.step)).toEqual([1, 2, 4, 5]); // the skipped step has no loss to draw
    expect(t.validation).toEqual([{ step: 5, loss: 2.7 }]);
    expect(t.skippedSteps).toBe(1);
    expect(t.lastCheckpointStep).toBe(5);
    st().applyTrainEvent({ type: 'resumed', step: 5 });
    expect(st().training.status).toBe('running');
  });

  it('a run that reloaded the model in another precision makes that the loaded model (its weights, what it runs on)', () => {
    const store = createStudioStore();
    const st = () => store.getState();
    const info = { name: 'demo', source: 'demo' as const, architecture: 'LlamaForCausalLM', layers: 2, hidden: 64, heads: 4, kvHeads: 2, vocab: 512, parameters: 1e5, bytes: 4e5, family: 'llama' };
    st().setModel({ status: 'ready', info: { ...info, backend: 'WebGPU (test, 32-bit float (f32) weights)', weights: 'f32' } });
    st().startTraining('run-3');
    st().applyTrainEvent({ type: 'weights', loaded: 1, total: 2 });
    expect(st().model).toMatchObject({ status: 'ready', info: { weights: 'f32' } });
    st().applyTrainEvent({ type: 'model', info: { ...info, backend: 'WebGPU (test, 8-bit (q8) weights)', weights: 'q8' } });
    expect(st().model).toMatchObject({ status: 'ready', info: { weights: 'q8', backend: 'WebGPU (test, 8-bit (q8) weights)' } });
    // A model that is no longer ready (a lost device) is not brought back by a late event.
    st().setModel({ status: 'idle' });
    st().applyTrainEvent({ type: 'model', info: { ...info, backend: '', weights: 'nf4' } });
    expect(st().model.status).toBe('idle');
  });

  it('continues a resumed run\'s chart, dropping points at or after the resume step', () => {
    const store = createStudioStore();
    store.getState().startTraining('run-2', { step: 2, train: [{ step: 1, loss: 3 }, { step: 2, loss: 2.9 }, { step: 3, loss: 2.8 }], validation: [] });
    store.getState().applyTrainEvent({ type: 'step', report: report(3, 9, 2.75), etaSeconds: null });
    expect(store.getState().training.train).toEqual([{ step: 1, loss: 3 }, { step: 2, loss: 2.9 }, { step: 3, loss: 2.75 }]);
  });

  it('thins the chart on very long runs', () => {
    const store = createStudioStore();
    store.getState().startTraining('run-3');
    for (let i = 1; i <= MAX_CHART_POINTS + 500; i++) {
      store.getState().applyTrainEvent({ type: 'step', report: report(i, 1e5, 1), etaSeconds: null });
    }
    const pts = store.getState().training.train;
    expect(pts.length).toBeLessThanOrEqual(MAX_CHART_POINTS);
    expect(pts.at(-1)!.step).toBe(MAX_CHART_POINTS + 500);
    expect(pts.every((p, i) => i === 0 || p.step > pts[i - 1].step)).toBe(true);
  });

  it('keeps a few notices: a repeated text replaces itself, info notices make way first', () => {
    const store = createStudioStore();
    const st = () => store.getState();
    st().notify('error', 'disk full');
    for (let i = 0; i < 9; i++) st().notify('info', `n${i}`);
    st().notify('info', 'n8');
    expect(st().notices).toHaveLength(MAX_NOTICES);
    expect(st().notices.map((n) => n.text)).toEqual(['disk full', 'n6', 'n7', 'n8']);
    st().dismiss(st().notices[0].id);
    expect(st().notices).toHaveLength(MAX_NOTICES - 1);
  });

  it('shows no step numbers before the first step: plan, compile progress, then steps; epochs as a fraction of the run', () => {
    const store = createStudioStore();
    const st = () => store.getState();
    st().startTraining('run-4');
    expect(st().training.stepped).toBe(false);
    const plan = { weights: 'f16' as const, weightsNote: '', microBatch: 4, gradAccum: 1, checkpointing: false, seqLen: 64, memory: {} as never, fits: true, reasons: [], advice: null, fix: null };
    st().applyTrainEvent({ type: 'plan', plan, totalSteps: 30, stepsPerEpoch: 10, resumedAt: 0 });
    expect(st().training.startup).toEqual({ kind: 'planning' });
    st().applyTrainEvent({ type: 'compile', done: 3, total: 41 });
    expect(st().training.startup).toEqual({ kind: 'compile', done: 3, total: 41 });
    expect(st().training).toMatchObject({ totalSteps: 30, stepsPerEpoch: 10, stepped: false, etaSeconds: null });
    st().applyTrainEvent({ type: 'step', report: { ...report(1, 30, 4), epoch: 0.1 }, etaSeconds: null });
    expect(st().training).toMatchObject({ stepped: true, startup: null, status: 'running', etaSeconds: null, epoch: 0.1 });
    // A late compile event (a pipeline built after the first step) does not bring the start-up line back.
    st().applyTrainEvent({ type: 'compile', done: 41, total: 41 });
    expect(st().training.startup).toBeNull();
  });

  it('keeps every evaluation\'s metrics as they arrive (eval_loss, eval_perplexity, eval_accuracy, …)', () => {
    const store = createStudioStore();
    const st = () => store.getState();
    st().startTraining('run-5');
    st().applyTrainEvent({ type: 'eval', step: 0, result: { loss: 3, count: 10, metrics: { eval_loss: 3 } }, metrics: { eval_loss: 3, eval_perplexity: Math.exp(3) } });
    expect(st().training.startup).toEqual({ kind: 'validating' });
    st().applyTrainEvent({ type: 'eval', step: 10, result: { loss: 2, count: 10, metrics: { eval_loss: 2 } }, metrics: { eval_loss: 2, eval_perplexity: Math.exp(2), eval_accuracy: 0.75 } });
    expect(st().training.evals.map((e) => e.step)).toEqual([0, 10]);
    expect(st().training.evals[1].metrics.eval_accuracy).toBe(0.75);
    expect(st().training.validation).toEqual([{ step: 0, loss: 3 }, { step: 10, loss: 2 }]);
    st().applyTrainEvent({ type: 'log', step: 10, metrics: { loss: 2.1, learning_rate: 1e-4 } });
    expect(st().training.lastLog).toEqual({ step: 10, metrics: { loss: 2.1, learning_rate: 1e-4 } });
  });

  it('records a field whose text is not a valid value, and forgets it', () => {
    const store = createStudioStore();
    store.getState().setFieldError('train.learningRate', 'Learning rate: 10 is outside 1e-7–1');
    expect(store.getState().fieldErrors).toEqual({ 'train.learningRate': 'Learning rate: 10 is outside 1e-7–1' });
    store.getState().setFieldError('train.learningRate', null);
    expect(store.getState().fieldErrors).toEqual({});
  });

  it('a plan answers only the settings, model and dataset it was asked for', () => {
    const store = createStudioStore();
    const plan = { weights: 'f16' as const, weightsNote: '', microBatch: 4, gradAccum: 4, checkpointing: false, seqLen: 64, memory: {} as never, fits: true, reasons: [], advice: null, fix: null, budget: 1, maxBufferSize: 1, longestRow: 0 };
    store.getState().setPlan(plan, planKey(store.getState()));
    expect(currentPlan(store.getState())).toBe(plan);
    store.getState().setSetting('train.batchSize', 32);
    expect(currentPlan(store.getState())).toBeNull();
  });

  it('goes straight from the plan to the first step when a background compile left nothing to compile', () => {
    const store = createStudioStore();
    const st = () => store.getState();
    st().startTraining('run-6');
    const plan = { weights: 'f32' as const, weightsNote: '', microBatch: 4, gradAccum: 1, checkpointing: false, seqLen: 64, memory: {} as never, fits: true, reasons: [], advice: null, fix: null };
    st().applyTrainEvent({ type: 'plan', plan, totalSteps: 3, stepsPerEpoch: 3, resumedAt: 0 });
    st().applyTrainEvent({ type: 'compile', done: 0, total: 0 });
    expect(st().training.startup).toEqual({ kind: 'planning' });
    expect(st().training.startupKernels).toBe(0);
    st().applyTrainEvent({ type: 'step', report: report(1, 3, 4), etaSeconds: null });
    expect(st().training).toMatchObject({ stepped: true, startup: null, startupKernels: 0 });
    // A run that compiles counts what it compiled before its first step.
    st().startTraining('run-7');
    expect(st().training.startupKernels).toBe(0);
    st().applyTrainEvent({ type: 'compile', done: 0, total: 22 });
    st().applyTrainEvent({ type: 'compile', done: 22, total: 22 });
    expect(st().training.startupKernels).toBe(22);
  });

  it("shows a reload's weights beside the compile that runs meanwhile, and alone once the compile is done", () => {
    const store = createStudioStore();
    const st = () => store.getState();
    st().startTraining('run-8');
    st().applyTrainEvent({ type: 'weights', loaded: 10, total: 100 });
    expect(st().training.startup).toEqual({ kind: 'model', loaded: 10, total: 100 });
    st().applyTrainEvent({ type: 'compile', done: 1, total: 4 });
    expect(st().training.startup).toEqual({ kind: 'compile', done: 1, total: 4, weights: { loaded: 10, total: 100 } });
    st().applyTrainEvent({ type: 'weights', loaded: 50, total: 100 });
    expect(st().training.startup).toEqual({ kind: 'compile', done: 1, total: 4, weights: { loaded: 50, total: 100 } });
    st().applyTrainEvent({ type: 'compile', done: 4, total: 4 });
    st().applyTrainEvent({ type: 'weights', loaded: 90, total: 100 });
    expect(st().training.startup).toEqual({ kind: 'model', loaded: 90, total: 100 });
    st().applyTrainEvent({ type: 'step', report: report(1, 3, 4), etaSeconds: null });
    st().applyTrainEvent({ type: 'weights', loaded: 100, total: 100 });
    expect(st().training.startup).toBeNull();
  });

  it('a background compile answers only the settings, model and dataset it was made for', () => {
    const store = createStudioStore();
    const st = () => store.getState();
    st().setModel({ status: 'ready', info: { name: 'demo', source: 'demo', architecture: 'LlamaForCausalLM', layers: 2, hidden: 64, heads: 4, kvHeads: 2, vocab: 512, parameters: 1, bytes: 4, backend: '', weights: 'f32', family: 'llama' } });
    const info = { name: 'rows.jsonl', bytes: 100, mapping: null, stats: { rows: 10, tokens: 200, maxTokens: 30 } } as never;
    st().setDataset({ status: 'ready', info });
    expect(currentKernels(st())).toBeNull();
    st().setKernels({ status: 'ready', key: kernelsKey(st()), pipelines: 22 });
    expect(currentKernels(st())).toEqual({ status: 'ready', key: kernelsKey(st()), pipelines: 22 });
    // The same dataset read again (a new object, the same rows) keeps them.
    st().setDataset({ status: 'ready', info: { ...(info as object) } as never });
    expect(currentKernels(st())?.status).toBe('ready');
    st().setSetting('lora.r', 16);
    expect(currentKernels(st())).toBeNull();
    st().setSetting('lora.r', 8);
    expect(currentKernels(st())?.status).toBe('ready');
    // Another dataset, or the base in another precision, has other kernels.
    st().setDataset({ status: 'ready', info: { ...(info as object), stats: { rows: 11, tokens: 220, maxTokens: 30 } } as never });
    expect(currentKernels(st())).toBeNull();
    st().setDataset({ status: 'ready', info });
    const model = st().model as { status: 'ready'; info: object };
    st().setModel({ status: 'ready', info: { ...model.info, weights: 'f16' } as never });
    expect(currentKernels(st())).toBeNull();
  });
});
