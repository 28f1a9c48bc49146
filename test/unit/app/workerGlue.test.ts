// The glue between the studio and the engine that needs no GPU: run control and cancel tokens.
import { describe, expect, it } from 'vitest';
import { RunControl } from '../../../src/engine/train/run';
import { abortToken, releaseToken, signalFor } from '../../../src/worker/cancel';

describe('worker glue', () => {
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
