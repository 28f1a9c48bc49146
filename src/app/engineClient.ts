import { wrap, type Remote } from 'comlink';
import type { WorkerApi } from '../worker/api';

/** The worker, wrapped once for the whole UI. */
export function createEngineClient(): Remote<WorkerApi> {
  const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module', name: 'trainer' });
  return wrap<WorkerApi>(worker);
}
