import { useEffect, useState } from 'react';
import { useController, useStudio } from '../context';

export function PlaygroundScreen() {
  const c = useController();
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const trainingStatus = useStudio((s) => s.training.status);
  const [prompt, setPrompt] = useState(() => c.playgroundPrompt());
  const [base, setBase] = useState('');
  const [tuned, setTuned] = useState('');
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [tunedLabel, setTunedLabel] = useState<string | null>(null);
  const [maxNew, setMaxNew] = useState(48);
  const [temperature, setTemperature] = useState(0);
  useEffect(() => {
    void c.engine.tunedLabel().then(setTunedLabel);
  }, [c, trainingStatus]);
  const run = async () => {
    setBusy(true);
    setDone(false);
    setBase('');
    setTuned('');
    const opts = { maxNewTokens: maxNew, temperature, seed: 1 };
    try {
      // One after the other: both share the GPU.
      setBase(await c.generate(prompt, 'base', setBase, opts));
      if (tunedLabel) setTuned(await c.generate(prompt, 'tuned', setTuned, opts));
    } catch (error) {
      c.store.getState().notify('error', `Generation failed: ${(error as Error).message}`);
    } finally {
      setBusy(false);
      setDone(true);
    }
  };
  return (
    <section className="screen" aria-labelledby="play-title">
      <h2 id="play-title">Playground</h2>
      <form
        className="panel"
        onSubmit={(e) => {
          e.preventDefault();
          if (prompt.trim() && !busy) void run();
        }}
      >
        <label htmlFor="prompt">Prompt</label>
        <textarea
          id="prompt"
          data-testid="prompt"
          rows={3}
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              if (prompt.trim() && !busy) void run();
            }
          }}
          placeholder="Ask something your dataset teaches… (Ctrl+Enter to run)"
        />
        <div className="row">
          <label className="compact">max new tokens <input type="number" min={1} max={512} value={maxNew} onChange={(e) => setMaxNew(Math.max(1, Math.min(512, Number(e.target.value) || 1)))} /></label>
          <label className="compact">temperature <input type="number" min={0} max={2} step={0.1} value={temperature} onChange={(e) => setTemperature(Math.max(0, Math.min(2, Number(e.target.value) || 0)))} /></label>
          <button type="submit" className="primary" data-testid="generate" disabled={!modelReady || busy || !prompt.trim()}>{busy ? 'Generating…' : 'Generate'}</button>
        </div>
      </form>
      <div className="grid two">
        <div className="panel answer">
          <h3>Base model</h3>
          <p data-testid="answer-base" className="answer-text">{base || <span className="hint">—</span>}</p>
        </div>
        <div className="panel answer">
          <h3>With adapter{tunedLabel ? `: ${tunedLabel}` : ''}</h3>
          <p data-testid="answer-tuned" data-done={done ? '1' : '0'} className="answer-text">{tunedLabel ? tuned || <span className="hint">—</span> : <span className="hint">Train an adapter, or choose “Try” in the Library.</span>}</p>
        </div>
      </div>
    </section>
  );
}
