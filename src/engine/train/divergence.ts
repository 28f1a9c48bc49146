/**
 * Watches a run for divergence from the step scalars alone (no readback of parameters), and says
 * what it saw. A run is diverging when any of these holds:
 *   - updates cannot be applied: SKIPS steps in a row had a non-finite loss, gradient norm or update;
 *   - parameter magnitudes explode: ‖p‖ grew PARAM_GROWTH× above its value when the run started;
 *   - gradient norms explode: RUN_LENGTH steps in a row above NORM_GROWTH× the median of the first
 *     steps' norms;
 *   - the loss rises: RUN_LENGTH windows in a row whose mean loss is above LOSS_GROWTH× the best
 *     window's (and at least 1 nat above it), or back at or above where the run started after it had
 *     improved — the run has lost what it learned (after at least 3 windows).
 * The loss is judged over windows of LOSS_WINDOW applied steps (token-weighted), whatever the logging
 * interval: one batch's loss swings with what it holds (facts a model knows next to ones it does
 * not), and a run logged every step must not read that as divergence.
 * Thresholds are loose on purpose: ordinary noisy training never comes near them.
 */
import type { StepReport } from './trainer';

export const SKIPS = 3;
export const PARAM_GROWTH = 100;
export const NORM_GROWTH = 1000;
export const LOSS_GROWTH = 3;
export const RUN_LENGTH = 3;
export const LOSS_WINDOW = 10;
const EARLY_STEPS = 10;

export class DivergenceWatch {
  private skipStreak = 0;
  private readonly firstParamNorm: number;
  private earlyNorms: number[] = [];
  private normStreak = 0;
  private bestLoss = Infinity;
  private firstLoss = NaN;
  private losses = 0;
  private lossStreak = 0;
  private window = { loss: 0, targets: 0, steps: 0 };

  /** `initialParamNorm`: ‖p‖ of the trainable parameters before the first step of this run. */
  constructor(initialParamNorm: number) {
    this.firstParamNorm = Math.max(initialParamNorm, 1e-3);
  }

  /** Why the run diverged at this step, or null. */
  step(r: Pick<StepReport, 'step' | 'skipped' | 'reasons' | 'gradNorm' | 'paramNorm'>): string | null {
    this.skipStreak = r.skipped ? this.skipStreak + 1 : 0;
    if (this.skipStreak >= SKIPS) return `${this.skipStreak} steps in a row could not be applied (${r.reasons.join('; ')})`;
    if (r.skipped) return null;
    if (Number.isFinite(r.paramNorm) && r.paramNorm > PARAM_GROWTH * this.firstParamNorm) {
      return `the adapter's parameter norm grew from ${this.firstParamNorm.toPrecision(3)} to ${r.paramNorm.toPrecision(3)} (×${PARAM_GROWTH} or more)`;
    }
    if (Number.isFinite(r.gradNorm)) {
      if (this.earlyNorms.length < EARLY_STEPS) this.earlyNorms.push(r.gradNorm);
      else {
        const sorted = [...this.earlyNorms].sort((a, b) => a - b);
        const median = Math.max(sorted[sorted.length >> 1], 1e-12);
        this.normStreak = r.gradNorm > NORM_GROWTH * median ? this.normStreak + 1 : 0;
        if (this.normStreak >= RUN_LENGTH) return `the gradient norm exploded to ${r.gradNorm.toPrecision(3)} (over ×${NORM_GROWTH} the early median ${median.toPrecision(3)}) for ${this.normStreak} steps`;
      }
    }
    return null;
  }

  /**
   * One applied step's mean loss over its `targets` trained tokens; every LOSS_WINDOW steps the
   * window's token-weighted mean is judged. Why the run diverged, or null.
   */
  loss(loss: number, targets: number): string | null {
    if (!Number.isFinite(loss) || !(targets > 0)) return null;
    const w = this.window;
    w.loss += loss * targets;
    w.targets += targets;
    if (++w.steps < LOSS_WINDOW) return null;
    const mean = w.loss / w.targets;
    this.window = { loss: 0, targets: 0, steps: 0 };
    return this.judge(mean);
  }

  private judge(loss: number): string | null {
    this.losses++;
    if (Number.isNaN(this.firstLoss)) this.firstLoss = loss;
    const exploded = loss > LOSS_GROWTH * this.bestLoss && loss > this.bestLoss + 1;
    const undone = this.bestLoss < this.firstLoss - 0.1 && loss >= this.firstLoss;
    const rising = this.losses > 3 && (exploded || undone);
    this.lossStreak = rising ? this.lossStreak + 1 : 0;
    this.bestLoss = Math.min(this.bestLoss, loss);
    if (this.lossStreak >= RUN_LENGTH) {
      return `the loss rose to ${loss.toFixed(4)} from its best ${this.bestLoss.toFixed(4)} (it started at ${this.firstLoss.toFixed(4)}) over ${this.lossStreak} windows of ${LOSS_WINDOW} steps`;
    }
    return null;
  }
}
