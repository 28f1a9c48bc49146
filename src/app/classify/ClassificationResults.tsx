// The training screen's classification panel: metrics as they come in, the confusion matrix as a
// picture and the per-class table (compute_metrics' classification report). Renders nothing for a
// language model's run.
import { useStore } from 'zustand';
import { useController, useStudio } from '../context';
import { ConfusionMatrix } from './ConfusionMatrix';
import { MetricsChart } from './MetricsChart';

const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(3));

export function ClassificationResults() {
  const c = useController();
  const points = useStore(c.classEval, (s) => s.points);
  const confusion = useStore(c.classEval, (s) => s.confusion);
  const perClass = useStore(c.classEval, (s) => s.perClass);
  const totalSteps = useStudio((s) => s.training.totalSteps);
  if (!points.length) return null;
  const last = points.at(-1)!.metrics;
  return (
    <div className="panel" data-testid="classification-results">
      <h3>Validation metrics</h3>
      <dl className="facts inline" data-testid="latest-metrics">
        {Object.entries(last).map(([k, v]) => (
          <span key={k} style={{ display: 'contents' }}>
            <dt>{k.replace(/^eval_/, '')}</dt>
            <dd data-testid={`metric-value-${k}`} data-value={v}>{fmt(v)}</dd>
          </span>
        ))}
      </dl>
      <MetricsChart points={points} totalSteps={totalSteps} />
      {(confusion || perClass) && (
        <div className="grid two">
          {confusion && <ConfusionMatrix labels={confusion.labels} counts={confusion.counts} />}
          {perClass && (
            <div className="table-wrap">
              <table data-testid="per-class">
                <thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>examples</th></tr></thead>
                <tbody>
                  {perClass.map((r) => (
                    <tr key={r.label}><td>{r.label}</td><td>{fmt(r.precision)}</td><td>{fmt(r.recall)}</td><td>{fmt(r.f1)}</td><td>{r.support}</td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </div>
  );
}
