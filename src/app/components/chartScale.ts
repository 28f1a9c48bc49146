// Axis scales for the loss chart: "nice" ticks (1, 2, 2.5 or 5 times a power of ten) whose labels
// carry as many digits as the step needs, so a narrow range (6.21 … 6.29) never reads "6.2, 6.2",
// and a domain that ends on ticks, so every point lies inside the plot.

export interface Scale {
  /** The domain: the first and last tick, around every value. */
  lo: number;
  hi: number;
  step: number;
  ticks: number[];
  /** Decimals every tick label needs to differ from its neighbours. */
  decimals: number;
}

const MANTISSAS = [1, 2, 2.5, 5, 10];

function niceStep(raw: number): number {
  const mag = 10 ** Math.floor(Math.log10(raw));
  return (MANTISSAS.find((m) => m * mag >= raw * (1 - 1e-9)) ?? 10) * mag;
}

/** Digits after the point that a step needs (0.25 needs 2, 0.2 needs 1, 5 needs 0). */
export function stepDecimals(step: number): number {
  for (let d = 0; d < 15; d++) {
    if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-6) return d;
  }
  return 15;
}

/**
 * About `count` intervals over [min, max]. `integer` keeps the step a whole number (optimizer
 * steps); `floor` is a bound the domain never crosses (losses are never negative).
 */
export function niceScale(min: number, max: number, count: number, opts: { integer?: boolean; floor?: number } = {}): Scale {
  let lo = Number.isFinite(min) ? min : 0;
  let hi = Number.isFinite(max) ? max : 1;
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi - lo < Math.max(Math.abs(hi), 1) * 1e-9) {
    // One value (or all equal): a small window around it.
    const pad = opts.integer ? 1 : Math.max(Math.abs(hi) * 0.01, 1e-3);
    lo -= pad;
    hi += pad;
  }
  let step = niceStep((hi - lo) / Math.max(1, count));
  if (opts.integer) step = Math.max(1, Math.round(step));
  let first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  if (opts.floor !== undefined && first < opts.floor) first = Math.max(opts.floor, Math.floor(opts.floor / step) * step);
  const decimals = stepDecimals(step);
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    const v = Number((first + i * step).toFixed(Math.min(decimals + 2, 15)));
    if (v > last + step * 1e-6) break;
    ticks.push(v);
  }
  return { lo: ticks[0], hi: ticks[ticks.length - 1], step, ticks, decimals };
}

export function tickLabel(scale: Scale, v: number): string {
  return v.toFixed(scale.decimals);
}
