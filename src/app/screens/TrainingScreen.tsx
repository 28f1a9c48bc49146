import { useController, useStudio } from '../context';
import { LossChart } from '../components/LossChart';
import { ClassificationResults } from '../classify/ClassificationResults';
import { formatBytes, formatDuration, formatEpoch, formatEpochs, formatLoss, formatLr, formatMetric, metricLabel } from '../format';
import { modelLabel } from '../../settings/settings';
import type { StartupPhase, TrainingState } from '../store/store';

export function InterruptedRuns() {
  const c = useController();
  const runs = useStudio((s) => s.interrupted);
  const status = useStudio((s) => s.training.status);
  const busy = status === 'running' || status === 'starting' || status === 'paused' || status === 'stopping';
  const current = useStudio((s) => s.training.runId);
  const list = runs.filter((r) => !(busy && r.runId === current));
  if (!list.length) return null;
  return (
    <div className="panel resume-card" data-testid="interrupted-runs">
      <h3>Unfinished run{list.length === 1 ? '' : 's'}</h3>
      <ul className="plain">
        {list.map((r) => (
          <li key={r.runId} className="row spread">
            <span>
              {modelLabel(r.settings.model)} · {r.dataset?.name ?? 'dataset'} · started {new Date(r.startedAt).toLocaleString()} ·{' '}
              {r.checkpointStep === null ? 'no checkpoint yet (resuming starts over)' : `checkpoint at step ${r.checkpointStep} of ${r.totalSteps}`}
            </span>
            <span className="row">
              <button type="button" className="primary" data-testid="resume-run" disabled={busy} onClick={() => void c.resumeRun(r.runId)}>Resume</button>
              <button type="button" data-testid="discard-run" disabled={busy} onClick={() => void c.discardRun(r.runId)}>Discard</button>
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** What the run is doing before its first step: never a field reading 0. */
export function startupText(p: StartupPhase | null, t: Pick<TrainingState, 'status'>): string {
  if (t.status !== 'starting' && t.status !== 'running') return '';
  switch (p?.kind) {
    case 'previous': return 'Waiting for the cancelled run to stop…';
    case 'model': return p.total > 0 ? `Loading weights: ${formatBytes(p.loaded)} of ${formatBytes(p.total)}` : 'Loading the model…';
    case 'dataset': return 'Preparing the dataset…';
    case 'planning': return 'Planning memory and preparing the first step…';
    case 'compile': return `Compiling GPU kernels: ${p.done} of ${p.total}${p.weights ? ` · loading weights: ${formatBytes(p.weights.loaded)} of ${formatBytes(p.weights.total)}` : ''}`;
    case 'validating': return 'Measuring the validation loss before the first step…';
    default: return 'Starting…';
  }
}

const STATUS_TEXT: Record<TrainingState['status'], string> = {
  idle: '',
  starting: 'Starting…',
  running: 'Training',
  paused: 'Paused',
  stopping: 'Stopping after this step…',
  done: 'Done',
  stopped: 'Stopped (adapter kept)',
  cancelled: 'Cancelled',
  failed: 'Failed',
};

/** The latest evaluation's metrics, whatever the engine sends (eval_loss, eval_perplexity, eval_accuracy, …). */
function EvalMetrics({ t }: { t: TrainingState }) {
  const last = t.evals.at(-1);
  if (!last) return null;
  const first = t.evals[0];
  return (
    <div className="eval-metrics" data-testid="eval-metrics" data-step={last.step}>
      <h3>Validation at step {last.step}</h3>
      <dl className="metrics">
        {Object.entries(last.metrics).map(([name, v]) => (
          <div key={name} className="metric" data-metric={name}>
            <dt title={name}>{metricLabel(name)}</dt>
            <dd>{formatMetric(name, v)}</dd>
            {first !== last && name in first.metrics && Number.isFinite(first.metrics[name]) && <dd className="hint was">step {first.step}: {formatMetric(name, first.metrics[name])}</dd>}
          </div>
        ))}
      </dl>
    </div>
  );
}

export function TrainingScreen() {
  const c = useController();
  const t = useStudio((s) => s.training);
  const running = t.status === 'running' || t.status === 'starting' || t.status === 'paused' || t.status === 'stopping';
  const pct = t.totalSteps ? (t.step / t.totalSteps) * 100 : 0;
  const startup = t.stepped ? '' : startupText(t.startup, t);
  const dash = '—';
  return (
    <section className="screen" aria-labelledby="training-title">
      <h2 id="training-title">Training</h2>
      <InterruptedRuns />
      {t.status === 'idle' ? (
        <div className="panel">
          <p>No run yet. Drop a dataset, set the hyperparameters, then start training.</p>
          <button type="button" onClick={() => c.store.getState().setScreen('hyperparameters')}>Go to hyperparameters</button>
        </div>
      ) : (
        <>
          <div className="panel">
            <div className="row spread">
              <strong data-testid="training-status" data-status={t.status}>{STATUS_TEXT[t.status]}</strong>
              <span data-testid="step-counter" data-step={t.step} data-total={t.totalSteps} data-epoch={t.epoch}>
                {t.totalSteps ? `step ${t.step} of ${t.totalSteps}` : 'step —'}
                {t.stepsPerEpoch > 0 && ` · epoch ${formatEpoch(t.epoch, t.totalSteps / t.stepsPerEpoch)}`}
              </span>
            </div>
            {startup && <p role="status" data-testid="startup" data-phase={t.startup?.kind ?? ''}>{startup}</p>}
            {t.startup?.kind === 'compile' || t.startup?.kind === 'model' ? (
              <progress max={t.startup.kind === 'compile' ? t.startup.total || 1 : t.startup.total || 1} value={t.startup.kind === 'compile' ? t.startup.done : t.startup.loaded} aria-label={t.startup.kind === 'compile' ? 'Kernels compiled' : 'Weights loaded'} />
            ) : (
              <progress max={100} value={pct} aria-label="Training progress" />
            )}
            <dl className="facts inline" data-testid="run-facts">
              <dt>loss</dt><dd data-testid="current-loss">{formatLoss(t.train.at(-1)?.loss)}</dd>
              <dt>validation</dt><dd data-testid="current-validation">{formatLoss(t.validation.at(-1)?.loss)}</dd>
              <dt>learning rate</dt><dd data-testid="current-lr">{t.stepped ? formatLr(t.learningRate) : dash}</dd>
              <dt>grad norm</dt><dd data-testid="current-grad-norm">{t.stepped && Number.isFinite(t.gradNorm) ? t.gradNorm.toFixed(3) : dash}</dd>
              <dt>tokens/s</dt><dd data-testid="current-tps">{t.stepped && t.tokensPerSecond > 0 ? Math.round(t.tokensPerSecond).toLocaleString() : dash}</dd>
              <dt>ETA</dt><dd data-testid="eta">{running && t.stepped ? (t.etaSeconds === null ? 'measuring…' : formatDuration(t.etaSeconds)) : dash}</dd>
              <dt>checkpoint</dt><dd data-testid="last-checkpoint">{t.lastCheckpointStep === null ? dash : `step ${t.lastCheckpointStep}`}</dd>
              {t.skippedSteps > 0 && (<><dt>skipped steps</dt><dd>{t.skippedSteps} (loss or gradient not finite)</dd></>)}
            </dl>
            {t.lastLog && (
              <p className="hint log-line" data-testid="last-log" title="The last logged line (every “Log every” steps), named as HF's Trainer logs it">
                logged at step {t.lastLog.step}: {Object.entries(t.lastLog.metrics).filter(([k]) => k !== 'skipped_steps' || t.lastLog!.metrics[k] > 0).map(([k, v]) => `${k} ${k === 'learning_rate' ? formatLr(v) : k === 'epoch' ? formatEpochs(v) : formatMetric(k, v)}`).join(' · ')}
              </p>
            )}
            <div className="row">
              {t.status === 'paused' ? (
                <button type="button" className="primary" data-testid="resume" onClick={() => c.resume()}>Resume</button>
              ) : (
                <button type="button" data-testid="pause" disabled={t.status !== 'running'} onClick={() => c.pause()}>Pause</button>
              )}
              <button type="button" data-testid="stop" disabled={!(t.status === 'running' || t.status === 'paused')} onClick={() => c.stop()} title="Stop now and keep the adapter trained so far">Stop and keep</button>
              <button type="button" data-testid="cancel" disabled={!running} onClick={() => void c.cancel()} title="Cancel without saving; a checkpoint already stored stays resumable">Cancel</button>
            </div>
          </div>
          {t.error && (
            <div className="panel error" role="alert" data-testid="training-error">
              <p>{t.error}</p>
              {t.deviceLost && t.runId && (
                <button type="button" className="primary" data-testid="resume-after-loss" onClick={() => void c.resumeRun(t.runId!)}>
                  Resume from the last checkpoint{t.lastCheckpointStep !== null ? ` (step ${t.lastCheckpointStep})` : ''}
                </button>
              )}
            </div>
          )}
          <div className="chart-row">
            <LossChart train={t.train} validation={t.validation} totalSteps={t.totalSteps} />
            <EvalMetrics t={t} />
          </div>
          <ClassificationResults />
          {(t.status === 'done' || t.status === 'stopped') && t.adapterId && (
            <div className="panel row" data-testid="training-done">
              <span>The adapter is saved in the Library.</span>
              <button type="button" className="primary" data-testid="download-zip" onClick={() => void c.download(t.adapterId!, 'zip')}>Download zip</button>
              <button type="button" onClick={() => void c.download(t.adapterId!, 'model')}>adapter_model.safetensors</button>
              <button type="button" onClick={() => void c.download(t.adapterId!, 'config')}>adapter_config.json</button>
              <button type="button" onClick={() => c.store.getState().setScreen('playground')}>Try it in the playground</button>
            </div>
          )}
        </>
      )}
    </section>
  );
}
