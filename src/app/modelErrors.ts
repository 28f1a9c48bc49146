// What the Model screen says when a model cannot be loaded or an id cannot be a hub id: the host or
// the repository by name and what to do, instead of the browser's "Failed to fetch".
import { HF_ENDPOINT } from '../hub/hub';
import { isHubId, modelLabel, type ModelChoice } from '../settings/settings';

const HOST = new URL(HF_ENDPOINT).host;

/** The browser's words for a request that never reached a server (Chromium, Firefox, Safari, Node). */
const NETWORK = /Failed to fetch|NetworkError|Load failed|network error|fetch failed|ERR_INTERNET_DISCONNECTED|ERR_NAME_NOT_RESOLVED|ERR_CONNECTION/i;

/** One message for a failed model load: what happened to which model, and what to do. */
export function explainModelError(choice: ModelChoice, message: string, opts: { tokenGiven?: boolean } = {}): string {
  const text = message.replace(/^(?:\w+Error: )+/, '');
  if (choice.kind === 'hub') {
    const repo = choice.id;
    const page = `${HF_ENDPOINT}/${repo}`;
    if (NETWORK.test(message)) {
      return `Could not reach ${HOST} to download “${repo}”: this computer looks offline, or a firewall, proxy or extension blocks ${HOST}. Check the connection and choose the model again; the built-in demo model and model folders on this computer work offline.`;
    }
    if (/HTTP (401|403)\b/.test(message)) {
      return opts.tokenGiven
        ? `${HOST} refused the access token for “${repo}” (${/HTTP 403/.test(message) ? 'HTTP 403' : 'HTTP 401'}). If the model is gated, accept its license at ${page} with the account the token belongs to; check that the token has read access, or paste a new one.`
        : `“${repo}” is gated or private on ${HOST}, or does not exist. If it exists, accept its license at ${page}, create a read token at ${HF_ENDPOINT}/settings/tokens and paste it in the access token field, then choose the model again.`;
    }
    if (/config\.json: not found|HTTP 404/.test(message)) {
      return `${HOST} has no model “${repo}” (no config.json at ${page}): check the owner and name (they are case-sensitive) on ${HOST}.`;
    }
    if (/HTTP (429|5\d\d)\b/.test(message)) {
      return `${HOST} did not answer for “${repo}” (${/HTTP \d+/.exec(message)?.[0]}): the hub is busy or down. Try again in a minute.`;
    }
    return `“${repo}” could not be loaded: ${text}`;
  }
  if (NETWORK.test(message) && choice.kind === 'demo') {
    return `The built-in demo model could not be read from this site (${text}): reload the page.`;
  }
  return `The ${modelLabel(choice)} could not be loaded: ${text}`;
}

/** Why text typed as a hub model id is not one (null when it is). */
export function hubIdProblem(text: string): string | null {
  const id = text.trim();
  if (id === '') return null;
  if (isHubId(id)) return null;
  const fromUrl = /^https?:\/\/(?:www\.)?huggingface\.co\/([^/?#\s]+\/[^/?#\s]+)/i.exec(id);
  if (fromUrl && isHubId(fromUrl[1])) return `Paste only the id, “${fromUrl[1]}”, not the page’s address.`;
  if (/\s/.test(id)) return 'A hub id has no spaces: it looks like “HuggingFaceTB/SmolLM2-135M-Instruct”.';
  if (!id.includes('/')) return `A hub id has an owner and a name, “owner/${id}”: for example “HuggingFaceTB/SmolLM2-135M-Instruct”.`;
  if (id.split('/').length > 2) return 'A hub id is just owner/name (no further path, no file name).';
  if (id.includes('..')) return 'A hub id cannot contain “..”.';
  return 'A hub id uses letters, digits, “-”, “_” and “.” (at most 96 each side of the “/”), starting with a letter or digit.';
}
