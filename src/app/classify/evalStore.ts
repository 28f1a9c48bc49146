// The classification side of a run: every evaluation's metrics (eval_accuracy, eval_f1, … or
// eval_mse, eval_pearson) and the latest confusion matrix and per-class figures. A store of its own,
// fed by the controller with the run's events, so the studio store stays as it is.
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { TrainEvent } from '../../worker/protocol';

export interface EvalPoint {
  step: number;
  metrics: Record<string, number>;
}

export interface ClassEval {
  /** One point per evaluation, in step order. */
  points: EvalPoint[];
  confusion: { labels: string[]; counts: number[][] } | null;
  perClass: { label: string; precision: number; recall: number; f1: number; support: number }[] | null;
  reset(): void;
  apply(event: TrainEvent): void;
}

export type ClassEvalStore = StoreApi<ClassEval>;

export function createClassEvalStore(): ClassEvalStore {
  return createStore<ClassEval>()((set) => ({
    points: [],
    confusion: null,
    perClass: null,
    reset: () => set({ points: [], confusion: null, perClass: null }),
    apply: (event) => {
      if (event.type !== 'eval') return;
      const { metrics, result } = event;
      // Only classifiers report these; a language model's evaluations leave the store empty.
      if (!('eval_accuracy' in metrics && ('eval_f1' in metrics)) && !('eval_mse' in metrics)) return;
      set((s) => ({
        points: [...s.points.filter((p) => p.step !== event.step), { step: event.step, metrics: { ...metrics } }].sort((a, b) => a.step - b.step),
        confusion: result.confusion ?? s.confusion,
        perClass: result.perClass ?? s.perClass,
      }));
    },
  }));
}
