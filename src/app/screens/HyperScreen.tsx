import { useEffect, useState } from 'react';
import { useController, useStudio } from '../context';
import { SettingField } from '../components/SettingField';
import { EncoderModules } from '../classify/EncoderModules';
import { currentKernels, currentPlan } from '../store/store';
import { SETTING_DEFS, formatSettingValue, getSetting, loraScale, settingDef, validateSettings, type SettingDef } from '../../settings/settings';
import { formatBytes } from '../format';

const GROUPS: { group: SettingDef['group']; title: string }[] = [
  { group: 'lora', title: 'LoRA adapter' },
  { group: 'train', title: 'Training' },
  { group: 'data', title: 'Data' },
  { group: 'eval', title: 'Evaluation and checkpoints' },
];

/** The planner's fix in words ("micro-batch → 0 (auto)"), from the contract's own labels and formats. */
function fixText(fix: Record<string, unknown>): string {
  const keys: Record<string, string> = { microBatch: 'train.microBatch', gradientCheckpointing: 'train.gradientCheckpointing', maxLength: 'train.maxLength', weights: 'train.weights' };
  return Object.entries(fix)
    .filter(([k, v]) => v !== undefined && keys[k])
    .map(([k, v]) => {
      const d = settingDef(keys[k]);
      return `${d.label} → ${formatSettingValue(d, v as never)}`;
    })
    .join(', ');
}

/** The planner's answer: memory against the budget, what it chose and why, and the fix when it does not fit. */
function PlanPanel() {
  const c = useController();
  const plan = useStudio(currentPlan);
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const loadedWeights = useStudio((s) => (s.model.status === 'ready' ? s.model.info.weights : null));
  const invalid = useStudio((s) => validateSettings(s.settings).length > 0);
  if (!modelReady) return <p className="hint">Load a model to see the memory this run needs.</p>;
  if (invalid) return <p className="hint">The memory plan waits for valid settings.</p>;
  if (!plan) return <p className="hint" data-testid="planning">Planning…</p>;
  const pct = Math.min(100, (plan.memory.total / plan.budget) * 100);
  const m = plan.memory;
  return (
    <div className={`memory ${plan.fits ? 'ok' : 'warn'}`} data-testid="memory-estimate" data-fits={plan.fits ? '1' : '0'} aria-live="polite">
      <div className="row spread">
        <strong>GPU memory: {formatBytes(m.total)}</strong>
        <span className="hint">of about {formatBytes(plan.budget)} assumed available</span>
      </div>
      <div className="bar" aria-hidden="true"><span style={{ width: `${pct}%` }} /></div>
      <p className="hint" data-testid="plan-summary">
        micro-batch {plan.microBatch} × {plan.gradAccum} accumulation · {plan.seqLen} tokens per row{plan.longestRow ? ` (longest row ${plan.longestRow})` : ''}
        {plan.checkpointing ? ' · gradient checkpointing' : ''} · weights {formatBytes(m.weights)} · adapter + Adam {formatBytes(m.adapter)} · activations {formatBytes(m.activations)}
      </p>
      <p className="hint" data-testid="plan-weights">
        {plan.weightsNote}{loadedWeights && loadedWeights !== plan.weights ? ' — the model is reloaded in this precision when the run starts' : ''}
      </p>
      {plan.reasons.map((r) => <p key={r} className="hint" data-testid="plan-reason">{r}</p>)}
      {!plan.fits && (
        <div className="row" role="alert" data-testid="memory-warning">
          <span className="warning-text" data-testid="plan-advice">{plan.advice}</span>
          {plan.fix && (
            <button
              type="button"
              data-testid="apply-plan-fix"
              onClick={() => {
                const st = c.store.getState();
                const fix = plan.fix!;
                let next = st.settings;
                // One change of the settings, so the link and the plan update once.
                if (fix.microBatch !== undefined) next = { ...next, train: { ...next.train, microBatch: fix.microBatch } };
                if (fix.gradientCheckpointing !== undefined) next = { ...next, train: { ...next.train, gradientCheckpointing: fix.gradientCheckpointing } };
                if (fix.maxLength !== undefined) next = { ...next, train: { ...next.train, maxLength: fix.maxLength } };
                if (fix.weights !== undefined) next = { ...next, train: { ...next.train, weights: fix.weights } };
                st.replaceSettings(next);
              }}
            >
              Apply the fix: {fixText(plan.fix)}
            </button>
          )}
        </div>
      )}
    </div>
  );
}

/**
 * The next run's GPU kernels, compiled in the background once a model and a dataset are ready: Start
 * then goes straight to the first step. Nothing here blocks Start (the run compiles what is missing).
 */
function KernelsStatus() {
  const k = useStudio(currentKernels);
  if (!k) return null;
  const text =
    k.status === 'compiling' ? `Preparing GPU kernels…${k.total > 0 ? ` ${k.done}/${k.total}` : ''}`
    : k.status === 'ready' ? 'GPU kernels ready'
    : k.status === 'skipped' ? `GPU kernels compile when the run starts: ${k.reason}.`
    : `GPU kernels compile when the run starts (preparing them failed: ${k.message})`;
  const title = k.status === 'ready' ? (k.pipelines > 0 ? `${k.pipelines} kernels compiled for these settings` : 'every kernel of these settings was compiled already') : undefined;
  return (
    <p className="hint" role="status" data-testid="kernels" data-status={k.status} title={title}>
      {text}
    </p>
  );
}

/** Copies the share link and says so next to the button (the link holds settings, never data or tokens). */
function ShareButton() {
  const [said, setSaid] = useState<{ ok: boolean; link: string } | null>(null);
  useEffect(() => {
    if (!said?.ok) return;
    const t = setTimeout(() => setSaid(null), 4000);
    return () => clearTimeout(t);
  }, [said]);
  return (
    <span className="share">
      <button
        type="button"
        data-testid="copy-link"
        onClick={() => {
          const link = window.location.href;
          const write = navigator.clipboard?.writeText(link);
          if (!write) setSaid({ ok: false, link });
          else write.then(() => setSaid({ ok: true, link }), () => setSaid({ ok: false, link }));
        }}
      >
        Copy share link
      </button>
      {said?.ok && <span className="hint" role="status" data-testid="link-copied">Link copied: it holds the model and the settings, not your data.</span>}
      {said && !said.ok && (
        <label className="hint" data-testid="link-copied">
          Copy this link: <input type="text" readOnly value={said.link} onFocus={(e) => e.currentTarget.select()} size={28} />
        </label>
      )}
    </span>
  );
}

export function HyperScreen() {
  const c = useController();
  const settings = useStudio((s) => s.settings);
  const datasetReady = useStudio((s) => s.dataset.status === 'ready');
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const pending = useStudio((s) => s.pendingModel);
  const training = useStudio((s) => s.training.status);
  const plan = useStudio(currentPlan);
  const fieldErrors = useStudio((s) => s.fieldErrors);
  const st = c.store.getState();
  const running = training === 'running' || training === 'starting' || training === 'paused' || training === 'stopping';
  const issues = [...Object.values(fieldErrors), ...validateSettings(settings).map((i) => i.message)];
  // Why Start is disabled, first reason first.
  const why = running
    ? 'A run is in progress.'
    : pending?.status === 'loading'
      ? 'Waiting for the model that is loading.'
      : !modelReady
        ? 'Load a model first.'
        : !datasetReady
          ? 'Drop a dataset first.'
          : issues.length
            ? `Fix ${issues.length === 1 ? 'this setting' : `${issues.length} settings`} first: ${issues.join('; ')}`
            : !plan
              ? 'Planning the run…'
              : !plan.fits
                ? 'This run does not fit in memory: apply the fix below or change the settings.'
                : null;
  const derived = (d: SettingDef): string | undefined => {
    if (d.key === 'lora.alpha') return `Scale ${loraScale(settings.lora).toFixed(3)} (alpha/${settings.lora.useRslora ? '√r' : 'r'}).`;
    if (d.key === 'train.microBatch' && plan) return `This device: ${plan.microBatch} × ${plan.gradAccum} = ${settings.train.batchSize}.`;
    return undefined;
  };
  return (
    <section className="screen" aria-labelledby="hyper-title">
      <h2 id="hyper-title">Hyperparameters</h2>
      <div className="panel">
        <div className="row start-row">
          <button type="button" className="primary" data-testid="start-training" disabled={why !== null} aria-describedby="start-why" onClick={() => void c.train()}>
            Start training
          </button>
          <button
            type="button"
            data-testid="export-pytorch"
            title="The same run as a Transformers + PEFT project for one or many GPUs (accelerate): train.py, configs, the rendered data"
            disabled={!datasetReady || !modelReady || running || issues.length > 0}
            onClick={() => void c.exportPytorch()}
          >
            Run on GPUs (PyTorch)…
          </button>
          <ShareButton />
          {why && <span id="start-why" className={issues.length || (plan && !plan.fits) ? 'warning-text' : 'hint'} data-testid="start-blocked">{why}</span>}
        </div>
        {!running && <KernelsStatus />}
        <PlanPanel />
      </div>
      <div className="grid two">
        {GROUPS.map((g) => (
          <fieldset className="panel" key={g.group}>
            <legend>{g.title}</legend>
            {SETTING_DEFS.filter((d) => d.group === g.group).map((d) => (
              <SettingField key={d.key} d={d} value={getSetting(settings, d.key)} disabled={running} extra={derived(d)} onChange={(v) => st.setSetting(d.key, v)} onInvalid={(m) => st.setFieldError(d.key, m)} />
            ))}
            {g.group === 'lora' && <EncoderModules />}
          </fieldset>
        ))}
      </div>
    </section>
  );
}
