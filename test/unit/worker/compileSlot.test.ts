// The worker's one background compile at a time (src/worker/compileSlot.ts), with works that are
// plain promises the test settles by hand: who waits for whom, who hears which progress, and what
// a cancel lets go of (the caller at once; the work only when it ends).
import { describe, expect, it } from 'vitest';
import { CompileSlot, type CompileProgress } from '../../../src/worker/compileSlot';

/** A work the test finishes: it reports progress through `report` and ends with `finish`/`fail`. */
function manualWork(log: string[], name: string) {
  let report: CompileProgress = () => {};
  let finish!: (v: string) => void;
  let fail!: (e: Error) => void;
  let started = false;
  let signal: AbortSignal | undefined;
  const work = (onProgress: CompileProgress, s: AbortSignal | undefined) => {
    started = true;
    signal = s;
    report = onProgress;
    log.push(`start ${name}`);
    return new Promise<string>((resolve, reject) => {
      finish = (v) => {
        log.push(`end ${name}`);
        resolve(v);
      };
      fail = (e) => {
        log.push(`fail ${name}`);
        reject(e);
      };
    });
  };
  return { work, report: (d: number, t: number) => report(d, t), finish: (v: string) => finish(v), fail: (e: Error) => fail(e), get started() { return started; }, get signal() { return signal; } };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('CompileSlot', () => {
  it('runs one work at a time: another key waits for the one in flight, hearing its progress, then its own', async () => {
    const slot = new CompileSlot<string>();
    const log: string[] = [];
    const a = manualWork(log, 'a');
    const b = manualWork(log, 'b');
    const heardB: string[] = [];
    const ra = slot.run('A', a.work);
    const rb = slot.run('B', b.work, { onProgress: (d, t) => heardB.push(`${d}/${t}`) });
    await tick();
    expect(slot.inFlight).toBe('A');
    expect(b.started).toBe(false);
    a.report(1, 3);
    a.finish('a done');
    expect(await ra).toBe('a done');
    await tick();
    expect(b.started).toBe(true);
    expect(slot.inFlight).toBe('B');
    b.report(0, 2);
    b.finish('b done');
    expect(await rb).toBe('b done');
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b']);
    expect(heardB).toEqual(['1/3', '0/2']);
    await tick();
    expect(slot.inFlight).toBeNull();
  });

  it('a call for the key in flight joins it: the work runs once, the joiner hears its latest progress at once', async () => {
    const slot = new CompileSlot<string>();
    const log: string[] = [];
    const a = manualWork(log, 'a');
    const first = slot.run('A', a.work);
    await tick();
    a.report(2, 5);
    const heard: string[] = [];
    const second = slot.run('A', () => Promise.reject(new Error('a second work must not start')), { onProgress: (d, t) => heard.push(`${d}/${t}`) });
    await tick();
    a.report(3, 5);
    a.finish('once');
    expect(await first).toBe('once');
    expect(await second).toBe('once');
    expect(heard).toEqual(['2/5', '3/5']);
    expect(log).toEqual(['start a', 'end a']);
  });

  it("a cancelled call lets go at once, but its work runs on and the next waits for the work's end", async () => {
    const slot = new CompileSlot<string>();
    const log: string[] = [];
    const a = manualWork(log, 'a');
    const b = manualWork(log, 'b');
    const cancel = new AbortController();
    const ra = slot.run('A', a.work, { signal: cancel.signal });
    await tick();
    expect(a.signal).toBe(cancel.signal); // the work hears the cancel too (it checks before it allocates)
    cancel.abort();
    const error = await ra.catch((e) => e);
    expect(error.name).toBe('AbortError');
    const rb = slot.run('B', b.work);
    await tick();
    expect(b.started).toBe(false); // the workspace of A's work is not freed yet
    a.finish('a finished anyway');
    await tick();
    await tick();
    expect(b.started).toBe(true);
    b.finish('b');
    expect(await rb).toBe('b');
  });

  it('settle waits for every work in flight and never rejects on their failures; only its own signal ends it early', async () => {
    const slot = new CompileSlot<string>();
    const log: string[] = [];
    const a = manualWork(log, 'a');
    const ra = slot.run('A', a.work).catch((e: Error) => e.message);
    await tick();
    const heard: string[] = [];
    let settled = false;
    const settling = slot.settle((d, t) => heard.push(`${d}/${t}`)).then(() => (settled = true));
    a.report(4, 4);
    await tick();
    expect(settled).toBe(false);
    a.fail(new Error('plan does not fit'));
    await settling;
    expect(await ra).toBe('plan does not fit');
    expect(heard).toEqual(['4/4']);
    await slot.settle(); // nothing in flight: at once

    const c = manualWork(log, 'c');
    void slot.run('C', c.work);
    await tick();
    const cancel = new AbortController();
    const waiting = slot.settle(undefined, cancel.signal).catch((e) => e);
    cancel.abort();
    expect((await waiting).name).toBe('AbortError');
    c.finish('c');
  });

  it('mayStart refuses a work after the wait (a run began meanwhile); the refusal is the caller’s error', async () => {
    const slot = new CompileSlot<string>();
    const log: string[] = [];
    const a = manualWork(log, 'a');
    const b = manualWork(log, 'b');
    let running = false;
    void slot.run('A', a.work);
    const rb = slot.run('B', b.work, { mayStart: () => { if (running) throw new Error('a run is in progress'); } });
    await tick();
    running = true;
    a.finish('a');
    expect(((await rb.catch((e: Error) => e)) as Error).message).toBe('a run is in progress');
    expect(b.started).toBe(false);
    expect(slot.inFlight).toBeNull();
  });

  it('a joiner whose starter cancelled starts the work again for itself', async () => {
    const slot = new CompileSlot<string>();
    const log: string[] = [];
    const a = manualWork(log, 'a');
    const cancel = new AbortController();
    let attempt = 0;
    const again = manualWork(log, 'again');
    const starter = slot.run('A', (p, s) => {
      attempt++;
      return a.work(p, s);
    }, { signal: cancel.signal }).catch((e) => e);
    await tick();
    const joiner = slot.run('A', (p, s) => {
      attempt++;
      return again.work(p, s);
    });
    await tick();
    cancel.abort();
    expect((await starter).name).toBe('AbortError');
    // The starter's work notices the cancel (as compileRun does before it allocates) and ends.
    a.fail(new Error('cancelled'));
    await tick();
    await tick();
    expect(again.started).toBe(true);
    again.finish('for the joiner');
    expect(await joiner).toBe('for the joiner');
    expect(attempt).toBe(2);
  });
});
