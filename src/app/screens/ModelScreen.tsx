import { useState } from 'react';
import { useController, useStudio } from '../context';
import { MODEL_PRESETS, isHubId, modelLabel, type ModelChoice } from '../../settings/settings';
import { formatBytes, formatCount } from '../format';

export function ModelScreen() {
  const c = useController();
  const choice = useStudio((s) => s.settings.model);
  const model = useStudio((s) => s.model);
  const gpu = useStudio((s) => s.gpu);
  const [hubId, setHubId] = useState(choice.kind === 'hub' && !MODEL_PRESETS.some((p) => p.id === choice.id) ? choice.id : '');
  const hubValid = isHubId(hubId.trim());
  const load = (m: ModelChoice, files?: File[]) => void c.loadModel(m, files);
  const selected = (m: ModelChoice) =>
    m.kind === choice.kind && (m.kind !== 'hub' || (choice.kind === 'hub' && choice.id === m.id)) && (m.kind !== 'demo' || (choice.kind === 'demo' && choice.variant === m.variant));
  return (
    <section className="screen" aria-labelledby="model-title">
      <h2 id="model-title">Base model</h2>
      <div className="grid two">
        <div className="panel">
          <h3>Choose a model</h3>
          <div role="radiogroup" aria-label="Model presets" className="choices">
            <button type="button" role="radio" aria-checked={selected({ kind: 'demo' })} className="choice" data-testid="model-demo" onClick={() => load({ kind: 'demo' })}>
              <strong>Built-in demo model</strong>
              <span>A tiny Llama-style model served with the studio: trains in seconds, works offline.</span>
            </button>
            <button type="button" role="radio" aria-checked={selected({ kind: 'demo', variant: 'bert' })} className="choice" data-testid="model-demo-bert" onClick={() => load({ kind: 'demo', variant: 'bert' })}>
              <strong>Built-in demo encoder (BERT)</strong>
              <span>A tiny BERT for text classification with a sample of labelled reviews: LoRA plus a trained head, accuracy and a confusion matrix.</span>
            </button>
            {MODEL_PRESETS.map((p) => (
              <button key={p.id} type="button" role="radio" aria-checked={selected({ kind: 'hub', id: p.id })} className="choice" onClick={() => load({ kind: 'hub', id: p.id })}>
                <strong>{p.label}</strong>
                <span>{p.id} · {p.note} from the Hugging Face hub</span>
              </button>
            ))}
          </div>
          <form
            className="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (hubValid) load({ kind: 'hub', id: hubId.trim() });
            }}
          >
            <label htmlFor="hub-id">Any hub model id</label>
            <div className="row">
              <input id="hub-id" type="text" placeholder="owner/name" value={hubId} onChange={(e) => setHubId(e.target.value)} aria-invalid={hubId !== '' && !hubValid} spellCheck={false} />
              <button type="submit" disabled={!hubValid}>Load</button>
            </div>
            {hubId !== '' && !hubValid && <p className="hint error-text">A hub id looks like “HuggingFaceTB/SmolLM2-135M-Instruct”.</p>}
          </form>
          <div className="inline-form">
            <label htmlFor="local-folder">A model folder on this computer (config.json, model.safetensors, tokenizer.json)</label>
            <input
              id="local-folder"
              type="file"
              multiple
              // @ts-expect-error: non-standard but universally supported folder picking
              webkitdirectory=""
              onChange={(e) => {
                const files = Array.from(e.target.files ?? []);
                if (files.length) load({ kind: 'local', name: (files[0] as File & { webkitRelativePath?: string }).webkitRelativePath?.split('/')[0] || 'local folder' }, files);
              }}
            />
          </div>
        </div>
        <div className="panel">
          <h3>Status</h3>
          {model.status === 'idle' && <p>No model loaded.</p>}
          {model.status === 'loading' && (
            <div data-testid="model-loading">
              <p>Loading {modelLabel(choice)}… {model.progress?.phase === 'weights' ? model.progress.file : model.progress?.phase ?? ''}</p>
              <progress max={model.progress?.total || 1} value={model.progress?.loaded ?? 0} aria-label="Download progress" />
              <p className="hint">
                {model.progress ? `${formatBytes(model.progress.loaded)} of ${formatBytes(model.progress.total)}` : 'Reading config.json…'}
              </p>
              <button type="button" onClick={() => c.cancelModelLoad()}>Cancel</button>
            </div>
          )}
          {model.status === 'error' && <p className="error-text" role="alert">{model.message}</p>}
          {model.status === 'ready' && (
            <dl className="facts" data-testid="model-ready">
              <dt>Model</dt><dd data-testid="model-name">{model.info.name}</dd>
              <dt>Architecture</dt><dd>{model.info.architecture}, {model.info.layers} layers, hidden {model.info.hidden}, heads {model.info.heads}/{model.info.kvHeads}</dd>
              <dt>Parameters</dt><dd>{formatCount(model.info.parameters)} ({formatBytes(model.info.bytes)})</dd>
              <dt>Vocabulary</dt><dd>{model.info.vocab.toLocaleString()}</dd>
              <dt>Runs on</dt><dd>{model.info.backend}</dd>
            </dl>
          )}
          <h3>This device</h3>
          {gpu?.ok ? (
            <dl className="facts" data-testid="device-info">
              <dt>Adapter</dt><dd data-testid="adapter-name">{gpu.adapter.name}</dd>
              <dt>shader-f16</dt><dd>{gpu.features.f16 ? 'yes (weights stored as f16)' : 'no (weights stored as f32)'}</dd>
              <dt>Subgroups</dt><dd>{gpu.features.subgroups ? 'yes' : 'no'}</dd>
              <dt>Largest buffer</dt><dd>{formatBytes(gpu.limits.maxBufferSize)}</dd>
              <dt>Largest storage binding</dt><dd>{formatBytes(gpu.limits.maxStorageBufferBindingSize)}</dd>
              <dt>Workgroup storage</dt><dd>{formatBytes(gpu.limits.maxComputeWorkgroupStorageSize)}</dd>
            </dl>
          ) : (
            <p>Looking for a GPU…</p>
          )}
        </div>
      </div>
    </section>
  );
}
