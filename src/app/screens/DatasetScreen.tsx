import { useRef, useState } from 'react';
import { useController, useStudio } from '../context';
import type { ColumnMapping } from '../../data/schema';
import { describeMapping } from '../../data/schema';
import { formatBytes, formatCount } from '../format';
import type { DatasetInfo, DatasetIssue } from '../../worker/protocol';
import { SettingField } from '../components/SettingField';
import { getSetting, settingDef } from '../../settings/settings';

/**
 * What the data layer's report adds to DatasetInfo where it has it (src/data/report.ts): preview rows
 * with their real row and line numbers, the rows skipped under "skip bad rows", the split used.
 * Read as optional, so the screen works with either version of the data layer.
 */
type ReportedInfo = DatasetInfo & {
  previewRows?: { row: number; line: number | null }[];
  report?: {
    errors?: Issue[];
    warnings?: string[];
    split?: { mode: 'none' | 'fraction' | 'file'; fraction?: number; validationExamples: number; note?: string } | null;
  };
};

/** A problem as listed: the data layer's report may add the row and a hint. */
type Issue = DatasetIssue & { row?: number | null; hint?: string };

/** Bad rows a file's report lists (a skip keeps them listed, with their lines). */
function skippedRows(info: ReportedInfo): Issue[] {
  return info.errors.length ? [] : (info.report?.errors ?? []);
}

function IssueList({ issues, testId }: { issues: Issue[]; testId?: string }) {
  return (
    <ul data-testid={testId}>
      {issues.map((e, i) => (
        <li key={i} data-line={e.line ?? ''} data-row={e.row ?? ''}>
          {e.line !== null && <span className="badge">line {e.line}</span>} {e.message}
          {e.hint && <span className="hint"> — {e.hint}</span>}
        </li>
      ))}
    </ul>
  );
}

/** A separate validation file: dropped or chosen here, used instead of the held-out split. */
function ValidationFile() {
  const c = useController();
  const name = useStudio((s) => s.validationFile);
  const settings = useStudio((s) => s.settings);
  const input = useRef<HTMLInputElement>(null);
  const d = settingDef('data.validationFraction');
  const take = (files: FileList | null) => {
    const f = files?.[0];
    if (f) void c.setValidationFile(f, f.name);
  };
  return (
    <div className="panel" data-testid="validation-panel">
      <h3>Validation</h3>
      {name ? (
        <p className="row">
          <span data-testid="validation-file">Validation file: <strong>{name}</strong> (instead of a held-out split)</span>
          <button type="button" data-testid="validation-file-remove" onClick={() => void c.setValidationFile(null)}>Use a split instead</button>
        </p>
      ) : (
        <SettingField d={d} value={getSetting(settings, d.key)} onChange={(v) => c.store.getState().setSetting(d.key, v)} onInvalid={(m) => c.store.getState().setFieldError(d.key, m)} testId="validation-fraction" />
      )}
      <div
        className="dropzone small"
        data-testid="validation-dropzone"
        role="button"
        tabIndex={0}
        aria-label="Drop a separate validation file here, or press Enter to choose one"
        onClick={() => input.current?.click()}
        onKeyDown={(e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            input.current?.click();
          }
        }}
        onDragOver={(e) => e.preventDefault()}
        onDrop={(e) => {
          e.preventDefault();
          take(e.dataTransfer.files);
        }}
      >
        <span>{name ? 'Drop another validation file to replace it.' : 'Or drop a separate validation file (same columns as the training file).'}</span>
        <input ref={input} type="file" accept={FORMATS} hidden data-testid="validation-input" onChange={(e) => take(e.target.files)} />
      </div>
    </div>
  );
}
import { SampleDataset } from '../classify/SampleDataset';

const FORMATS = '.jsonl,.ndjson,.json,.csv,.tsv,.txt,.md,.parquet,.gz';

function MappingPicker({ info }: { info: DatasetInfo }) {
  const c = useController();
  const options = [...(info.mapping ? [info.mapping] : []), ...info.candidates.filter((m) => !info.mapping || describeMapping(m) !== describeMapping(info.mapping))];
  if (!options.length) return <p className="hint">No column mapping fits these columns.</p>;
  return (
    <div className="field">
      <label htmlFor="mapping">Column mapping{info.mappingSure ? '' : ' (please confirm)'}</label>
      <select
        id="mapping"
        data-testid="mapping"
        value={info.mapping ? describeMapping(info.mapping) : ''}
        onChange={(e) => {
          const m = options.find((o) => describeMapping(o) === e.target.value);
          if (m) void c.setMapping(m as ColumnMapping);
        }}
      >
        {!info.mapping && <option value="">Choose how the columns are used…</option>}
        {options.map((m) => (
          <option key={describeMapping(m)} value={describeMapping(m)}>{describeMapping(m)}</option>
        ))}
      </select>
      <p className="hint">{info.detection}</p>
    </div>
  );
}

function Preview({ info }: { info: ReportedInfo }) {
  if (!info.preview.length) return null;
  const columns = info.columns.length ? info.columns : Object.keys(info.preview[0]);
  return (
    <div className="table-wrap" tabIndex={0} aria-label="Preview of the first rows">
      <table data-testid="preview">
        <thead>
          <tr>
            <th scope="col" title="Row in the file">row</th>
            {columns.map((col) => <th key={col} scope="col">{col}</th>)}
          </tr>
        </thead>
        <tbody>
          {info.preview.map((row, i) => (
            <tr key={i}>
              <td title={info.previewRows?.[i]?.line != null ? `line ${info.previewRows[i].line}` : undefined}>{info.previewRows?.[i]?.row ?? i + 1}</td>
              {columns.map((col) => <td key={col}>{row[col] ?? ''}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function DatasetScreen() {
  const c = useController();
  const dataset = useStudio((s) => s.dataset);
  const modelReady = useStudio((s) => s.model.status === 'ready');
  const [over, setOver] = useState(false);
  // Whether "skip bad rows" was asked for this file (its answer still listing errors means they cannot be skipped).
  const [skipAsked, setSkipAsked] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const take = (files: FileList | null) => {
    const f = files?.[0];
    if (f) {
      setSkipAsked(false);
      void c.readDataset(f, f.name);
    }
  };
  const info: ReportedInfo | null = dataset.status === 'ready' ? dataset.info : dataset.status === 'error' ? dataset.info : null;
  return (
    <section className="screen" aria-labelledby="dataset-title">
      <h2 id="dataset-title">Dataset</h2>
      <SampleDataset />
      <div
        className={`dropzone${over ? ' over' : ''}`}
        data-testid="dropzone"
        role="button"
        tabIndex={0}
        aria-label="Drop a dataset file here, or press Enter to choose one"
        onClick={() => input.current?.click()}
        onKeyDown={(e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            input.current?.click();
          }
        }}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          take(e.dataTransfer.files);
        }}
      >
        <strong>Drop a dataset here</strong>
        <span>JSONL, JSON, CSV, TSV, text or Parquet (optionally .gz): chat messages, alpaca, prompt/completion, text, or text + label. It stays on this computer.</span>
        <input ref={input} type="file" accept={FORMATS} hidden data-testid="dataset-input" onChange={(e) => take(e.target.files)} />
      </div>
      {!modelReady && <p className="hint">Load a model to tokenize the dataset and see its statistics.</p>}
      {dataset.status === 'reading' && <p role="status">Reading {dataset.name}…</p>}
      {dataset.status === 'error' && (
        <div className="panel error" role="alert" data-testid="dataset-errors">
          <h3>{dataset.message}</h3>
          {dataset.info && <IssueList issues={dataset.info.errors} />}
          {dataset.info && dataset.info.errors.some((e) => e.line !== null) && (
            skipAsked ? (
              <p className="hint" data-testid="skip-refused">These rows could not be skipped: fix the lines listed and drop the file again.</p>
            ) : (
              <div className="row">
                <button type="button" className="primary" data-testid="skip-bad-rows" onClick={() => { setSkipAsked(true); void c.skipBadRows(); }}>
                  Skip the bad rows and continue with the good ones
                </button>
                <span className="hint">The skipped rows stay listed here with their lines.</span>
              </div>
            )
          )}
        </div>
      )}
      {info && skippedRows(info).length > 0 && (
        <div className="panel warn" data-testid="skipped-rows">
          <h3>{skippedRows(info).length} bad row{skippedRows(info).length === 1 ? '' : 's'} skipped; training uses the other {info.stats?.rows !== undefined ? (info.stats.rows - skippedRows(info).length).toLocaleString() : ''} rows</h3>
          <IssueList issues={skippedRows(info)} />
        </div>
      )}
      {info && (
        <div className="grid two">
          <div className="panel">
            <h3>{info.name}</h3>
            <dl className="facts">
              <dt>Size</dt><dd>{formatBytes(info.bytes)}</dd>
              <dt>Format</dt><dd>{info.format}</dd>
              <dt>Schema</dt><dd data-testid="schema">{info.kind ?? 'unknown'}</dd>
              <dt>Columns</dt><dd>{info.columns.join(', ') || '—'}</dd>
            </dl>
            <MappingPicker info={info} />
          </div>
          <div className="panel">
            <h3>Statistics</h3>
            {dataset.status === 'error' ? (
              <p className="hint" data-testid="stats-unavailable">Statistics appear once the file can be used{info.stats ? ` (${info.stats.rows.toLocaleString()} rows read)` : ''}.</p>
            ) : info.stats ? (
              <dl className="facts" data-testid="stats">
                <dt>Rows</dt><dd data-testid="stat-rows">{info.stats.rows.toLocaleString()}</dd>
                <dt>Train / validation</dt>
                <dd data-testid="stat-split">
                  {info.stats.trainRows.toLocaleString()} / {info.stats.validationRows.toLocaleString()}
                  {info.report?.split?.mode === 'file' ? ' (validation file)' : info.report?.split?.mode === 'fraction' ? ` (${Math.round((info.report.split.fraction ?? 0) * 100)}% held out)` : ''}
                  {info.report?.split?.note && <span className="hint"> — {info.report.split.note}</span>}
                </dd>
                <dt>Tokens</dt><dd>{formatCount(info.stats.tokens)} ({formatCount(info.stats.targetTokens)} trained)</dd>
                <dt>Tokens per row</dt><dd>mean {info.stats.meanTokens.toFixed(1)}, max {info.stats.maxTokens}</dd>
                <dt>Truncated rows</dt><dd>{info.stats.truncatedRows}</dd>
                {info.stats.skippedRows > 0 && info.errors.length === 0 && (<><dt>Skipped rows</dt><dd data-testid="stat-skipped">{info.stats.skippedRows}</dd></>)}
              </dl>
            ) : (
              <p className="hint">{modelReady ? 'Statistics appear once the rows are mapped and tokenized.' : 'Waiting for the model’s tokenizer.'}</p>
            )}
            {dataset.status === 'ready' && (
              <button type="button" className="primary" onClick={() => c.store.getState().setScreen('hyperparameters')}>Next: hyperparameters</button>
            )}
          </div>
        </div>
      )}
      {info?.report?.warnings?.length ? (
        <ul className="panel plain warnings" data-testid="dataset-warnings">{info.report.warnings.map((w) => <li key={w} className="warning-text">{w}</li>)}</ul>
      ) : null}
      {info && <ValidationFile />}
      {info && <Preview info={info} />}
    </section>
  );
}
