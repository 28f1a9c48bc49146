import { useRef, useState } from 'react';
import { useController, useStudio } from '../context';
import type { ColumnMapping } from '../../data/schema';
import { describeMapping } from '../../data/schema';
import { formatBytes, formatCount } from '../format';
import type { DatasetInfo } from '../../worker/protocol';

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

function Preview({ info }: { info: DatasetInfo }) {
  if (!info.preview.length) return null;
  const columns = info.columns.length ? info.columns : Object.keys(info.preview[0]);
  return (
    <div className="table-wrap" tabIndex={0} aria-label="Preview of the first rows">
      <table data-testid="preview">
        <thead>
          <tr>
            <th scope="col">#</th>
            {columns.map((col) => <th key={col} scope="col">{col}</th>)}
          </tr>
        </thead>
        <tbody>
          {info.preview.map((row, i) => (
            <tr key={i}>
              <td>{i + 1}</td>
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
  const input = useRef<HTMLInputElement>(null);
  const take = (files: FileList | null) => {
    const f = files?.[0];
    if (f) void c.readDataset(f, f.name);
  };
  const info = dataset.status === 'ready' ? dataset.info : dataset.status === 'error' ? dataset.info : null;
  return (
    <section className="screen" aria-labelledby="dataset-title">
      <h2 id="dataset-title">Dataset</h2>
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
      <p className="hint">
        No dataset at hand?{' '}
        <button type="button" data-testid="sample-dataset" onClick={() => void c.useSampleDataset()}>Use the sample dataset</button>{' '}
        — a pirate’s answers to simple questions: the demo model learns the style in a couple of minutes.
      </p>
      {!modelReady && <p className="hint">Load a model to tokenize the dataset and see its statistics.</p>}
      {dataset.status === 'reading' && <p role="status">Reading {dataset.name}…</p>}
      {dataset.status === 'error' && (
        <div className="panel error" role="alert" data-testid="dataset-errors">
          <h3>{dataset.message}</h3>
          {dataset.info && (
            <ul>
              {dataset.info.errors.map((e, i) => (
                <li key={i} data-line={e.line ?? ''}>
                  {e.line !== null && <span className="badge">line {e.line}</span>} {e.message}
                </li>
              ))}
            </ul>
          )}
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
            {info.stats ? (
              <dl className="facts" data-testid="stats">
                <dt>Rows</dt><dd data-testid="stat-rows">{info.stats.rows.toLocaleString()}</dd>
                <dt>Train / validation</dt><dd>{info.stats.trainRows.toLocaleString()} / {info.stats.validationRows.toLocaleString()}</dd>
                <dt>Tokens</dt><dd>{formatCount(info.stats.tokens)} ({formatCount(info.stats.targetTokens)} trained)</dd>
                <dt>Tokens per row</dt><dd>mean {info.stats.meanTokens.toFixed(1)}, max {info.stats.maxTokens}</dd>
                <dt>Truncated rows</dt><dd>{info.stats.truncatedRows}</dd>
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
      {info && <Preview info={info} />}
    </section>
  );
}
