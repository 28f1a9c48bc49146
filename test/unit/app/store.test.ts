import { describe, expect, it } from 'vitest';
import { createStudioStore, MAX_CHART_POINTS } from '../../../src/app/store/store';
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

  it('keeps the last six notices', () => {
    const store = createStudioStore();
    for (let i = 0; i < 9; i++) store.getState().notify('info', `n${i}`);
    expect(store.getState().notices.map((n) => n.text)).toEqual(['n3', 'n4', 'n5', 'n6', 'n7', 'n8']);
    store.getState().dismiss(store.getState().notices[0].id);
    expect(store.getState().notices).toHaveLength(5);
  });
});
