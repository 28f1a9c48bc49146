// One run setting as a control, generated from its definition in the settings contract: label, one
// line of help with the recipe's default, and the control. Numbers get a text field (one tab stop;
// ArrowUp/ArrowDown step it) and, where a range makes sense, a slider for the mouse. A value out of
// range is shown as an error at the field and never applied or clamped.
import { useEffect, useId, useState } from 'react';
import {
  DEFAULT_SETTINGS,
  checkSetting,
  formatNumber,
  formatSettingValue,
  getSetting,
  parseSetting,
  TARGET_HELP,
  type NumberDef,
  type SettingDef,
  type SettingValue,
} from '../../settings/settings';

function sliderPosition(d: NumberDef, v: number): number {
  return d.log ? Math.log10(Math.max(v, d.min)) : v;
}

function fromSlider(d: NumberDef, s: number): number {
  if (!d.log) return s;
  const v = Number((10 ** s).toPrecision(2));
  return d.integer ? Math.round(v) : v;
}

function NumberControl({ d, value, onChange, disabled, inputId, describedBy, testId }: { d: NumberDef; value: number; onChange: (v: number) => void; disabled?: boolean; inputId: string; describedBy: string; testId: string }) {
  const [text, setText] = useState(formatNumber(value));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText(formatNumber(value));
    setError(null);
  }, [value]);
  const commit = (t: string) => {
    const r = parseSetting(d, t);
    if ('error' in r) setError(r.error);
    else {
      setError(null);
      onChange(r.value as number);
    }
  };
  const step = (dir: 1 | -1) => {
    const next = d.log ? value * (dir > 0 ? 2 : 0.5) : value + dir * d.step;
    const v = d.integer ? Math.round(next) : Number(next.toPrecision(6));
    if (checkSetting(d, v) === null) onChange(v);
  };
  return (
    <>
      <div className="number-row">
        {d.slider && (
          <input
            type="range"
            tabIndex={-1}
            aria-label={`${d.label} slider`}
            aria-valuetext={formatSettingValue(d, value)}
            data-testid={`${testId}-slider`}
            min={sliderPosition(d, d.min)}
            max={sliderPosition(d, d.max)}
            step={d.log ? 0.01 : d.step}
            value={sliderPosition(d, value)}
            disabled={disabled}
            onChange={(e) => {
              const v = fromSlider(d, Number(e.target.value));
              if (checkSetting(d, v) === null) onChange(v);
            }}
          />
        )}
        <input
          id={inputId}
          data-testid={testId}
          type="text"
          inputMode="decimal"
          value={text}
          disabled={disabled}
          aria-invalid={error !== null}
          aria-describedby={describedBy}
          onChange={(e) => setText(e.target.value)}
          onBlur={() => commit(text)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') commit(text);
            else if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
              e.preventDefault();
              step(e.key === 'ArrowUp' ? 1 : -1);
            }
          }}
        />
        {d.unit && <span className="unit">{d.unit}</span>}
      </div>
      {error && <p className="field-error" role="alert" data-testid={`${testId}-error`}>{error}</p>}
    </>
  );
}

export function SettingField({ d, value, onChange, disabled, testId, extra }: {
  d: SettingDef;
  value: SettingValue;
  onChange: (v: SettingValue) => void;
  disabled?: boolean;
  /** Defaults to the setting's CLI name. */
  testId?: string;
  /** A derived value or a note shown under the help line. */
  extra?: string;
}) {
  const id = useId();
  const helpId = `${id}-help`;
  const tid = testId ?? d.cli;
  const recipe = formatSettingValue(d, getSetting(DEFAULT_SETTINGS, d.key));
  const help = (
    <p className="hint" id={helpId}>
      {d.help} <span className="recipe">Recipe default: {recipe}.</span>
      {extra && <> <span data-testid={`${tid}-derived`}>{extra}</span></>}
    </p>
  );
  if (d.kind === 'number') {
    return (
      <div className="field number-field">
        <label htmlFor={id}>{d.label}</label>
        <NumberControl d={d} value={value as number} onChange={onChange} disabled={disabled} inputId={id} describedBy={helpId} testId={tid} />
        {help}
      </div>
    );
  }
  if (d.kind === 'bool') {
    return (
      <div className="field">
        <label className="check">
          <input type="checkbox" data-testid={tid} checked={value as boolean} disabled={disabled} aria-describedby={helpId} onChange={(e) => onChange(e.target.checked)} /> {d.label}
        </label>
        {help}
      </div>
    );
  }
  if (d.kind === 'choice') {
    return (
      <div className="field">
        <label htmlFor={id}>{d.label}</label>
        <select id={id} data-testid={tid} value={value as string} disabled={disabled} aria-describedby={helpId} onChange={(e) => onChange(e.target.value)}>
          {d.choices.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
        {help}
      </div>
    );
  }
  const list = value as string[];
  return (
    <fieldset className="field targets" aria-describedby={helpId}>
      <legend>{d.label}</legend>
      {d.choices.map((c) => (
        <label key={c} className="check">
          <input
            type="checkbox"
            data-testid={`${tid}-${c}`}
            checked={list.includes(c)}
            disabled={disabled}
            onChange={(e) => {
              const next = e.target.checked ? [...list, c] : list.filter((x) => x !== c);
              if (next.length) onChange(d.choices.filter((m) => next.includes(m)));
            }}
          />
          <code>{c}</code> <span className="hint">{(TARGET_HELP as Record<string, string>)[c] ?? ''}</span>
        </label>
      ))}
      {help}
    </fieldset>
  );
}
