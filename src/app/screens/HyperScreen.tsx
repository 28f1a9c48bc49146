import { useController, useStudio } from '../context';
import { NumberField } from '../components/NumberField';
import { LORA_RANGES, SCHEDULES, TARGET_MODULES, TRAIN_RANGES, batchSize, type Schedule } from '../store/settings';
import { formatBytes, formatLr } from '../format';

const TARGET_HELP: Record<string, string> = {
  q_proj: 'attention query',
  k_proj: 'attention key',
  v_proj: 'attention value',
  o_proj: 'attention output',
  gate_proj: 'MLP gate',
  up_proj: 'MLP up',
  down_proj: 'MLP down',
};

function MemoryEstimate() {
  const memory = useStudio((s) => s.memory);
  const modelReady = useStudio((s) => s.model.status === 'ready');
  if (!modelReady) return <p className="hint">Load a model to see the memory this run needs.</p>;
  if (!memory) return <p className="hint">Estimating memory…</p>;
  const pct = Math.min(100, (memory.total / memory.budget) * 100);
  return (
    <div className={`memory ${memory.fits ? 'ok' : 'warn'}`} data-testid="memory-estimate" aria-live="polite">
      <div className="row spread">
        <strong>GPU memory: {formatBytes(memory.total)}</strong>
        <span className="hint">of about {formatBytes(memory.budget)} assumed available</span>
      </div>
      <div className="bar" aria-hidden="true"><span style={{ width: `${pct}%` }} /></div>
      <p className="hint">weights {formatBytes(memory.weights)} · adapter + Adam {formatBytes(memory.adapter)} · activations {formatBytes(memory.activations)} · workspace {formatBytes(memory.workspace)}</p>
      {memory.warning && <p className="warning-text" role="alert" data-testid="memory-warning">{memory.warning}</p>}
    </div>
  );
}

export function HyperScreen() {
  const c = useController();
  const settings = useStudio((s) => s.settings);
  const datasetReady = useStudio((s) => s.dataset.status === 'ready');
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const training = useStudio((s) => s.training.status);
  const st = c.store.getState();
  const { lora, train } = settings;
  const running = training === 'running' || training === 'starting' || training === 'paused' || training === 'stopping';
  return (
    <section className="screen" aria-labelledby="hyper-title">
      <h2 id="hyper-title">Hyperparameters</h2>
      <div className="grid two">
        <fieldset className="panel">
          <legend>LoRA adapter</legend>
          <NumberField label="Rank r" testId="lora-r" value={lora.r} range={LORA_RANGES.r} onChange={(r) => st.updateLora({ r })} />
          <NumberField label="Alpha" testId="lora-alpha" value={lora.alpha} range={LORA_RANGES.alpha} onChange={(alpha) => st.updateLora({ alpha })} hint={`scale ${(lora.useRslora ? lora.alpha / Math.sqrt(lora.r) : lora.alpha / lora.r).toFixed(3)}`} />
          <NumberField label="Dropout" testId="lora-dropout" value={lora.dropout} range={LORA_RANGES.dropout} onChange={(dropout) => st.updateLora({ dropout })} />
          <label className="check">
            <input type="checkbox" checked={lora.useRslora} onChange={(e) => st.updateLora({ useRslora: e.target.checked })} /> rsLoRA (scale alpha/√r)
          </label>
          <fieldset className="targets">
            <legend>Target modules</legend>
            {TARGET_MODULES.map((t) => (
              <label key={t} className="check">
                <input
                  type="checkbox"
                  data-testid={`target-${t}`}
                  checked={lora.targets.includes(t)}
                  onChange={(e) => {
                    const next = e.target.checked ? [...lora.targets, t] : lora.targets.filter((x) => x !== t);
                    if (next.length) st.updateLora({ targets: TARGET_MODULES.filter((m) => next.includes(m)) });
                  }}
                />
                <code>{t}</code> <span className="hint">{TARGET_HELP[t]}</span>
              </label>
            ))}
          </fieldset>
        </fieldset>
        <fieldset className="panel">
          <legend>Training</legend>
          <NumberField label="Learning rate" testId="lr" value={train.learningRate} range={TRAIN_RANGES.learningRate} format={formatLr} onChange={(learningRate) => st.updateTrain({ learningRate })} />
          <NumberField label="Epochs" testId="epochs" value={train.epochs} range={TRAIN_RANGES.epochs} onChange={(epochs) => st.updateTrain({ epochs })} />
          <NumberField label="Max steps (0 = all epochs)" testId="max-steps" value={train.maxSteps} range={TRAIN_RANGES.maxSteps} onChange={(maxSteps) => st.updateTrain({ maxSteps })} />
          <NumberField label="Micro-batch (rows per pass)" testId="micro-batch" value={train.microBatch} range={TRAIN_RANGES.microBatch} onChange={(microBatch) => st.updateTrain({ microBatch })} />
          <NumberField label="Gradient accumulation" testId="accumulation" value={train.accumulation} range={TRAIN_RANGES.accumulation} onChange={(accumulation) => st.updateTrain({ accumulation })} hint={`batch size ${batchSize(train)} = ${train.microBatch} × ${train.accumulation}`} />
          <NumberField label="Max length (tokens)" testId="max-length" value={train.maxLength} range={TRAIN_RANGES.maxLength} onChange={(maxLength) => st.updateTrain({ maxLength })} />
          <NumberField label="Weight decay" testId="weight-decay" value={train.weightDecay} range={TRAIN_RANGES.weightDecay} onChange={(weightDecay) => st.updateTrain({ weightDecay })} />
          <div className="field">
            <label htmlFor="schedule">Schedule</label>
            <select id="schedule" data-testid="schedule" value={train.schedule} onChange={(e) => st.updateTrain({ schedule: e.target.value as Schedule })}>
              {SCHEDULES.map((s) => <option key={s} value={s}>{s} with warmup</option>)}
            </select>
          </div>
          <NumberField label="Warmup (fraction of steps)" testId="warmup" value={train.warmupRatio} range={TRAIN_RANGES.warmupRatio} onChange={(warmupRatio) => st.updateTrain({ warmupRatio })} />
          <NumberField label="Seed" testId="seed" value={train.seed} range={TRAIN_RANGES.seed} onChange={(seed) => st.updateTrain({ seed })} />
          <NumberField label="Validation every N steps" testId="eval-interval" value={train.evalInterval} range={TRAIN_RANGES.evalInterval} onChange={(evalInterval) => st.updateTrain({ evalInterval })} />
          <NumberField label="Checkpoint every N steps" testId="checkpoint-interval" value={train.checkpointInterval} range={TRAIN_RANGES.checkpointInterval} onChange={(checkpointInterval) => st.updateTrain({ checkpointInterval })} />
        </fieldset>
      </div>
      <div className="panel">
        <MemoryEstimate />
        <div className="row">
          <button type="button" className="primary" data-testid="start-training" disabled={!datasetReady || !modelReady || running} onClick={() => void c.train()}>
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
        </div>
      </div>
    </section>
  );
}
