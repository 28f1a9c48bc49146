import { useController, useStudio } from '../context';
import { LossChart } from '../components/LossChart';
import { ClassificationResults } from '../classify/ClassificationResults';
import { formatDuration, formatLoss, formatLr } from '../format';
import { modelLabel } from '../../settings/settings';

function InterruptedRuns() {
  const c = useController();
  const runs = useStudio((s) => s.interrupted);
  const status = useStudio((s) => s.training.status);
  const busy = status === 'running' || status === 'starting' || status === 'paused' || status === 'stopping';
  const current = useStudio((s) => s.training.runId);
  const list = runs.filter((r) => !(busy && r.runId === current));
  if (!list.length) return null;
  return (
    <div className="panel" data-testid="interrupted-runs">
      <h3>Unfinished runs</h3>
      <ul className="plain">
        {list.map((r) => (
          <li key={r.runId} className="row spread">
            <span>
              {modelLabel(r.settings.model)} · {r.dataset?.name ?? 'dataset'} · started {new Date(r.startedAt).toLocaleString()} ·{' '}
              {r.checkpointStep === null ? 'no checkpoint yet (resuming starts over)' : `checkpoint at step ${r.checkpointStep} of ${r.totalSteps}`}
            </span>
            <span className="row">
              <button type="button" className="primary" data-testid="resume-run" disabled={busy} onClick={() => void c.resumeRun(r.runId)}>Resume</button>
              <button type="button" disabled={busy} onClick={() => void c.discardRun(r.runId)}>Discard</button>
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function TrainingScreen() {
  const c = useController();
  const t = useStudio((s) => s.training);
  const running = t.status === 'running' || t.status === 'starting' || t.status === 'paused' || t.status === 'stopping';
  const pct = t.totalSteps ? (t.step / t.totalSteps) * 100 : 0;
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
              <strong data-testid="training-status" data-status={t.status}>
                {t.status === 'starting' && 'Starting…'}
                {t.status === 'running' && 'Training'}
                {t.status === 'paused' && 'Paused'}
                {t.status === 'stopping' && 'Stopping after this step…'}
                {t.status === 'done' && 'Done'}
                {t.status === 'stopped' && 'Stopped'}
                {t.status === 'failed' && 'Failed'}
              </strong>
              <span data-testid="step-counter" data-step={t.step} data-total={t.totalSteps}>step {t.step} of {t.totalSteps || '…'} · epoch {t.epoch.toFixed(2)}</span>
            </div>
            <progress max={100} value={pct} aria-label="Training progress" />
            <dl className="facts inline">
              <dt>loss</dt><dd data-testid="current-loss">{formatLoss(t.train.at(-1)?.loss)}</dd>
              <dt>validation</dt><dd>{formatLoss(t.validation.at(-1)?.loss)}</dd>
              <dt>learning rate</dt><dd>{formatLr(t.learningRate)}</dd>
              <dt>grad norm</dt><dd>{t.gradNorm.toFixed(3)}</dd>
              <dt>tokens/s</dt><dd>{Math.round(t.tokensPerSecond).toLocaleString()}</dd>
              <dt>ETA</dt><dd>{running ? (t.etaSeconds === null ? 'measuring…' : formatDuration(t.etaSeconds)) : '—'}</dd>
              <dt>checkpoint</dt><dd data-testid="last-checkpoint">{t.lastCheckpointStep ?? '—'}</dd>
              {t.skippedSteps > 0 && (<><dt>skipped steps</dt><dd>{t.skippedSteps} (loss or gradient not finite)</dd></>)}
            </dl>
            <div className="row">
              {t.status === 'paused' ? (
                <button type="button" className="primary" data-testid="resume" onClick={() => c.resume()}>Resume</button>
              ) : (
                <button type="button" data-testid="pause" disabled={!running || t.status === 'stopping'} onClick={() => c.pause()}>Pause</button>
              )}
              <button type="button" data-testid="stop" disabled={!running || t.status === 'stopping'} onClick={() => c.stop()} title="Stop now and keep the adapter trained so far">Stop and keep</button>
              <button type="button" disabled={!running} onClick={() => c.cancel()} title="Cancel without saving; the last checkpoint stays resumable">Cancel</button>
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
          <LossChart train={t.train} validation={t.validation} totalSteps={t.totalSteps} />
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
