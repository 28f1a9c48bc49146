// Cancellation across comlink: an AbortSignal cannot be posted, so the UI passes a token id with
// each long call and aborts it with `api.abort(token)`. The worker turns the id into a real
// AbortSignal for the code it runs.
export class CancelledError extends Error {
  constructor(what: string) {
    super(`${what} was cancelled`);
    this.name = 'AbortError';
  }
}

const controllers = new Map<string, AbortController>();

/** The signal for a token (created on first use). */
export function signalFor(token: string | undefined): AbortSignal {
  if (!token) return new AbortController().signal;
  let c = controllers.get(token);
  if (!c) {
    c = new AbortController();
    controllers.set(token, c);
  }
  return c.signal;
}

export function abortToken(token: string): void {
  let c = controllers.get(token);
  if (!c) {
    c = new AbortController();
    controllers.set(token, c);
  }
  c.abort(new CancelledError('the operation'));
}

/** Forget a token once its call has ended. */
export function releaseToken(token: string | undefined): void {
  if (token) controllers.delete(token);
}

export function throwIfAborted(signal: AbortSignal, what: string): void {
  if (signal.aborted) throw new CancelledError(what);
}

/** Lets the worker's event loop run (so abort, pause and stop messages arrive between steps). */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
