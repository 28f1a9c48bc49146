import { describe, expect, it } from 'vitest';
import { createStudioStore, MAX_CHART_POINTS } from '../../../src/app/store/store';
import { DEFAULT_SETTINGS } from '../../../src/app/store/settings';

describe('studio store', () => {
  it('starts with the PEFT defaults and the demo model', () => {
    const s = createStudioStore().getState();
    expect(s.settings.model).toEqual({ kind: 'demo' });
    expect(s.settings.lora).toEqual({ r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], useRslora: false });
    expect(s.settings.train.learningRate).toBe(1e-4);
    expect(s.settings.train.epochs).toBe(3);
    expect(s.settings.train.microBatch * s.settings.train.accumulation).toBe(16);
    expect(s.settings.train.weightDecay).toBe(0.01);
    expect(s.settings.train.schedule).toBe('linear');
  });

  it('updates settings without mutating the defaults', () => {
    const store = createStudioStore();
    store.getState().updateLora({ r: 32, targets: ['q_proj'] });
    store.getState().updateTrain({ learningRate: 3e-4 });
    expect(store.getState().settings.lora.r).toBe(32);
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
      st().applyTrainEvent({ type: 'step', step: i, totalSteps: 5, epoch: 0, loss: 5 - i * 0.5, learningRate: 1e-4, gradNorm: 1, tokensPerSecond: 100, etaSeconds: 5 - i, skipped: i === 3 });
    }
    st().applyTrainEvent({ type: 'eval', step: 5, validationLoss: 2.7 });
    st().applyTrainEvent({ type: 'checkpoint', step: 5, bytes: new Uint8Array(4) });
    st().applyTrainEvent({ type: 'paused', step: 5 });
    const t = st().training;
    expect(t.status).toBe('paused');
    expect(t.train.map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
    expect(t.validation).toEqual([{ step: 5, loss: 2.7 }]);
    expect(t.skippedSteps).toBe(1);
    expect(t.lastCheckpointStep).toBe(5);
    st().applyTrainEvent({ type: 'resumed', step: 5 });
    expect(st().training.status).toBe('running');
  });

  it('continues a resumed run\'s chart, dropping points at or after the resume step', () => {
    const store = createStudioStore();
    store.getState().startTraining('run-2', { step: 2, train: [{ step: 1, loss: 3 }, { step: 2, loss: 2.9 }, { step: 3, loss: 2.8 }], validation: [] });
    store.getState().applyTrainEvent({ type: 'step', step: 3, totalSteps: 9, epoch: 0, loss: 2.75, learningRate: 0, gradNorm: 0, tokensPerSecond: 0, etaSeconds: 0, skipped: false });
    expect(store.getState().training.train).toEqual([{ step: 1, loss: 3 }, { step: 2, loss: 2.9 }, { step: 3, loss: 2.75 }]);
  });

  it('thins the chart on very long runs', () => {
    const store = createStudioStore();
    store.getState().startTraining('run-3');
    for (let i = 1; i <= MAX_CHART_POINTS + 500; i++) {
      store.getState().applyTrainEvent({ type: 'step', step: i, totalSteps: 1e5, epoch: 0, loss: 1, learningRate: 0, gradNorm: 0, tokensPerSecond: 0, etaSeconds: 0, skipped: false });
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
