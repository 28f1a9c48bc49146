// The playground for an encoder: type a text (or a pair), see the class probabilities of the base
// head and of the tuned adapter side by side (sigmoids for multi-label, the outputs for regression).
import { useEffect, useState } from 'react';
import { useController, useStudio } from '../context';
import type { ClassifyResult } from '../../worker/protocol';

function Bars({ labels, values, problemType, testid }: { labels: string[]; values: number[]; problemType: ClassifyResult['problemType']; testid: string }) {
  const best = values.indexOf(Math.max(...values));
  return (
    <ul className="plain bars" data-testid={testid} data-top={problemType === 'regression' ? '' : labels[best]}>
      {labels.map((l, i) => (
        <li key={l} className={i === best && problemType !== 'regression' ? 'top' : ''}>
          <span className="bar-label">{l}</span>
          {problemType === 'regression' ? (
            <strong data-value={values[i]}>{values[i].toFixed(4)}</strong>
          ) : (
            <>
              <span className="bar" aria-hidden="true"><span style={{ width: `${(values[i] * 100).toFixed(1)}%` }} /></span>
              <span className="bar-value" data-value={values[i]}>{(values[i] * 100).toFixed(1)}%</span>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

export function ClassifyPanel() {
  const c = useController();
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const trainingStatus = useStudio((s) => s.training.status);
  const [text, setText] = useState('');
  const [pair, setPair] = useState('');
  const [result, setResult] = useState<ClassifyResult | null>(null);
  const [busy, setBusy] = useState(false);
  const [tunedLabel, setTunedLabel] = useState<string | null>(null);
  useEffect(() => {
    void c.engine.tunedLabel().then(setTunedLabel);
  }, [c, trainingStatus]);
  const run = async () => {
    setBusy(true);
    try {
      setResult(await c.engine.classify(text, pair.trim() ? pair : null));
    } catch (error) {
      c.store.getState().notify('error', `Classification failed: ${(error as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const what = result?.problemType === 'multi_label_classification' ? 'label probabilities (each on its own)' : result?.problemType === 'regression' ? 'predicted values' : 'class probabilities';
  return (
    <section className="screen" aria-labelledby="play-title">
      <h2 id="play-title">Playground: classify a text</h2>
      <form className="panel" onSubmit={(e) => { e.preventDefault(); if (text.trim() && !busy) void run(); }}>
        <label htmlFor="classify-text">Text</label>
        <textarea id="classify-text" data-testid="classify-text" rows={2} value={text} onChange={(e) => setText(e.target.value)} placeholder="e.g. a truly wonderful concert" />
        <label htmlFor="classify-pair">Second text (optional: sentence-pair tasks)</label>
        <input id="classify-pair" type="text" value={pair} onChange={(e) => setPair(e.target.value)} />
        <div className="row">
          <button type="submit" className="primary" data-testid="classify" disabled={!modelReady || busy || !text.trim()}>{busy ? 'Classifying…' : 'Classify'}</button>
          {result && <span className="hint">{result.tokens} tokens{result.truncated ? ' (cut to the model’s positions)' : ''} · {what}</span>}
        </div>
      </form>
      <div className="grid two">
        <div className="panel answer">
          <h3>Base model and its new head</h3>
          {result ? <Bars labels={result.labels} values={result.base} problemType={result.problemType} testid="classify-base" /> : <p className="hint">—</p>}
        </div>
        <div className="panel answer">
          <h3>With adapter{tunedLabel ? `: ${tunedLabel}` : ''}</h3>
          {result?.tuned ? <Bars labels={result.labels} values={result.tuned} problemType={result.problemType} testid="classify-tuned" /> : <p className="hint">{tunedLabel ? '—' : 'Train an adapter, or choose “Try” in the Library.'}</p>}
        </div>
      </div>
    </section>
  );
}
