// The sample dataset of the loaded model, one click away on the Dataset screen: the pirate's chat
// rows for a decoder (the demo's journey), the labelled review snippets for the demo encoder.
import { useState } from 'react';
import { useController, useStudio } from '../context';
import { sampleFor } from '../demo';

export function SampleDataset() {
  const c = useController();
  const sample = useStudio((s) => (s.model.status === 'ready' ? sampleFor(s.settings.model, s.model.info.family) : null));
  const [busy, setBusy] = useState(false);
  if (!sample) return null;
  const use = async () => {
    setBusy(true);
    try {
      await c.useSampleDataset(sample);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="panel row spread" data-testid="sample-dataset">
      <span>No dataset at hand? {sample.blurb}</span>
      <button type="button" data-testid="use-sample" disabled={busy} onClick={() => void use()}>{busy ? 'Reading…' : 'Use the sample'}</button>
    </div>
  );
}
