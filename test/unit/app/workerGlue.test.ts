// The worker-side glue the studio's UI relies on: settings → engine config, run control, cancel tokens.
import { describe, expect, it } from 'vitest';
import { RunControl, trainConfig } from '../../../src/worker/run';
import { abortToken, releaseToken, signalFor } from '../../../src/worker/cancel';
import { engineLora, peftConfig } from '../../../src/worker/adapterFiles';
import { DEFAULT_SETTINGS, cloneSettings } from '../../../src/app/store/settings';

describe('worker glue', () => {
  it('maps the studio settings onto the engine trainer config', () => {
    const s = cloneSettings(DEFAULT_SETTINGS);
    s.train = { ...s.train, microBatch: 2, accumulation: 8, maxSteps: 0, schedule: 'cosine', warmupRatio: 0.1, maxLength: 128 };
    const c = trainConfig(s, 7);
    expect(c.batchSize * c.gradAccum).toBe(16);
    expect(c.maxSteps).toBeNull();
    expect(c.seqLen).toBe(128);
    expect(c.schedule).toBe('cosine');
    expect(c.warmupRatio).toBe(0.1);
    expect(c.lr).toBe(1e-4);
    expect(c.weightDecay).toBe(0.01);
    expect(c.padId).toBe(7);
    expect(c.lora).toEqual({ r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], layers: null, useRslora: false });
    s.train.maxSteps = 25;
    expect(trainConfig(s, 0).maxSteps).toBe(25);
    expect(peftConfig(s.lora, 'HuggingFaceTB/SmolLM2-135M-Instruct')).toMatchObject({ r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'], baseModelNameOrPath: 'HuggingFaceTB/SmolLM2-135M-Instruct' });
    expect(engineLora(s.lora).targets).not.toBe(s.lora.targets); // a copy, never the store's array
  });

  it('pauses until resumed or stopped', async () => {
    const control = new RunControl();
    const signal = new AbortController().signal;
    control.pause();
    let released = false;
    const waiting = control.waitWhilePaused(signal).then(() => (released = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(released).toBe(false);
    control.resume();
    await waiting;
    expect(released).toBe(true);
    control.pause();
    const stopped = control.waitWhilePaused(signal);
    control.stop();
    await stopped;
    expect(control.stopRequested).toBe(true);
  });

  it('turns cancel tokens into AbortSignals', () => {
    const signal = signalFor('t1');
    expect(signal.aborted).toBe(false);
    abortToken('t1');
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).name).toBe('AbortError');
    releaseToken('t1');
    expect(signalFor('t1').aborted).toBe(false);
    abortToken('t2'); // aborted before the call asked for its signal
    expect(signalFor('t2').aborted).toBe(true);
    releaseToken('t2');
  });
});
