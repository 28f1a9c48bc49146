// One run setting as a control, generated from its definition in the settings contract: label, one
// line of help with the recipe's default, and the control. Numbers get a text field (one tab stop;
// ArrowUp/ArrowDown step it) and, where a range makes sense, a slider for the mouse. A value out of
// range is shown as an error at the field and never applied or clamped.
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
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

/** How long a field waits after the last key before it shows why its text is not a valid value. */
const SHOW_ERROR_AFTER_MS = 700;

function NumberControl({ d, value, onChange, onInvalid, disabled, inputId, describedBy, testId }: {
  d: NumberDef;
  value: number;
  onChange: (v: number) => void;
  onInvalid?: (message: string | null) => void;
  disabled?: boolean;
  inputId: string;
  describedBy: string;
  testId: string;
}) {
  const [text, setText] = useState(formatNumber(value));
  // Why the text is not a valid value (null: it is); shown once the user commits or pauses.
  const [problem, setProblem] = useState<string | null>(null);
  const [shown, setShown] = useState(false);
  // A note when ArrowUp/ArrowDown would leave the range.
  const [edgeNote, setEdgeNote] = useState<string | null>(null);
  const report = useRef(onInvalid);
  report.current = onInvalid;
  // The value changed from outside (a link, the slider, a fix): the field follows unless it already says so.
  useEffect(() => {
    setText((t) => {
      const r = parseSetting(d, t);
      return 'value' in r && r.value === value ? t : formatNumber(value);
    });
    setProblem(null);
  }, [d, value]);
  useEffect(() => report.current?.(problem), [problem]);
  // A field that goes away takes its unapplied text with it.
  useEffect(() => () => report.current?.(null), []);
  useEffect(() => {
    if (!problem || shown) return;
    const timer = setTimeout(() => setShown(true), SHOW_ERROR_AFTER_MS);
    return () => clearTimeout(timer);
  }, [problem, shown, text]);
  const edit = (t: string) => {
    setText(t);
    const r = parseSetting(d, t);
    setProblem('error' in r ? r.error : null);
    setShown(false);
  };
  const commit = () => {
    const r = parseSetting(d, text);
    if ('error' in r) {
      setProblem(r.error);
      setShown(true);
    } else {
      setProblem(null);
      if (r.value !== value) onChange(r.value as number);
    }
  };
  const step = (dir: 1 | -1) => {
    const r = parseSetting(d, text);
    const from = 'value' in r ? (r.value as number) : value;
    // Log-scale settings move by doubling (ranks, learning rates); others by the contract's step.
    const next = d.log ? from * (dir > 0 ? 2 : 0.5) : from + dir * d.step;
    const v = d.integer ? Math.round(next) : Number(next.toPrecision(6));
    const why = checkSetting(d, v);
    if (why === null) {
      setText(formatNumber(v));
      setProblem(null);
      onChange(v);
    } else {
      // At the end of the range: say so, and keep the value (never clamp).
      setProblem(null);
      setShown(false);
      setEdgeNote(why);
    }
  };
  useEffect(() => {
    if (!edgeNote) return;
    const timer = setTimeout(() => setEdgeNote(null), 2500);
    return () => clearTimeout(timer);
  }, [edgeNote]);
  const visible = problem && shown ? problem : null;
  return (
    <>
      <div className={`number-row${d.slider ? '' : ' no-slider'}`}>
        {d.slider && (
          <input
            type="range"
            // The text field is the knob's one tab stop (it steps with ArrowUp/ArrowDown); the slider is for the mouse.
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
              if (checkSetting(d, v) === null) {
                setText(formatNumber(v));
                setProblem(null);
                onChange(v);
              }
            }}
          />
        )}
        <input
          id={inputId}
          data-testid={testId}
          type="text"
          inputMode="decimal"
          autoComplete="off"
          spellCheck={false}
          value={text}
          disabled={disabled}
          aria-invalid={problem !== null}
          aria-describedby={visible ? `${describedBy} ${inputId}-error` : describedBy}
          onChange={(e) => edit(e.target.value)}
          onBlur={commit}
          onKeyDown={(e) => {
            if (e.key === 'Enter') commit();
            else if (e.key === 'Escape') edit(formatNumber(value));
            else if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
              e.preventDefault();
              step(e.key === 'ArrowUp' ? 1 : -1);
            }
          }}
        />
        {(d.unit || (d.zero && value === 0)) && <span className="unit">{[d.unit, d.zero && value === 0 ? `(0 = ${d.zero})` : ''].filter(Boolean).join(' ')}</span>}
      </div>
      {visible && (
        <p className="field-error" id={`${inputId}-error`} role="alert" data-testid={`${testId}-error`}>
          {visible} — not applied; the run keeps {formatSettingValue(d, value)}.
        </p>
      )}
      {!visible && edgeNote && <p className="hint" role="status" data-testid={`${testId}-edge`}>{edgeNote}</p>}
    </>
  );
}

export function SettingField({ d, value, onChange, onInvalid, disabled, testId, extra }: {
  d: SettingDef;
  value: SettingValue;
  onChange: (v: SettingValue) => void;
  /** The field holds text that is not a valid value (not applied), or no longer does (null). */
  onInvalid?: (message: string | null) => void;
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
  const [listError, setListError] = useState<string | null>(null);
  const [focusIndex, setFocusIndex] = useState(0);
  const help = (
    <p className="hint" id={helpId} data-testid={`${tid}-help`}>
      {d.help} <span className="recipe">Recipe default: {recipe}.</span>
      {extra && <> <span data-testid={`${tid}-derived`}>{extra}</span></>}
    </p>
  );
  if (d.kind === 'number') {
    return (
      <div className="field number-field" data-setting={d.key}>
        <label htmlFor={id}>{d.label}</label>
        <NumberControl d={d} value={value as number} onChange={onChange} onInvalid={onInvalid} disabled={disabled} inputId={id} describedBy={helpId} testId={tid} />
        {help}
      </div>
    );
  }
  if (d.kind === 'bool') {
    return (
      <div className="field" data-setting={d.key}>
        <label className="check">
          <input type="checkbox" data-testid={tid} checked={value as boolean} disabled={disabled} aria-describedby={helpId} onChange={(e) => onChange(e.target.checked)} /> {d.label}
        </label>
        {help}
      </div>
    );
  }
  if (d.kind === 'choice') {
    return (
      <div className="field" data-setting={d.key}>
        <label htmlFor={id}>{d.label}</label>
        <select id={id} data-testid={tid} value={value as string} disabled={disabled} aria-describedby={helpId} onChange={(e) => onChange(e.target.value)}>
          {d.choices.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
        {help}
      </div>
    );
  }
  const list = value as string[];
  // One tab stop for the whole list (roving focus): arrows move between the boxes, Space ticks one.
  const move = (e: KeyboardEvent<HTMLInputElement>, i: number) => {
    const delta = e.key === 'ArrowDown' || e.key === 'ArrowRight' ? 1 : e.key === 'ArrowUp' || e.key === 'ArrowLeft' ? -1 : 0;
    if (!delta) return;
    e.preventDefault();
    const next = (i + delta + d.choices.length) % d.choices.length;
    setFocusIndex(next);
    (e.currentTarget.closest('fieldset')?.querySelectorAll('input[type="checkbox"]')[next] as HTMLInputElement | undefined)?.focus();
  };
  return (
    <fieldset className="field targets" aria-describedby={helpId} data-setting={d.key}>
      <legend>{d.label}</legend>
      {d.choices.map((c, i) => (
        <label key={c} className="check">
          <input
            type="checkbox"
            data-testid={`${tid}-${c}`}
            checked={list.includes(c)}
            disabled={disabled}
            tabIndex={i === focusIndex ? 0 : -1}
            onFocus={() => setFocusIndex(i)}
            onKeyDown={(e) => move(e, i)}
            onChange={(e) => {
              const next = d.choices.filter((m) => (m === c ? e.target.checked : list.includes(m)));
              const why = checkSetting(d, next);
              setListError(why);
              // The last target stays ticked: a run needs one, and the field says why.
              if (why === null) onChange(next);
            }}
          />
          <code>{c}</code> <span className="hint">{(TARGET_HELP as Record<string, string>)[c] ?? ''}</span>
        </label>
      ))}
      {listError && <p className="field-error" role="alert" data-testid={`${tid}-error`}>{listError}</p>}
      {help}
    </fieldset>
  );
}
