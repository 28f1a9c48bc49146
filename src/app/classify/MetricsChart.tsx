// Validation metrics over the run, drawn live as SVG: accuracy and F1 (or Pearson's r for a
// regression) on a 0–1 scale, one dot per evaluation.
import type { EvalPoint } from './evalStore';

const W = 640;
const H = 220;
const PAD = { left: 44, right: 16, top: 12, bottom: 30 };

const SERIES: { key: string; label: string; className: string }[] = [
  { key: 'eval_accuracy', label: 'accuracy', className: 'train' },
  { key: 'eval_f1', label: 'F1', className: 'validation' },
  { key: 'eval_pearson', label: 'Pearson r', className: 'train' },
];

export function MetricsChart({ points, totalSteps }: { points: EvalPoint[]; totalSteps: number }) {
  const maxStep = Math.max(totalSteps, ...points.map((p) => p.step), 1);
  const x = (step: number) => PAD.left + (step / maxStep) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - Math.max(0, Math.min(1, v))) * (H - PAD.top - PAD.bottom);
  const series = SERIES.filter((s) => points.some((p) => Number.isFinite(p.metrics[s.key])));
  const last = points.at(-1);
  return (
    <figure className="chart" data-testid="metrics-chart" data-points={points.length} data-last-accuracy={last?.metrics.eval_accuracy ?? ''}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Validation metrics: ${points.length} evaluations${last ? `, latest ${series.map((s) => `${s.label} ${last.metrics[s.key]?.toFixed(3)}`).join(', ')}` : ''}`}>
        {[0, 0.25, 0.5, 0.75, 1].map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="grid" />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" className="tick">{t.toFixed(2)}</text>
          </g>
        ))}
        {series.map((s) => {
          const pts = points.filter((p) => Number.isFinite(p.metrics[s.key]));
          return (
            <g key={s.key} data-testid={`metric-${s.key}`}>
              <path d={pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.metrics[s.key]).toFixed(1)}`).join('')} className={`line ${s.className}`} />
              {pts.map((p) => <circle key={p.step} cx={x(p.step)} cy={y(p.metrics[s.key])} r={3} className={`dot ${s.className}`} />)}
            </g>
          );
        })}
        <text x={W - PAD.right} y={H - 8} textAnchor="end" className="tick">step {maxStep}</text>
      </svg>
      <figcaption>
        {series.map((s) => <span key={s.key} className={`legend ${s.className}`}>validation {s.label}</span>)}
        <span>x: optimizer step</span>
      </figcaption>
    </figure>
  );
}
