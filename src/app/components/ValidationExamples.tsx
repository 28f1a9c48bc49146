import { useEffect, useState } from 'react';
import { useController, useStudio } from '../context';
import type { ValidationExample } from '../../worker/protocol';

/** How many validation examples the playground answers. */
const COUNT = 6;

interface Answers {
  base: string | null;
  tuned: string | null;
}

/** Whether an answer gives the taught one: the same text once spaces are evened out, or that text first. */
export function givesReference(answer: string, reference: string): boolean {
  const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
  const a = norm(answer);
  const r = norm(reference);
  return r.length > 0 && (a === r || a.startsWith(r));
}

/** Role names a chat template puts on a line of their own (ChatML, Llama 3, Zephyr, plain "Assistant:"). */
const ROLE_LINE = /^(<\|?)?(system|user|assistant|human|gpt|model)(\|?>)?:?$|^#+\s*(response|answer|output|assistant)\s*:?$/i;
/** A role name glued to the end of the user's text once the special tokens around it are left out (Llama 3). */
const TRAILING_ROLE = /(?<=\S)(assistant|model)$/;

/** The prompt's last line of the user's own text: template lines and role names left out. */
export function promptLine(prompt: string): string {
  const lines = prompt.split('\n').map((l) => l.trim()).filter((l) => l && !ROLE_LINE.test(l));
  return (lines[lines.length - 1] ?? prompt.trim()).replace(TRAILING_ROLE, '');
}

/** An answer for a table cell: its text, or what kind of nothing it is. */
function answerCell(text: string) {
  if (text.trim()) return text.trim();
  return <span className="hint">{text ? '(blank lines only)' : '(no text)'}</span>;
}

/**
 * The playground's per-example view: the first validation prompts of the dataset, each answered by
 * the base model and by the tuned adapter next to the answer the data teaches, with how many of
 * each side give it.
 */
export function ValidationExamples({ opts, hasTuned, disabled }: { opts: { maxNewTokens: number; temperature: number; seed: number }; hasTuned: boolean; disabled: boolean }) {
  const c = useController();
  const datasetReady = useStudio((s) => s.dataset.status === 'ready');
  const datasetKey = useStudio((s) => (s.dataset.status === 'ready' ? s.dataset.info : null));
  const trainingStatus = useStudio((s) => s.training.status);
  const [examples, setExamples] = useState<ValidationExample[] | null>(null);
  const [answers, setAnswers] = useState<Answers[]>([]);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setAnswers([]);
    if (!datasetReady) return setExamples(null);
    void c.engine.validationExamples(COUNT).then(setExamples, () => setExamples(null));
  }, [c, datasetReady, datasetKey, trainingStatus]);
  if (!examples?.length) return null;
  const run = async () => {
    setBusy(true);
    const next: Answers[] = examples.map(() => ({ base: null, tuned: null }));
    setAnswers(next.map((a) => ({ ...a })));
    try {
      for (const [i, ex] of examples.entries()) {
        next[i].base = await c.engine.answerValidation(ex.index, 'base', opts);
        setAnswers(next.map((a) => ({ ...a })));
        if (hasTuned) {
          next[i].tuned = await c.engine.answerValidation(ex.index, 'tuned', opts);
          setAnswers(next.map((a) => ({ ...a })));
        }
      }
    } catch (error) {
      c.store.getState().notify('error', `Answering the validation prompts failed: ${(error as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const score = (side: keyof Answers) => answers.filter((a, i) => a[side] !== null && givesReference(a[side]!, examples[i].reference)).length;
  const done = answers.length > 0 && answers.every((a) => a.base !== null && (!hasTuned || a.tuned !== null));
  return (
    <div className="panel" data-testid="validation-examples">
      <div className="row spread">
        <h3>Validation examples</h3>
        <button type="button" data-testid="validation-run" disabled={disabled || busy} onClick={() => void run()}>
          {busy ? 'Answering…' : `Answer ${examples.length} validation prompts`}
        </button>
      </div>
      {done && (
        <p data-testid="validation-score" data-base={score('base')} data-tuned={hasTuned ? score('tuned') : ''}>
          The trained answer: base {score('base')} of {examples.length}{hasTuned ? `, with the adapter ${score('tuned')} of ${examples.length}` : ''}.
        </p>
      )}
      <table className="examples">
        <thead>
          <tr><th>row</th><th>prompt</th><th>taught answer</th><th>base</th>{hasTuned && <th>with adapter</th>}</tr>
        </thead>
        <tbody>
          {examples.map((ex, i) => {
            const a = answers[i];
            const cell = (side: keyof Answers) => {
              const text = a?.[side] ?? null;
              const hit = text !== null && givesReference(text, ex.reference);
              return <td data-testid={`validation-${side}`} data-hit={text === null ? '' : hit ? '1' : '0'} className={hit ? 'hit' : undefined}>{text === null ? '—' : answerCell(text)}</td>;
            };
            return (
              <tr key={ex.index} data-testid="validation-example">
                <td>{ex.row || '—'}</td>
                <td className="prompt-cell" title={ex.prompt}>{promptLine(ex.prompt)}</td>
                <td data-testid="validation-reference">{ex.reference}</td>
                {cell('base')}
                {hasTuned && cell('tuned')}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
