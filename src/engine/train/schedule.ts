/**
 * Learning-rate schedules as Hugging Face's get_*_schedule_with_warmup define them: the LR of
 * optimizer step k (0-based) is lr · λ(k).
 */
export type ScheduleKind = 'linear' | 'cosine' | 'constant';
export const SCHEDULES: readonly ScheduleKind[] = ['linear', 'cosine', 'constant'];

export interface Schedule {
  kind: ScheduleKind;
  lr: number;
  warmupSteps: number;
  totalSteps: number;
}

export function scheduleMultiplier(s: Omit<Schedule, 'lr'>, step: number): number {
  const warmup = Math.max(0, Math.floor(s.warmupSteps));
  if (step < warmup) return step / Math.max(1, warmup);
  if (s.kind === 'constant') return 1;
  const total = Math.max(1, s.totalSteps);
  if (s.kind === 'linear') return Math.max(0, (total - step) / Math.max(1, total - warmup));
  const progress = (step - warmup) / Math.max(1, total - warmup);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress))));
}

export function learningRate(s: Schedule, step: number): number {
  return s.lr * scheduleMultiplier(s, step);
}

/** Warmup given as a ratio of the total (HF's warmup_ratio) or as steps; steps win when both are set. */
export function warmupSteps(totalSteps: number, opts: { warmupSteps?: number; warmupRatio?: number }): number {
  if (opts.warmupSteps !== undefined) return Math.max(0, Math.floor(opts.warmupSteps));
  return Math.ceil(totalSteps * (opts.warmupRatio ?? 0));
}
