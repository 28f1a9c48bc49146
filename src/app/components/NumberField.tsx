// A slider with a numeric input beside it, both bound to one setting. The slider may be on a log
// scale (learning rate); the input takes any value in range, clamped on commit.
import { useEffect, useId, useState } from 'react';
import { clampNumber, type NumericRange } from '../store/settings';

export function NumberField({ label, value, range, onChange, hint, format, testId }: {
  label: string;
  value: number;
  range: NumericRange;
  onChange: (v: number) => void;
  hint?: string;
  format?: (v: number) => string;
  testId?: string;
}) {
  const id = useId();
  const [text, setText] = useState(String(value));
  useEffect(() => setText(format ? format(value) : String(value)), [value, format]);
  const toSlider = (v: number) => (range.log ? Math.log10(Math.max(v, range.min)) : v);
  const fromSlider = (s: number) => (range.log ? Number((10 ** s).toPrecision(2)) : s);
  const commit = () => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) {
      setText(String(value));
      return;
    }
    const v = clampNumber(n, range);
    onChange(v);
    setText(format ? format(v) : String(v));
  };
  return (
    <div className="field number-field">
      <label htmlFor={id}>{label}</label>
      <div className="number-row">
        <input
          type="range"
          aria-label={`${label} slider`}
          min={toSlider(range.min)}
          max={toSlider(range.max)}
          step={range.log ? 0.01 : range.step}
          value={toSlider(value)}
          onChange={(e) => onChange(clampNumber(fromSlider(Number(e.target.value)), range))}
        />
        <input
          id={id}
          data-testid={testId}
          type="text"
          inputMode="decimal"
          value={text}
          onChange={(e) => setText(e.target.value)}
          onBlur={commit}
          onKeyDown={(e) => {
            if (e.key === 'Enter') commit();
          }}
        />
      </div>
      {hint && <p className="hint">{hint}</p>}
    </div>
  );
}
