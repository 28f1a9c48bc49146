import { useEffect, useRef, useState } from 'react';
import { useController, useStudio } from '../context';
import type { AdapterMeta } from '../../storage/adapters';
import { formatNumber } from '../../settings/settings';
import { formatBytes, formatLoss, formatMetric, metricLabel } from '../format';
import { exportTargetsFor, type ExportTarget } from '../exportTargets';
import { canPickFolder } from '../download';

function Sparkline({ curve }: { curve: [number, number][] }) {
  if (curve.length < 2) return null;
  const xs = curve.map((p) => p[0]);
  const ys = curve.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const d = curve.map(([x, y], i) => `${i ? 'L' : 'M'}${(((x - x0) / (x1 - x0 || 1)) * 100).toFixed(1)},${(28 - ((y - y0) / (y1 - y0 || 1)) * 26).toFixed(1)}`).join('');
  return (
    <svg className="sparkline" viewBox="0 0 100 30" aria-hidden="true">
      <path d={d} />
    </svg>
  );
}

/**
 * "Export for…": where the adapter goes, its quantization, a zip or a folder, and the export's
 * progress. The destinations depend on the adapter: an encoder classifier's has no GGUF.
 */
function ExportPanel({ a, onClose }: { a: AdapterMeta; onClose: () => void }) {
  const c = useController();
  const exporting = useStudio((s) => s.exporting);
  const [kind, setKind] = useState<'decoder' | 'encoder' | null>(null);
  useEffect(() => {
    let live = true;
    void c.adapterKind(a.id).then((k) => live && setKind(k), () => live && setKind('decoder'));
    return () => {
      live = false;
    };
  }, [c, a.id]);
  const targets = kind ? exportTargetsFor(kind) : [];
  const [target, setTarget] = useState<ExportTarget>('peft');
  const info = targets.find((t) => t.target === target) ?? { quants: [{ value: null, label: '' }] };
  const [quant, setQuant] = useState<string | null>(null);
  const folders = canPickFolder();
  const mine = exporting?.adapterId === a.id ? exporting : null;
  const go = (destination: 'zip' | 'folder') => void c.exportFor(a.id, target, quant, destination).then((ok) => ok && onClose());
  return (
    <div className="panel export" data-testid="export-panel" data-kind={kind ?? ''} role="group" aria-label={`Export ${a.name}`}>
      <fieldset disabled={Boolean(exporting) || !kind}>
        <legend>Export for…</legend>
        {!kind && <span className="hint">Reading the adapter…</span>}
        {targets.map((t) => (
          <label key={t.target} className="choice">
            <input
              type="radio"
              name={`export-${a.id}`}
              value={t.target}
              data-testid={`export-target-${t.target}`}
              checked={target === t.target}
              onChange={() => {
                setTarget(t.target);
                setQuant(t.quants[0].value);
              }}
            />
            <span>
              <b>{t.title}</b>
              <br />
              <span className="hint">{t.detail}</span>
            </span>
          </label>
        ))}
        {info.quants.length > 1 && (
          <label>
            Weights{' '}
            <select data-testid="export-quant" value={quant ?? ''} onChange={(e) => setQuant(e.target.value || null)}>
              {info.quants.map((q) => <option key={q.value ?? ''} value={q.value ?? ''}>{q.label}</option>)}
            </select>
          </label>
        )}
        <div className="row">
          <button type="button" data-testid="export-zip" onClick={() => go('zip')}>Download zip</button>
          <button
            type="button"
            data-testid="export-folder"
            disabled={!folders}
            title={folders ? 'Write the files into a folder you pick' : 'This browser cannot write into a folder (no File System Access API): download the zip'}
            onClick={() => go('folder')}
          >
            Save into a folder…
          </button>
          <button type="button" onClick={onClose}>Close</button>
        </div>
      </fieldset>
      {mine && (
        <div className="row" data-testid="export-progress">
          <progress max={Math.max(1, mine.total)} value={Math.min(mine.done + 1, mine.total)} />
          <span className="hint">{mine.stage} ({Math.min(mine.done + 1, mine.total)}/{mine.total})</span>
          <button type="button" onClick={() => c.cancelExport()}>Cancel</button>
        </div>
      )}
    </div>
  );
}

/** The last evaluation's metrics beyond the losses (perplexity and loss are on the loss line). */
function evalMetrics(a: AdapterMeta): [string, number][] {
  return Object.entries(a.metrics.finalEval ?? {}).filter(([k]) => k !== 'eval_loss' && k !== 'eval_perplexity');
}

function AdapterCard({ a }: { a: AdapterMeta }) {
  const c = useController();
  const [editing, setEditing] = useState(false);
  const [exportOpen, setExportOpen] = useState(false);
  const [name, setName] = useState(a.name);
  const s = a.settings;
  const imported = a.origin === 'imported';
  return (
    <li className="panel adapter" data-testid="library-item" data-adapter-id={a.id}>
      <div className="row spread">
        {editing ? (
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              void c.rename(a.id, name).then(() => setEditing(false));
            }}
          >
            <input aria-label="New name" value={name} onChange={(e) => setName(e.target.value)} autoFocus onKeyDown={(e) => e.key === 'Escape' && setEditing(false)} />
            <button type="submit">Save</button>
          </form>
        ) : (
          <h3 data-testid="library-name">{a.name}</h3>
        )}
        <Sparkline curve={a.metrics.lossCurve} />
      </div>
      <dl className="facts inline">
        <dt>base</dt><dd data-testid="library-base">{a.baseModel}</dd>
        <dt>LoRA</dt><dd data-testid="library-lora">r {s.lora.r}, alpha {s.lora.alpha}{s.lora.useRslora ? ' (rsLoRA)' : ''}, dropout {formatNumber(s.lora.dropout)}, {s.lora.targets.join(' ')}</dd>
        {/* An imported adapter's file records its base and LoRA settings, not how it was trained. */}
        <dt>training</dt>
        <dd data-testid="library-training" title={imported ? 'not recorded in adapter_config.json' : undefined}>
          lr {imported ? '—' : formatNumber(s.train.learningRate)}, batch {imported ? '—' : s.train.batchSize}, steps {imported ? '—' : a.metrics.steps}
        </dd>
        <dt>loss</dt><dd>{formatLoss(a.metrics.finalLoss)} (validation {formatLoss(a.metrics.finalValidationLoss)})</dd>
        {/* A classifier's last evaluation (accuracy, F1, MSE, …), trained here or imported with its trainer_state.json. */}
        {evalMetrics(a).length > 0 && (<><dt>metrics</dt><dd data-testid="library-metrics">{evalMetrics(a).map(([k, v]) => `${metricLabel(k)} ${formatMetric(k, v)}`).join(', ')}</dd></>)}
        {a.trainedWith && (<><dt>trained with</dt><dd data-testid="library-trained-with">{a.trainedWith}</dd></>)}
        <dt>dataset</dt><dd>{a.dataset ? `${a.dataset.name}, ${a.dataset.rows} rows, ${a.dataset.tokens} tokens` : a.origin === 'imported' ? 'imported' : '—'}</dd>
        <dt>size</dt><dd>{formatBytes(a.bytes)}</dd>
        <dt>saved</dt><dd>{new Date(a.createdAt).toLocaleString()}</dd>
      </dl>
      <div className="row">
        <button type="button" data-testid="library-download" onClick={() => void c.download(a.id, 'zip')}>Download zip</button>
        <button type="button" title="adapter_model.safetensors alone" onClick={() => void c.download(a.id, 'model')}>.safetensors</button>
        <button type="button" title="adapter_config.json alone" onClick={() => void c.download(a.id, 'config')}>config</button>
        <button type="button" data-testid="library-export" aria-expanded={exportOpen} onClick={() => setExportOpen(!exportOpen)}>Export for…</button>
        <button type="button" onClick={() => void c.tryInPlayground(a.id)}>Try</button>
        <button type="button" onClick={() => void c.continueTraining(a.id)}>Continue training</button>
        <button type="button" data-testid="library-pytorch" title="Continue this adapter on PyTorch (Transformers + PEFT, one or many GPUs) with the current dataset" onClick={() => void c.exportPytorch(a.id)}>Run on GPUs…</button>
        <button type="button" onClick={() => setEditing(true)}>Rename</button>
        <button
          type="button"
          className="danger"
          data-testid="library-delete"
          onClick={() => {
            if (confirm(`Delete “${a.name}” from this browser?`)) void c.remove(a.id);
          }}
        >
          Delete
        </button>
      </div>
      {exportOpen && <ExportPanel a={a} onClose={() => setExportOpen(false)} />}
    </li>
  );
}

export function LibraryScreen() {
  const c = useController();
  const library = useStudio((s) => s.library);
  const storage = useStudio((s) => s.storage);
  const zipInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  return (
    <section className="screen" aria-labelledby="library-title">
      <h2 id="library-title">Library</h2>
      <div className="panel row spread">
        <span className="hint">
          Adapters live in this browser’s storage{storage.usage !== null && storage.quota !== null ? ` (${formatBytes(storage.usage)} used of ${formatBytes(storage.quota)})` : ''}
          {storage.persisted === true ? ', marked persistent.' : storage.persisted === false ? '; the browser may clear it under storage pressure.' : '.'}
        </span>
        <span className="row">
          <button type="button" onClick={() => zipInput.current?.click()}>Import zip</button>
          <button type="button" onClick={() => folderInput.current?.click()}>Import folder</button>
          <input ref={zipInput} type="file" accept=".zip" hidden data-testid="import-zip" onChange={(e) => e.target.files?.length && void c.importAdapter(Array.from(e.target.files))} />
          {/* @ts-expect-error: folder picking */}
          <input ref={folderInput} type="file" multiple webkitdirectory="" hidden onChange={(e) => e.target.files?.length && void c.importAdapter(Array.from(e.target.files))} />
        </span>
      </div>
      {library.length === 0 ? (
        <p className="panel">No adapters yet. Trained adapters are saved here automatically.</p>
      ) : (
        <ul className="plain" data-testid="library">
          {library.map((a) => <AdapterCard key={a.id} a={a} />)}
        </ul>
      )}
    </section>
  );
}
