import { useState } from 'react';
import { useController, useStudio } from '../context';
import { MODEL_PRESETS, modelLabel, type ModelChoice } from '../../settings/settings';
import { hubIdProblem } from '../modelErrors';
import { formatBytes, formatCount } from '../format';

function sameChoice(a: ModelChoice, b: ModelChoice): boolean {
  return a.kind === b.kind && (a.kind !== 'hub' || (b.kind === 'hub' && a.id === b.id)) && (a.kind !== 'demo' || (b.kind === 'demo' && a.variant === b.variant));
}

/** The Hugging Face token for gated models: this session only, unless "remember on this device" is ticked; never in the link. */
function HubToken() {
  const c = useController();
  const { token, remember } = useStudio((s) => s.hubToken);
  const [shown, setShown] = useState(false);
  // Open at first when a remembered token is there; after that the user opens and closes it.
  const [openAtFirst] = useState(token !== '');
  return (
    <details className="inline-form hub-token" open={openAtFirst || undefined}>
      <summary>Hugging Face access token (for gated models such as Llama)</summary>
      <label htmlFor="hub-token">Access token</label>
      <div className="row">
        <input
          id="hub-token"
          data-testid="hub-token"
          type={shown ? 'text' : 'password'}
          autoComplete="off"
          spellCheck={false}
          placeholder="hf_…"
          value={token}
          onChange={(e) => c.setHubToken(e.target.value, remember)}
          aria-describedby="hub-token-help"
        />
        <button type="button" onClick={() => setShown(!shown)} aria-pressed={shown}>{shown ? 'Hide' : 'Show'}</button>
      </div>
      <label className="check">
        <input type="checkbox" data-testid="hub-token-remember" checked={remember} onChange={(e) => c.setHubToken(token, e.target.checked)} /> Remember on this device
      </label>
      <p className="hint" id="hub-token-help">
        Sent only to huggingface.co with the model’s downloads. Kept for this session only unless you tick “Remember”; never part of the share link. Create a read token at huggingface.co/settings/tokens after accepting the model’s license.
      </p>
    </details>
  );
}

/** A share link's hub model: what it is and what it needs, and nothing downloaded until Load. */
function LinkModel() {
  const c = useController();
  const link = useStudio((s) => s.linkModel);
  if (!link) return null;
  const sum = link.summary;
  return (
    <div className="panel notice-panel" data-testid="link-model" role="region" aria-label="Model from the link">
      <h3>The link names {link.id}</h3>
      <p>Nothing has been downloaded yet.</p>
      {!sum && !link.error && <p className="hint">Reading its config…</p>}
      {link.error && <p className="warning-text" role="alert" data-testid="link-model-error">{link.error}</p>}
      {sum && (
        <p data-testid="link-model-summary">
          {sum.architecture}, {sum.layers} layers, {formatCount(sum.parameters)} parameters
          {sum.bytes !== null ? ` · ${formatBytes(sum.bytes)} to download` : ''} · this run needs about {formatBytes(sum.plan.memory.total)} of GPU memory
          {sum.plan.fits ? ' (fits)' : ` — ${sum.plan.advice}`}
        </p>
      )}
      <div className="row">
        <button type="button" className="primary" data-testid="link-model-load" onClick={() => void c.acceptLinkModel(true)}>Load {link.id}</button>
        <button type="button" data-testid="link-model-demo" onClick={() => void c.acceptLinkModel(false)}>Use the built-in demo instead</button>
      </div>
    </div>
  );
}

export function ModelScreen() {
  const c = useController();
  const choice = useStudio((s) => s.settings.model);
  const model = useStudio((s) => s.model);
  const pending = useStudio((s) => s.pendingModel);
  const gpu = useStudio((s) => s.gpu);
  const training = useStudio((s) => s.training.status);
  const busy = training === 'running' || training === 'starting' || training === 'paused' || training === 'stopping';
  const [hubId, setHubId] = useState(choice.kind === 'hub' && !MODEL_PRESETS.some((p) => p.id === choice.id) ? choice.id : '');
  const [tried, setTried] = useState(false);
  const problem = hubIdProblem(hubId);
  const hubValid = hubId.trim() !== '' && problem === null;
  const load = (m: ModelChoice, files?: File[]) => void c.loadModel(m, files);
  // The working model's card is the selected one; a card being loaded says so, and one that failed is not selected.
  const selected = (m: ModelChoice) => sameChoice(m, choice) && model.status !== 'error';
  const loadingThis = (m: ModelChoice) => pending?.status === 'loading' && sameChoice(pending.choice, m);
  const failedThis = (m: ModelChoice) => pending?.status === 'error' && sameChoice(pending.choice, m);
  const cardState = (m: ModelChoice) => (loadingThis(m) ? ' · loading…' : failedThis(m) ? ' · could not be loaded' : '');
  const progress = pending?.status === 'loading' ? pending.progress : model.status === 'loading' ? model.progress : null;
  const loadingChoice = pending?.status === 'loading' ? pending.choice : model.status === 'loading' ? choice : null;
  return (
    <section className="screen" aria-labelledby="model-title">
      <h2 id="model-title">Base model</h2>
      <LinkModel />
      <div className="grid two">
        <div className="panel">
          <h3>Choose a model</h3>
          <div role="radiogroup" aria-label="Model presets" className="choices">
            <button type="button" role="radio" aria-checked={selected({ kind: 'demo' })} aria-busy={loadingThis({ kind: 'demo' })} className="choice" data-testid="model-demo" disabled={busy} onClick={() => load({ kind: 'demo' })}>
              <strong>Built-in demo model{cardState({ kind: 'demo' })}</strong>
              <span>A tiny Llama-style model served with the studio: trains in seconds, works offline.</span>
            </button>
            <button type="button" role="radio" aria-checked={selected({ kind: 'demo', variant: 'bert' })} className="choice" data-testid="model-demo-bert" onClick={() => load({ kind: 'demo', variant: 'bert' })}>
              <strong>Built-in demo encoder (BERT)</strong>
              <span>A tiny BERT for text classification with a sample of labelled reviews: LoRA plus a trained head, accuracy and a confusion matrix.</span>
            </button>
            {MODEL_PRESETS.map((p) => (
              <button key={p.id} type="button" role="radio" aria-checked={selected({ kind: 'hub', id: p.id })} aria-busy={loadingThis({ kind: 'hub', id: p.id })} className={`choice${failedThis({ kind: 'hub', id: p.id }) ? ' failed' : ''}`} data-testid={`model-${p.id}`} disabled={busy} onClick={() => load({ kind: 'hub', id: p.id })}>
                <strong>{p.label}{cardState({ kind: 'hub', id: p.id })}</strong>
                <span>{p.id} · {p.note} from the Hugging Face hub</span>
              </button>
            ))}
          </div>
          <form
            className="inline-form"
            noValidate
            onSubmit={(e) => {
              e.preventDefault();
              setTried(true);
              if (hubValid) load({ kind: 'hub', id: hubId.trim() });
            }}
          >
            <label htmlFor="hub-id">Any hub model id</label>
            <div className="row">
              <input
                id="hub-id"
                data-testid="hub-id"
                type="text"
                placeholder="owner/name"
                value={hubId}
                onChange={(e) => setHubId(e.target.value)}
                onBlur={() => setTried(hubId.trim() !== '')}
                aria-invalid={problem !== null}
                aria-describedby={problem && tried ? 'hub-id-error' : undefined}
                spellCheck={false}
                autoComplete="off"
              />
              <button type="submit" data-testid="hub-load" disabled={busy}>Load</button>
            </div>
            {problem && (tried || hubId.length > 3) && <p className="field-error" id="hub-id-error" role="alert" data-testid="hub-id-error">{problem}</p>}
          </form>
          <HubToken />
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
          {loadingChoice && (
            <div data-testid="model-loading" className={pending ? 'pending-model' : undefined}>
              <p>
                Loading {modelLabel(loadingChoice)}… {progress?.phase === 'weights' ? progress.file : progress?.phase ?? ''}
                {pending && model.status === 'ready' && <span className="hint"> ({model.info.name} stays in use until it is ready)</span>}
              </p>
              <progress max={progress?.total || 1} value={progress?.loaded ?? 0} aria-label="Download progress" />
              <p className="hint">
                {progress ? `${formatBytes(progress.loaded)} of ${formatBytes(progress.total)}` : 'Reading config.json…'}
              </p>
              <button type="button" onClick={() => c.cancelModelLoad()}>Cancel</button>
            </div>
          )}
          {pending?.status === 'error' && (
            <div className="panel error" role="alert" data-testid="model-error">
              <p>{pending.message}</p>
              <p className="hint">{model.status === 'ready' ? `Still using ${model.info.name}.` : ''}</p>
              <button type="button" onClick={() => c.dismissPendingModel()}>Dismiss</button>
            </div>
          )}
          {model.status === 'error' && <p className="error-text" role="alert" data-testid="model-error">{model.message}</p>}
          {model.status === 'ready' && (
            <dl className="facts" data-testid="model-ready">
              <dt>Model</dt><dd data-testid="model-name">{model.info.name}</dd>
              <dt>Architecture</dt><dd>{model.info.architecture}, {model.info.layers} layers, hidden {model.info.hidden}, heads {model.info.heads}/{model.info.kvHeads}</dd>
              <dt>Parameters</dt><dd>{formatCount(model.info.parameters)} ({formatBytes(model.info.bytes)})</dd>
              <dt>Vocabulary</dt><dd>{model.info.vocab.toLocaleString()}</dd>
              <dt>Runs on</dt><dd data-testid="model-backend">{model.info.backend}</dd>
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
