/**
 * trainer_state.json as Hugging Face's Trainer writes it (TrainerState.save_to_json: the dataclass as
 * JSON, indent 2, sorted keys) in each checkpoint-N folder and, after trainer.save_state(), in the
 * output folder: global_step, epoch, max_steps, logging/eval steps, and log_history — one object per
 * log call: {loss, grad_norm, learning_rate, epoch, step}, {eval_loss, eval_…, epoch, step}, and a
 * final {train_loss, train_runtime, …, step}.
 *
 * Python's json writes NaN, Infinity and -Infinity for non-finite floats (a diverged loss); they are
 * read here as null (a metric without a value), never as a number.
 */
import { isJsonObject, parseJsonStrict, type JsonValue } from './json';

export class TrainerStateError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`TrainerStateError: ${file}: ${detail}`);
    this.name = 'TrainerStateError';
  }
}

/** One log_history entry: its step and its numeric metrics (non-finite ones dropped). */
export interface LoggedMetrics {
  step: number;
  metrics: Record<string, number>;
}

export interface TrainerState {
  globalStep: number;
  maxSteps: number | null;
  epoch: number | null;
  log: LoggedMetrics[];
}

/** Python's json text with NaN / Infinity / -Infinity outside strings replaced by null. */
export function pythonJsonToStrict(text: string): string {
  let out = '';
  let i = 0;
  let from = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      i++;
      while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    const rest = text.startsWith('NaN', i) ? 3 : text.startsWith('Infinity', i) ? 8 : text.startsWith('-Infinity', i) ? 9 : 0;
    if (rest) {
      out += text.slice(from, i) + 'null';
      i += rest;
      from = i;
      continue;
    }
    i++;
  }
  return out + text.slice(from);
}

function num(v: JsonValue | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function parseTrainerState(text: string, file = 'trainer_state.json'): TrainerState {
  let json: JsonValue;
  try {
    json = parseJsonStrict(pythonJsonToStrict(text), file);
  } catch (e) {
    throw new TrainerStateError(file, (e as Error).message);
  }
  if (!isJsonObject(json)) throw new TrainerStateError(file, 'is not a JSON object');
  const globalStep = num(json.global_step);
  if (globalStep === null || !Number.isSafeInteger(globalStep) || globalStep < 0) throw new TrainerStateError(file, `global_step ${JSON.stringify(json.global_step)} is not a step count`);
  const history = json.log_history;
  if (!Array.isArray(history)) throw new TrainerStateError(file, 'has no log_history list');
  const log: LoggedMetrics[] = [];
  history.forEach((entry, i) => {
    if (!isJsonObject(entry)) throw new TrainerStateError(file, `log_history[${i}] is not an object`);
    const step = num(entry.step);
    if (step === null || !Number.isSafeInteger(step) || step < 0 || step > globalStep) throw new TrainerStateError(file, `log_history[${i}].step ${JSON.stringify(entry.step)} is not a step of this run (0–${globalStep})`);
    const metrics: Record<string, number> = {};
    for (const [k, v] of Object.entries(entry)) {
      const x = num(v);
      if (k !== 'step' && x !== null) metrics[k] = x;
    }
    log.push({ step, metrics });
  });
  return { globalStep, maxSteps: num(json.max_steps), epoch: num(json.epoch), log };
}

/** What the studio's library keeps of a run's log. */
export interface TrainingSummary {
  steps: number;
  finalLoss: number | null;
  finalValidationLoss: number | null;
  lossCurve: [number, number][];
  validationCurve: [number, number][];
  trainSeconds: number | null;
  /**
   * The last evaluation's metrics as the Trainer logged them (eval_loss, and compute_metrics' eval_accuracy,
   * eval_f1, eval_mse, … for a classifier), without its timings (eval_runtime, eval_*_per_second); null when
   * the run never evaluated.
   */
  finalEval: Record<string, number> | null;
}

/** The Trainer's timings of an evaluation, which are not metrics of the model. */
const EVAL_TIMINGS = new Set(['eval_runtime', 'eval_samples_per_second', 'eval_steps_per_second']);

/** The library's metrics of a Trainer run: the curves of "loss" and "eval_loss" by step (offset by steps trained before). */
export function summarizeTrainerState(state: TrainerState, stepOffset = 0): TrainingSummary {
  const lossCurve: [number, number][] = [];
  const validationCurve: [number, number][] = [];
  let trainSeconds: number | null = null;
  let finalEval: Record<string, number> | null = null;
  for (const { step, metrics } of state.log) {
    if (metrics.loss !== undefined) lossCurve.push([step + stepOffset, metrics.loss]);
    if (metrics.eval_loss !== undefined) validationCurve.push([step + stepOffset, metrics.eval_loss]);
    if (metrics.train_runtime !== undefined) trainSeconds = metrics.train_runtime;
    const evals = Object.entries(metrics).filter(([k]) => k.startsWith('eval_') && !EVAL_TIMINGS.has(k));
    if (evals.length) finalEval = Object.fromEntries(evals);
  }
  return {
    steps: state.globalStep + stepOffset,
    finalLoss: lossCurve.length ? lossCurve[lossCurve.length - 1][1] : null,
    finalValidationLoss: validationCurve.length ? validationCurve[validationCurve.length - 1][1] : null,
    lossCurve,
    validationCurve,
    trainSeconds,
    finalEval,
  };
}
