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
import { microBatchChoices, type Checkpointing, type RunSettings } from '../../settings/settings';
import type { MemoryConfig, MemoryPlan } from '../model/model';

export type { MemoryPlan };

const F32 = 4;

/** Bound of one chunk of LM-head logits during training ([rows, V] f32); the model sizes its chunk with it. */
export const LOGITS_CHUNK_BYTES = 16 << 20;

/**
 * Tokens per LM-head logits chunk, exactly as LlamaGpu sizes it (lmheadChunkRows with
 * LOGITS_CHUNK_BYTES): callers of the planner pass this as `logitsChunkTokens`.
 */
export function logitsChunkTokens(vocabSize: number, tokens: number, maxStorageBufferBindingSize: number): number {
  const bytes = Math.min(LOGITS_CHUNK_BYTES, maxStorageBufferBindingSize);
  return Math.max(1, Math.min(tokens, Math.floor(bytes / (vocabSize * F32))));
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

export interface PlanLimits {
  /** Total bytes the run may use. */
  budgetBytes: number;
  maxBufferSize: number;
}

export interface PlanRequest {
  /** Bytes of one configuration, from the model family. */
  memory: (cfg: MemoryConfig) => MemoryPlan;
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
export type PlanFix = { microBatch?: number; gradientCheckpointing?: Checkpointing; maxLength?: number };

export interface RunPlan {
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
 * The best configuration that fits: the largest micro-batch (dividing the batch, so the effective
 * batch stays the user's) without recomputation, else with it; when nothing fits at this length,
 * the advice names the first change that fits, trying the micro-batch, then checkpointing, and the
 * sequence length only last.
 */
export function planRun(req: PlanRequest, limits: PlanLimits): RunPlan {
  const staged = (mb: number) => Math.max(1, Math.round(req.batchSize / mb));
  const cfg = (mb: number, cp: boolean, seqLen = req.seqLen): MemoryConfig => ({ batchSize: mb, seqLen, gradientCheckpointing: cp, kvCacheTokens: 0, stagedBatches: staged(mb) });
  const mbs = req.microBatch > 0 ? [req.microBatch] : microBatchChoices(req.batchSize);
  const cps = req.checkpointing === 'on' ? [true] : req.checkpointing === 'off' ? [false] : [false, true];
  const make = (mb: number, cp: boolean, fits: boolean, reasons: string[], advice: string | null = null, fix: PlanFix | null = null, seqLen = req.seqLen): RunPlan => ({
    microBatch: mb, gradAccum: staged(mb), checkpointing: cp, seqLen, memory: req.memory(cfg(mb, cp, seqLen)), fits, reasons, advice, fix,
  });
  for (const cp of cps) {
    for (const mb of mbs) {
      const plan = req.memory(cfg(mb, cp));
      if (!fitsIn(plan, limits)) continue;
      const reasons: string[] = [];
      if (mb < req.batchSize) {
        reasons.push(req.microBatch > 0
          ? `micro-batch ${mb} × ${staged(mb)} accumulation steps = batch ${req.batchSize}`
          : `micro-batch ${mb} × ${staged(mb)} accumulation steps = batch ${req.batchSize}: a larger micro-batch would need ${formatBytes(req.memory(cfg(mbs[Math.max(0, mbs.indexOf(mb) - 1)], cp)).total)}, more than the ${formatBytes(limits.budgetBytes)} available`);
      }
      if (cp && req.checkpointing === 'auto') reasons.push(`gradient checkpointing on: without it even micro-batch ${mbs[mbs.length - 1]} would need ${formatBytes(req.memory(cfg(mbs[mbs.length - 1], false)).total)}`);
      return make(mb, cp, true, reasons);
    }
  }
  // Nothing fits as asked: find the smallest change that does.
  const first = req.memory(cfg(mbs[0], cps[0]));
  const need = `This configuration ${tooBig(first, limits)}`;
  if (req.microBatch > 0) {
    for (const cp of req.checkpointing === 'off' ? [false] : [false, true]) {
      for (const mb of microBatchChoices(req.batchSize)) {
        if (fitsIn(req.memory(cfg(mb, cp)), limits)) {
          return make(req.microBatch, cps[0], false, [], `${need}: lower the micro-batch from ${req.microBatch} to ${mb} (or 0 for auto)`, { microBatch: 0 });
        }
      }
    }
  }
  if (req.checkpointing === 'off') {
    for (const mb of microBatchChoices(req.batchSize)) {
      if (fitsIn(req.memory(cfg(mb, true)), limits)) {
        return make(mbs[0], false, false, [], `${need}: turn gradient checkpointing on (auto)`, { gradientCheckpointing: 'auto', ...(req.microBatch > 0 ? { microBatch: 0 } : {}) });
      }
    }
  }
  // Memory grows with the length: the longest multiple of 8 that fits, by bisection.
  if (fitsIn(req.memory(cfg(1, true, 8)), limits)) {
    let lo = 8;
    let hi = Math.max(8, Math.floor((req.seqLen - 1) / 8) * 8);
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 16) * 8;
      if (fitsIn(req.memory(cfg(1, true, mid)), limits)) lo = mid;
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
