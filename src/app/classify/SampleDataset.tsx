// With the demo encoder loaded: its sample of labelled review snippets in one click (served beside
// the studio at ./samples/reviews-sentiment.jsonl).
import { useState } from 'react';
import { useController, useStudio } from '../context';

export const SAMPLE_REVIEWS = 'samples/reviews-sentiment.jsonl';

export function SampleDataset() {
  const c = useController();
  const demoEncoder = useStudio((s) => s.settings.model.kind === 'demo' && s.settings.model.variant === 'bert' && s.model.status === 'ready');
  const [busy, setBusy] = useState(false);
  if (!demoEncoder) return null;
  const use = async () => {
    setBusy(true);
    try {
      const res = await fetch(new URL(SAMPLE_REVIEWS, document.baseURI).href);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      await c.readDataset(await res.blob(), 'reviews-sentiment.jsonl');
    } catch (error) {
      c.store.getState().notify('error', `The sample could not be read: ${(error as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="panel row spread" data-testid="sample-dataset">
      <span>The demo encoder’s sample: 420 review snippets labelled negative, neutral or positive.</span>
      <button type="button" data-testid="use-sample" disabled={busy} onClick={() => void use()}>{busy ? 'Reading…' : 'Use the sample'}</button>
    </div>
  );
}
