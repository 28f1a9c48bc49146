import { useController, useStudio } from '../context';
import { SettingField } from '../components/SettingField';
import { EncoderModules } from '../classify/EncoderModules';
import { SETTING_DEFS, getSetting, loraScale, validateSettings, type SettingDef } from '../../settings/settings';
import { formatBytes } from '../format';

const GROUPS: { group: SettingDef['group']; title: string }[] = [
  { group: 'lora', title: 'LoRA adapter' },
  { group: 'train', title: 'Training' },
  { group: 'data', title: 'Data' },
  { group: 'eval', title: 'Evaluation and checkpoints' },
];

/** The planner's answer: memory against the budget, what it chose and why, and the fix when it does not fit. */
function PlanPanel() {
  const c = useController();
  const plan = useStudio((s) => s.plan);
  const modelReady = useStudio((s) => s.model.status === 'ready');
  if (!modelReady) return <p className="hint">Load a model to see the memory this run needs.</p>;
  if (!plan) return <p className="hint">Planning…</p>;
  const pct = Math.min(100, (plan.memory.total / plan.budget) * 100);
  const m = plan.memory;
  return (
    <div className={`memory ${plan.fits ? 'ok' : 'warn'}`} data-testid="memory-estimate" aria-live="polite">
      <div className="row spread">
        <strong>GPU memory: {formatBytes(m.total)}</strong>
        <span className="hint">of about {formatBytes(plan.budget)} assumed available</span>
      </div>
      <div className="bar" aria-hidden="true"><span style={{ width: `${pct}%` }} /></div>
      <p className="hint">
        micro-batch {plan.microBatch} × {plan.gradAccum} accumulation · {plan.seqLen} tokens per row{plan.longestRow ? ` (longest row ${plan.longestRow})` : ''}
        {plan.checkpointing ? ' · gradient checkpointing' : ''} · weights {formatBytes(m.weights)} · adapter + Adam {formatBytes(m.adapter)} · activations {formatBytes(m.activations)}
      </p>
      {plan.reasons.map((r) => <p key={r} className="hint" data-testid="plan-reason">{r}</p>)}
      {!plan.fits && (
        <div className="row" role="alert" data-testid="memory-warning">
          <span className="warning-text">{plan.advice}</span>
          {plan.fix && (
            <button type="button" data-testid="apply-plan-fix" onClick={() => {
              const st = c.store.getState();
              const fix = plan.fix!;
              if (fix.microBatch !== undefined) st.setSetting('train.microBatch', fix.microBatch);
              if (fix.gradientCheckpointing !== undefined) st.setSetting('train.gradientCheckpointing', fix.gradientCheckpointing);
              if (fix.maxLength !== undefined) st.setSetting('train.maxLength', fix.maxLength);
            }}>Apply the fix</button>
          )}
        </div>
      )}
    </div>
  );
}

export function HyperScreen() {
  const c = useController();
  const settings = useStudio((s) => s.settings);
  const datasetReady = useStudio((s) => s.dataset.status === 'ready');
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const training = useStudio((s) => s.training.status);
  const plan = useStudio((s) => s.plan);
  const st = c.store.getState();
  const running = training === 'running' || training === 'starting' || training === 'paused' || training === 'stopping';
  const issues = validateSettings(settings);
  const blocked = !datasetReady || !modelReady || running || issues.length > 0 || (plan !== null && !plan.fits);
  const derived = (d: SettingDef): string | undefined => {
    if (d.key === 'lora.alpha') return `Scale ${loraScale(settings.lora).toFixed(3)} (alpha/${settings.lora.useRslora ? '√r' : 'r'}).`;
    if (d.key === 'train.microBatch' && plan) return `This device: ${plan.microBatch} × ${plan.gradAccum} = ${settings.train.batchSize}.`;
    return undefined;
  };
  return (
    <section className="screen" aria-labelledby="hyper-title">
      <h2 id="hyper-title">Hyperparameters</h2>
      <div className="panel">
        <PlanPanel />
        <div className="row">
          <button type="button" className="primary" data-testid="start-training" disabled={blocked} onClick={() => void c.train()}>
            Start training
          </button>
          <button
            type="button"
            data-testid="copy-link"
            onClick={() => {
              void navigator.clipboard?.writeText(window.location.href).then(
                () => st.notify('info', 'Share link copied: it holds the model, adapter and training settings (not your data).'),
                () => st.notify('info', `Share link: ${window.location.href}`),
              );
            }}
          >
            Copy share link
          </button>
          {!datasetReady && <span className="hint">Drop a dataset first.</span>}
          {issues.length > 0 && <span className="warning-text" data-testid="settings-issues">{issues[0].message}</span>}
        </div>
      </div>
      <div className="grid two">
        {GROUPS.map((g) => (
          <fieldset className="panel" key={g.group}>
            <legend>{g.title}</legend>
            {SETTING_DEFS.filter((d) => d.group === g.group).map((d) => (
              <SettingField key={d.key} d={d} value={getSetting(settings, d.key)} disabled={running} extra={derived(d)} onChange={(v) => st.setSetting(d.key, v)} />
            ))}
            {g.group === 'lora' && <EncoderModules />}
          </fieldset>
        ))}
      </div>
    </section>
  );
}
