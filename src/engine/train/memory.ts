/**
 * The run planner: from the effective batch, the max length and the device's memory budget it
 * picks the micro-batch (with gradient accumulation keeping the effective batch) and whether to
 * recompute activations, and when nothing fits it says which setting to change to what — with the
 * change itself, so a front end can apply it in one click. Sequence length is the last resort.
 *
 * WebGPU does not report how much memory a device has, so the budget is an input (the studio
 * guesses from the adapter; the CLI takes a flag). What WebGPU does report, maxBufferSize, bounds
 * every single buffer. The bytes of a configuration come from the model family (MemoryPlan).
 */
import { BASE_WEIGHTS_LABEL, microBatchChoices, type BaseWeights, type Checkpointing, type RunSettings } from '../../settings/settings';
import { formatBytes } from '../../units';
import type { WeightFormat } from '../kernels/quant/layout';
import type { MemoryConfig, MemoryPlan } from '../model/model';

export type { MemoryPlan, WeightFormat };

export interface PlanLimits {
  /** Total bytes the run may use. */
  budgetBytes: number;
  maxBufferSize: number;
}

export interface PlanRequest {
  /** Bytes of one configuration with the frozen base stored in `weights`, from the model family. */
  memory: (cfg: MemoryConfig, weights: WeightFormat) => MemoryPlan;
  /** The base precision setting: a format, or auto (the most precise of `formats` that fits). */
  weights: BaseWeights;
  /** The precisions this model can be stored in on this device, most precise first. */
  formats: readonly WeightFormat[];
  /** Effective batch (rows per optimizer step). */
  batchSize: number;
  /** Rows per pass; 0 = the planner picks a divisor of batchSize. */
  microBatch: number;
  /** Tokens per row the run will use (max length cut to the data's longest row and the model's positions). */
  seqLen: number;
  checkpointing: Checkpointing;
  /** The user's max-length setting (the fix may lower it). */
  maxLength: number;
}

/** Settings that make a plan fit, for a one-click fix. */
export type PlanFix = { microBatch?: number; gradientCheckpointing?: Checkpointing; maxLength?: number; weights?: BaseWeights };

export interface RunPlan {
  /** How the frozen base is stored (the setting, or what auto chose). */
  weights: WeightFormat;
  /** One line for the front ends: "Base weights: 4-bit NF4 (the most precise that fits 2.0 GiB)". */
  weightsNote: string;
  microBatch: number;
  gradAccum: number;
  checkpointing: boolean;
  seqLen: number;
  memory: MemoryPlan;
  fits: boolean;
  /** Why the planner chose what it chose ("micro-batch 4 × 4 to stay within 2.0 GiB"). */
  reasons: string[];
  /** When it does not fit: what to change, in words, and the change. */
  advice: string | null;
  fix: PlanFix | null;
}

export class PlanError extends Error {
  constructor(readonly plan: RunPlan) {
    super(`PlanError: ${plan.advice}`);
    this.name = 'PlanError';
  }
}

function fitsIn(plan: MemoryPlan, limits: PlanLimits): boolean {
  return plan.total <= limits.budgetBytes && plan.largestBuffer <= limits.maxBufferSize;
}

function tooBig(plan: MemoryPlan, limits: PlanLimits): string {
  if (plan.largestBuffer > limits.maxBufferSize) return `${plan.largestBufferName} needs one ${formatBytes(plan.largestBuffer)} buffer but this GPU allows at most ${formatBytes(limits.maxBufferSize)}`;
  return `needs ${formatBytes(plan.total)} of GPU memory but ${formatBytes(limits.budgetBytes)} is available`;
}

/**
 * The best configuration that fits. The base precision first: the one asked for, or with auto the
 * most precise of the device's formats whose best configuration fits. Then the largest micro-batch
 * (dividing the batch, so the effective batch stays the user's) without recomputation, else with
 * it. When nothing fits, the advice names the first change that does, trying the micro-batch, then
 * checkpointing, then a less precise base, and the sequence length only last.
 */
export function planRun(req: PlanRequest, limits: PlanLimits): RunPlan {
  const label = (f: WeightFormat) => BASE_WEIGHTS_LABEL[f];
  if (req.weights !== 'auto') {
    if (!req.formats.includes(req.weights)) {
      const plan = planAt(req, req.formats[0], limits);
      const advice = `${label(req.weights)} weights need the shader-f16 feature, which this GPU lacks: choose auto or one of ${req.formats.join(', ')}`;
      return { ...plan, weights: req.weights, weightsNote: `Base weights: ${label(req.weights)} (not available on this GPU)`, fits: false, reasons: [], advice, fix: { weights: 'auto' } };
    }
    const plan = planAt(req, req.weights, limits);
    return { ...plan, weightsNote: `Base weights: ${label(req.weights)}, as set` };
  }
  const budget = formatBytes(limits.budgetBytes);
  let previous: RunPlan | null = null;
  for (const f of req.formats) {
    const plan = planAt(req, f, limits, false);
    if (plan.fits) {
      const why = previous ? `; ${label(previous.weights)} would need ${formatBytes(previous.memory.total)}` : '';
      return { ...plan, weightsNote: `Base weights: ${label(f)} (the most precise that fits ${budget}${why})` };
    }
    previous = plan;
  }
  const last = req.formats[req.formats.length - 1];
  return { ...planAt(req, last, limits), weightsNote: `Base weights: ${label(last)} (the least memory; even so the run does not fit ${budget})` };
}

/** The best configuration with the base stored in `format`, and the advice when none fits. */
function planAt(req: PlanRequest, format: WeightFormat, limits: PlanLimits, advise = true): RunPlan {
  const staged = (mb: number) => Math.max(1, Math.round(req.batchSize / mb));
  const cfg = (mb: number, cp: boolean, seqLen = req.seqLen): MemoryConfig => ({ batchSize: mb, seqLen, gradientCheckpointing: cp, kvCacheTokens: 0, stagedBatches: staged(mb) });
  const memory = (c: MemoryConfig, f = format) => req.memory(c, f);
  const mbs = req.microBatch > 0 ? [req.microBatch] : microBatchChoices(req.batchSize);
  const cps = req.checkpointing === 'on' ? [true] : req.checkpointing === 'off' ? [false] : [false, true];
  const make = (mb: number, cp: boolean, fits: boolean, reasons: string[], advice: string | null = null, fix: PlanFix | null = null, seqLen = req.seqLen): RunPlan => ({
    weights: format, weightsNote: '', microBatch: mb, gradAccum: staged(mb), checkpointing: cp, seqLen, memory: memory(cfg(mb, cp, seqLen)), fits, reasons, advice, fix,
  });
  for (const cp of cps) {
    for (const mb of mbs) {
      const plan = memory(cfg(mb, cp));
      if (!fitsIn(plan, limits)) continue;
      const reasons: string[] = [];
      if (mb < req.batchSize) {
        reasons.push(req.microBatch > 0
          ? `micro-batch ${mb} × ${staged(mb)} accumulation steps = batch ${req.batchSize}`
          : `micro-batch ${mb} × ${staged(mb)} accumulation steps = batch ${req.batchSize}: a larger micro-batch would need ${formatBytes(memory(cfg(mbs[Math.max(0, mbs.indexOf(mb) - 1)], cp)).total)}, more than the ${formatBytes(limits.budgetBytes)} available`);
      }
      if (cp && req.checkpointing === 'auto') reasons.push(`gradient checkpointing on: without it even micro-batch ${mbs[mbs.length - 1]} would need ${formatBytes(memory(cfg(mbs[mbs.length - 1], false)).total)}`);
      return make(mb, cp, true, reasons);
    }
  }
  if (!advise) return make(mbs[0], cps[0], false, []);
  // Nothing fits as asked: find the smallest change that does.
  const first = memory(cfg(mbs[0], cps[0]));
  const need = `This configuration ${tooBig(first, limits)}`;
  if (req.microBatch > 0) {
    for (const cp of req.checkpointing === 'off' ? [false] : [false, true]) {
      for (const mb of microBatchChoices(req.batchSize)) {
        if (fitsIn(memory(cfg(mb, cp)), limits)) {
          return make(req.microBatch, cps[0], false, [], `${need}: lower the micro-batch from ${req.microBatch} to ${mb} (or 0 for auto)`, { microBatch: 0 });
        }
      }
    }
  }
  if (req.checkpointing === 'off') {
    for (const mb of microBatchChoices(req.batchSize)) {
      if (fitsIn(memory(cfg(mb, true)), limits)) {
        return make(mbs[0], false, false, [], `${need}: turn gradient checkpointing on (auto)`, { gradientCheckpointing: 'auto', ...(req.microBatch > 0 ? { microBatch: 0 } : {}) });
      }
    }
  }
  // A less precise base (before a shorter sequence), with the micro-batch and checkpointing left to the planner.
  if (req.weights !== 'auto') {
    for (const f of req.formats.slice(req.formats.indexOf(format) + 1)) {
      if (microBatchChoices(req.batchSize).some((mb) => fitsIn(memory(cfg(mb, true), f), limits))) {
        const fix: PlanFix = { weights: 'auto', ...(req.microBatch > 0 ? { microBatch: 0 } : {}), ...(req.checkpointing === 'off' ? { gradientCheckpointing: 'auto' as const } : {}) };
        return make(mbs[0], cps[0], false, [], `${need}: store the base in ${BASE_WEIGHTS_LABEL[f]} (base precision auto)`, fix);
      }
    }
  }
  // Memory grows with the length: the longest multiple of 8 that fits, by bisection.
  if (fitsIn(memory(cfg(1, true, 8)), limits)) {
    let lo = 8;
    let hi = Math.max(8, Math.floor((req.seqLen - 1) / 8) * 8);
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 16) * 8;
      if (fitsIn(memory(cfg(1, true, mid)), limits)) lo = mid;
      else hi = mid - 8;
    }
    return make(mbs[0], cps[0], false, [], `${need}: lower the max length from ${req.maxLength} to ${lo} tokens (with micro-batch 1 and gradient checkpointing)`, { maxLength: lo, microBatch: 0, gradientCheckpointing: 'auto' });
  }
  const weights = first.weights;
  return make(mbs[0], cps[0], false, [], `${need}; even one row of 8 tokens does not fit: the model's weights alone take ${formatBytes(weights)}`, null);
}

/** The tokens per row a run uses: the max length, cut to the data's longest row and the model's positions. */
export function runSeqLen(settings: Pick<RunSettings, 'train'>, longestRow: number, maxPositions: number): number {
  return Math.max(2, Math.min(settings.train.maxLength, longestRow > 0 ? longestRow : settings.train.maxLength, maxPositions));
}
