import { useEffect, useState } from 'react';
import { useController, useStudio } from '../context';
import { WebAnswer } from '../components/WebAnswer';
import { ValidationExamples } from '../components/ValidationExamples';

/** Generation options of the playground (not run settings): their ranges, checked as typed, never clamped. */
const GENERATION = {
  maxNewTokens: { label: 'max new tokens', min: 1, max: 512, integer: true },
  temperature: { label: 'temperature', min: 0, max: 2, integer: false },
} as const;

function optionProblem(key: keyof typeof GENERATION, text: string): string | null {
  const o = GENERATION[key];
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) return `${o.label}: “${text}” is not a number`;
  if (o.integer && !Number.isInteger(v)) return `${o.label}: ${v} is not a whole number`;
  if (v < o.min || v > o.max) return `${o.label}: ${v} is outside ${o.min}–${o.max}`;
  return null;
}

function OptionField({ k, text, setText }: { k: keyof typeof GENERATION; text: string; setText: (t: string) => void }) {
  const problem = optionProblem(k, text);
  const o = GENERATION[k];
  return (
    <label className="compact">
      {o.label}{' '}
      <input type="text" inputMode="decimal" size={5} value={text} aria-invalid={problem !== null} title={problem ?? `${o.min}–${o.max}`} onChange={(e) => setText(e.target.value)} data-testid={`gen-${k}`} />
      {problem && <span className="field-error" role="alert">{problem}</span>}
    </label>
  );
}

/** An answer as text; an empty one says the model ended it at once (its end-of-sequence token came first). */
function Answer({ text, done, testId }: { text: string; done: boolean; testId: string }) {
  return (
    <p data-testid={testId} data-done={done ? '1' : '0'} data-empty={done && !text ? '1' : '0'} className="answer-text">
      {text || <span className="hint">{done ? '(no text: the model ended its answer at once, with its end-of-sequence token)' : '—'}</span>}
    </p>
  );
}
import { ClassifyPanel } from '../classify/ClassifyPanel';

export function PlaygroundScreen() {
  // An encoder classifies instead of generating.
  const family = useStudio((s) => (s.model.status === 'ready' ? s.model.info.family : 'llama'));
  return family === 'llama' ? <GeneratePlayground /> : <ClassifyPanel />;
}

function GeneratePlayground() {
  const c = useController();
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const trainingStatus = useStudio((s) => s.training.status);
  const [prompt, setPrompt] = useState('');
  const [base, setBase] = useState('');
  const [tuned, setTuned] = useState('');
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [tunedLabel, setTunedLabel] = useState<string | null>(null);
  const [maxNew, setMaxNew] = useState('48');
  const [temperature, setTemperature] = useState('0');
  const optionsOk = optionProblem('maxNewTokens', maxNew) === null && optionProblem('temperature', temperature) === null;
  const [baseDone, setBaseDone] = useState(false);
  const [answered, setAnswered] = useState<string | null>(null);
  useEffect(() => {
    void c.engine.tunedLabel().then(setTunedLabel);
  }, [c, trainingStatus]);
  const run = async () => {
    setBusy(true);
    setDone(false);
    setBase('');
    setTuned('');
    setBaseDone(false);
    setAnswered(prompt);
    const opts = { maxNewTokens: Number(maxNew), temperature: Number(temperature), seed: 1 };
    try {
      // One after the other: both share the GPU.
      setBase(await c.generate(prompt, 'base', setBase, opts));
      setBaseDone(true);
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
          if (prompt.trim() && !busy && optionsOk) void run();
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
              if (prompt.trim() && !busy && optionsOk) void run();
            }
          }}
          placeholder="Ask something your dataset teaches… (Ctrl+Enter to run)"
        />
        <div className="row">
          <OptionField k="maxNewTokens" text={maxNew} setText={setMaxNew} />
          <OptionField k="temperature" text={temperature} setText={setTemperature} />
          <button type="submit" className="primary" data-testid="generate" disabled={!modelReady || busy || !prompt.trim() || !optionsOk}>{busy ? 'Generating…' : 'Generate'}</button>
        </div>
      </form>
      <div className="grid two">
        <div className="panel answer">
          <h3>Base model</h3>
          <Answer text={base} done={baseDone} testId="answer-base" />
        </div>
        <div className="panel answer">
          <h3>With adapter{tunedLabel ? `: ${tunedLabel}` : ''}</h3>
          {tunedLabel ? <Answer text={tuned} done={done} testId="answer-tuned" /> : <p data-testid="answer-tuned" data-done={done ? '1' : '0'} className="answer-text"><span className="hint">Train an adapter, or choose “Try” in the Library.</span></p>}
        </div>
      </div>
      <WebAnswer
        prompt={prompt}
        side={tunedLabel ? 'tuned' : 'base'}
        opts={{ maxNewTokens: Number(maxNew), temperature: Number(temperature), seed: 1 }}
        engineAnswer={done && answered === prompt ? (tunedLabel ? tuned : base) : null}
        disabled={!modelReady || busy || !optionsOk}
      />
      <ValidationExamples opts={{ maxNewTokens: Number(maxNew), temperature: Number(temperature), seed: 1 }} hasTuned={Boolean(tunedLabel)} disabled={!modelReady || busy || !optionsOk} />
    </section>
  );
}
