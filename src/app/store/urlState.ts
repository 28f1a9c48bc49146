// The share link: model, adapter and hyperparameters in the URL's query string. Only settings that
// differ from the defaults are written, so a link stays short. Reading is strict: each parameter is
// parsed as a number, a known word or a hub id; anything else is dropped with a plain-text notice.
// Nothing from the URL is ever evaluated or rendered as HTML (notices are React text nodes).
import {
  DEFAULT_SETTINGS,
  LORA_RANGES,
  SCHEDULES,
  TARGET_MODULES,
  TRAIN_RANGES,
  checkNumber,
  cloneSettings,
  isHubId,
  type LoraSettings,
  type NumericRange,
  type Schedule,
  type StudioSettings,
  type TargetModule,
  type TrainSettings,
} from './settings';

type NumericTrainKey = Exclude<keyof TrainSettings, 'schedule'>;

/** Short URL names of the numeric settings. */
const TRAIN_PARAMS: Record<string, NumericTrainKey> = {
  lr: 'learningRate',
  epochs: 'epochs',
  micro: 'microBatch',
  accum: 'accumulation',
  wd: 'weightDecay',
  warmup: 'warmupRatio',
  maxlen: 'maxLength',
  seed: 'seed',
  eval: 'evalInterval',
  ckpt: 'checkpointInterval',
  steps: 'maxSteps',
};
const LORA_PARAMS: Record<string, 'r' | 'alpha' | 'dropout'> = { r: 'r', alpha: 'alpha', dropout: 'dropout' };

/** Parameters the studio knows; others are ignored with a notice. */
export const KNOWN_PARAMS = ['model', ...Object.keys(LORA_PARAMS), 'targets', 'rslora', ...Object.keys(TRAIN_PARAMS), 'schedule'];

/** Longest parameter value we look at, and most notices we list (a hostile link could carry thousands). */
const MAX_VALUE_LENGTH = 200;
const MAX_NOTICES = 8;

export interface DecodedSettings {
  settings: StudioSettings;
  /** Plain-text notices about ignored parameters, for the UI to show as text. */
  notices: string[];
  /** Whether any known parameter was applied. */
  applied: boolean;
}

/** Writes the settings that differ from the defaults as a query string (without the leading '?'). */
export function encodeSettings(settings: StudioSettings): string {
  const params = new URLSearchParams();
  const d = DEFAULT_SETTINGS;
  if (settings.model.kind === 'hub') params.set('model', settings.model.id);
  for (const [name, key] of Object.entries(LORA_PARAMS)) {
    if (settings.lora[key] !== d.lora[key]) params.set(name, String(settings.lora[key]));
  }
  const targets = TARGET_MODULES.filter((t) => settings.lora.targets.includes(t));
  if (targets.join(',') !== d.lora.targets.join(',')) params.set('targets', targets.join(','));
  if (settings.lora.useRslora !== d.lora.useRslora) params.set('rslora', settings.lora.useRslora ? '1' : '0');
  for (const [name, key] of Object.entries(TRAIN_PARAMS)) {
    if (settings.train[key] !== d.train[key]) params.set(name, String(settings.train[key]));
  }
  if (settings.train.schedule !== d.train.schedule) params.set('schedule', settings.train.schedule);
  return params.toString();
}

/** A full share link for the settings, based on the page's own URL (any base path). */
export function shareLink(settings: StudioSettings, pageUrl: string): string {
  const url = new URL(pageUrl);
  url.search = encodeSettings(settings);
  url.hash = '';
  return url.toString();
}

/** Printable, bounded form of an untrusted string for a notice: control characters dropped, cut to 40 characters. */
export function quoteUntrusted(s: string): string {
  const clean = Array.from(s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '')).slice(0, 40).join('');
  return `“${clean}${s.length > 40 ? '…' : ''}”`;
}

function parseNumber(text: string, range: NumericRange): number | null {
  // Plain decimal or exponent notation only: no hex, no 'Infinity', no empty string.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return null;
  return checkNumber(Number(text), range);
}

/** Reads settings from a query string (with or without '?'); starts from the defaults. */
export function decodeSettings(search: string): DecodedSettings {
  const settings = cloneSettings(DEFAULT_SETTINGS);
  const notices: string[] = [];
  let applied = false;
  const notice = (text: string) => {
    if (notices.length < MAX_NOTICES) notices.push(text);
    else if (notices.length === MAX_NOTICES) notices.push('…and more parameters were ignored.');
  };
  const params = new URLSearchParams(search);
  const seen = new Set<string>();
  for (const [name, rawValue] of params) {
    if (!KNOWN_PARAMS.includes(name)) {
      notice(`Ignored unknown link parameter ${quoteUntrusted(name)}.`);
      continue;
    }
    if (seen.has(name)) {
      notice(`Ignored a repeated link parameter ${quoteUntrusted(name)}.`);
      continue;
    }
    seen.add(name);
    if (rawValue.length > MAX_VALUE_LENGTH) {
      notice(`Ignored link parameter “${name}”: its value is too long.`);
      continue;
    }
    const value = rawValue.trim();
    const bad = () => notice(`Ignored link parameter “${name}”: ${quoteUntrusted(value)} is not a valid value.`);
    if (name === 'model') {
      if (value === 'demo') settings.model = { kind: 'demo' };
      else if (isHubId(value)) settings.model = { kind: 'hub', id: value };
      else { bad(); continue; }
    } else if (name in LORA_PARAMS) {
      const key = LORA_PARAMS[name];
      const v = parseNumber(value, LORA_RANGES[key]);
      if (v === null) { bad(); continue; }
      (settings.lora as LoraSettings)[key] = v;
    } else if (name in TRAIN_PARAMS) {
      const key = TRAIN_PARAMS[name];
      const v = parseNumber(value, TRAIN_RANGES[key]);
      if (v === null) { bad(); continue; }
      settings.train[key] = v;
    } else if (name === 'targets') {
      const parts = value.split(',').map((p) => p.trim());
      if (parts.length === 0 || !parts.every((p): p is TargetModule => (TARGET_MODULES as readonly string[]).includes(p))) { bad(); continue; }
      settings.lora.targets = TARGET_MODULES.filter((t) => parts.includes(t));
    } else if (name === 'rslora') {
      if (value !== '0' && value !== '1') { bad(); continue; }
      settings.lora.useRslora = value === '1';
    } else if (name === 'schedule') {
      if (!(SCHEDULES as readonly string[]).includes(value)) { bad(); continue; }
      settings.train.schedule = value as Schedule;
    }
    applied = true;
  }
  return { settings, notices, applied };
}
