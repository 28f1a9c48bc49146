// Number formatting for the screens.
export { formatBytes } from '../units';

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return n.toLocaleString('en-US');
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatLoss(x: number | null | undefined): string {
  return x == null || !Number.isFinite(x) ? '—' : x.toFixed(4);
}

export function formatLr(x: number): string {
  return x === 0 ? '0' : x.toExponential(2);
}

/** Epochs done as HF logs them (a fraction), never rounded up past what is done: "2.97". */
export function formatEpochs(epochs: number): string {
  if (!Number.isFinite(epochs) || epochs < 0) return '—';
  return String(Math.floor(epochs * 100 + 1e-6) / 100);
}

/** "2.97 of 3": epochs done of the run's epochs (total steps over steps per epoch when max steps rules). */
export function formatEpoch(epoch: number, totalEpochs: number): string {
  return `${formatEpochs(Math.min(epoch, totalEpochs))} of ${formatEpochs(totalEpochs)}`;
}

/** A metric's name without HF's prefix: eval_accuracy → accuracy, eval_f1 → F1. */
export function metricLabel(name: string): string {
  const bare = name.replace(/^eval_/, '').replace(/_/g, ' ');
  return bare === 'f1' ? 'F1' : bare;
}

/** A metric's value: losses and scores (accuracy, F1, …) to 4 decimals, perplexity to a sensible width. */
export function formatMetric(name: string, v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (/perplexity/.test(name)) return v >= 100 ? v.toFixed(1) : v.toFixed(3);
  if (/loss|accuracy|f1|precision|recall|matthews|auc/.test(name)) return v.toFixed(4);
  return String(Number(v.toPrecision(5)));
}
