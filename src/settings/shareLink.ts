/**
 * The share link: the model and every run setting in the URL's query string, one parameter per
 * setting (its `url` name in the contract). Only settings that differ from the defaults are
 * written, so a link stays short. Reading is strict: each parameter is parsed as the contract
 * parses it (out of range is an error, never clamped), and anything else is dropped with a
 * plain-text notice. Nothing from the URL is ever evaluated or rendered as HTML.
 */
import { DEFAULT_SETTINGS, SETTING_DEFS, canonicalJson, cloneSettings, getSetting, isHubId, parseSetting, withSetting, type RunSettings } from './settings';

const BY_URL = new Map(SETTING_DEFS.map((d) => [d.url, d]));

/** Parameters the studio knows; others are ignored with a notice. */
export const KNOWN_PARAMS = ['model', ...SETTING_DEFS.map((d) => d.url)];

/** Longest parameter value we look at, and most notices we list (a hostile link could carry thousands). */
const MAX_VALUE_LENGTH = 200;
const MAX_NOTICES = 8;

export interface DecodedSettings {
  settings: RunSettings;
  /** Plain-text notices about ignored parameters, for the UI to show as text. */
  notices: string[];
  /** Whether any known parameter was applied. */
  applied: boolean;
}

/** Writes the settings that differ from the defaults as a query string (without the leading '?'). */
export function encodeSettings(settings: RunSettings): string {
  const params = new URLSearchParams();
  if (settings.model.kind === 'hub') params.set('model', settings.model.id);
  else if (settings.model.kind === 'demo' && settings.model.variant === 'bert') params.set('model', 'demo-bert');
  for (const d of SETTING_DEFS) {
    const v = getSetting(settings, d.key);
    if (canonicalJson(v) === canonicalJson(getSetting(DEFAULT_SETTINGS, d.key))) continue;
    params.set(d.url, Array.isArray(v) ? v.join(',') : typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  return params.toString();
}

/** A full share link for the settings, based on the page's own URL (any base path). */
export function shareLink(settings: RunSettings, pageUrl: string): string {
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

/** Reads settings from a query string (with or without '?'); starts from the defaults. */
export function decodeSettings(search: string): DecodedSettings {
  let settings = cloneSettings(DEFAULT_SETTINGS);
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
    if (name === 'model') {
      if (value === 'demo') settings.model = { kind: 'demo' };
      else if (value === 'demo-bert') settings.model = { kind: 'demo', variant: 'bert' };
      else if (isHubId(value)) settings.model = { kind: 'hub', id: value };
      else {
        notice(`Ignored link parameter “model”: ${quoteUntrusted(value)} is not a hub model id.`);
        continue;
      }
    } else {
      const d = BY_URL.get(name)!;
      const r = parseSetting(d, value);
      if ('error' in r) {
        notice(`Ignored link parameter “${name}”: ${quoteUntrusted(value)} is not valid (${r.error}).`);
        continue;
      }
      settings = withSetting(settings, d.key, r.value);
    }
    applied = true;
  }
  return { settings, notices, applied };
}
