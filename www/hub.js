// Models by their Hugging Face hub name: where their files are (`ENDPOINT/ID/resolve/REV/FILE`,
// which the hub serves with CORS headers, its large files by a redirect to its CDN), what the
// hub's answers mean, and the name a downloaded copy is kept under. The page takes no tokens, so
// a gated or private repository is named and refused. Used by the worker (model_source.js) and
// the page (app.js).
import { Code, WorkerError } from './protocol.js';

/** @typedef {import('./protocol.js').HubModel} HubModel */

export const HUB_ENDPOINT = 'https://huggingface.co';

/** The model a page without one offers, and the size of its weights. */
export const DEFAULT_HUB_MODEL = Object.freeze({ id: 'google/vit-base-patch16-224', size: '346 MB' });

// ORG/NAME as the hub allows them (a few old models have no ORG, but none of the hub's other
// namespaces is a model); a revision is a branch, a tag or a commit, and may hold '/' (refs/pr/1).
const ID = /^(?:[A-Za-z0-9][\w.-]{0,95}\/)?[A-Za-z0-9][\w.-]{0,95}$/;
const NOT_MODELS = new Set(['api', 'datasets', 'spaces', 'models', 'docs', 'settings', 'organizations']);
const REVISION = /^[\w.\/-]{1,200}$/;

/**
 * The hub model `text` names ("ORG/NAME", optionally "@REVISION"), or why it names none.
 * @param {string} text
 * @param {string} [revision] the revision when `text` has none
 * @param {string} [endpoint]
 * @returns {HubModel}
 */
export function hubModel(text, revision = 'main', endpoint = HUB_ENDPOINT) {
  const [id, at, ...more] = text.trim().split('@');
  const rev = at ?? revision;
  if (!ID.test(id) || id.includes('..') || NOT_MODELS.has(id.split('/')[0]) || more.length) throw new WorkerError(`"${text.trim()}" is not a Hugging Face model id (ORG/NAME, such as ${DEFAULT_HUB_MODEL.id})`, Code.badRequest);
  if (!REVISION.test(rev) || rev.split('/').some((part) => part === '' || part === '.' || part === '..')) throw new WorkerError(`"${rev}" is not a revision (a branch, a tag or a commit)`, Code.badRequest);
  return { id, revision: rev, endpoint };
}

/**
 * The name a hub model is kept under in this browser (model_store.js): its id and revision, so
 * that each revision is its own copy.
 * @param {HubModel} hub
 */
export const keptName = ({ id, revision }) => `hub:${encodeURIComponent(`${id}@${revision}`)}`;

/**
 * The hub model a copy kept under `name` is (`keptName`'s inverse), or null for another copy.
 * @param {string} name
 * @param {string} endpoint
 * @returns {HubModel | null}
 */
export function keptHubModel(name, endpoint) {
  if (!name.startsWith('hub:')) return null;
  try {
    const text = decodeURIComponent(name.slice('hub:'.length));
    const at = text.lastIndexOf('@');
    return at > 0 ? { id: text.slice(0, at), revision: text.slice(at + 1), endpoint } : null;
  } catch {
    return null;
  }
}

/**
 * How a hub model is shown: its id, and its revision unless it is `main`.
 * @param {HubModel} hub
 */
export const hubLabel = ({ id, revision }) => `${id}${revision === 'main' ? '' : `@${revision}`} (Hugging Face hub)`;

/**
 * File `name` of hub model `hub` (`method` GET or HEAD), or null where the repository has no
 * such file. A repository that is missing, private or gated, a revision that is missing, and a
 * hub that cannot be reached each fail with their own code.
 * @param {HubModel} hub
 * @param {string} name
 * @param {'GET' | 'HEAD'} [method]
 */
export async function hubFile(hub, name, method = 'GET') {
  const url = `${hub.endpoint}/${hub.id}/resolve/${encodeURIComponent(hub.revision)}/${name}`;
  let response;
  try {
    response = await fetch(url, { method });
  } catch (e) {
    throw new WorkerError(`${hub.id}: the Hugging Face hub (${hub.endpoint}) could not be reached: ${/** @type {Error} */ (e).message}`, Code.hubUnavailable);
  }
  if (response.ok) return response;
  response.body?.cancel().catch(() => {});
  // The hub names what is wrong in X-Error-Code; where a browser cannot read it, the status
  // tells enough: it answers a missing, private or gated repository with 401 to a request
  // without a token, and a missing file of a readable one with 404.
  const code = response.headers.get('X-Error-Code');
  if (code === 'GatedRepo') throw new WorkerError(`${hub.id} is gated: accept its terms on ${hub.endpoint}/${hub.id}, then download it (vit download ${hub.id}) and drop its folder here; this page takes no tokens`, Code.hubGated);
  if (code === 'RepoNotFound' || (!code && (response.status === 401 || response.status === 403))) {
    throw new WorkerError(`${hub.id}: no such model on the Hugging Face hub, or it is private or gated (this page takes no tokens)`, Code.hubNotFound);
  }
  if (code === 'RevisionNotFound') throw new WorkerError(`${hub.id} has no revision "${hub.revision}"`, Code.hubNotFound);
  if (response.status === 404) return null;
  throw new WorkerError(`${hub.id}: the Hugging Face hub answered ${url} with HTTP ${response.status}`, Code.hubUnavailable);
}

/**
 * The weights of hub model `hub`: `model.safetensors` as a response to stream. A repository
 * without it is refused by what it has instead, as the hub's model API lists its files (pickles
 * are never read: unpickling runs code).
 * @param {HubModel} hub
 */
export async function hubWeights(hub) {
  const weights = await hubFile(hub, 'model.safetensors');
  if (weights?.body) return weights;
  const api = `${hub.endpoint}/api/models/${hub.id}/revision/${encodeURIComponent(hub.revision)}`;
  /** @type {{ siblings?: { rfilename: string }[] } | null} */
  const listed = await fetch(api).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  const files = (listed?.siblings ?? []).map((f) => f.rfilename);
  if (files.includes('model.safetensors.index.json')) {
    throw new WorkerError(`${hub.id} is split into several safetensors files: the page reads one model.safetensors (the command line reads split ones: vit download ${hub.id})`, Code.hubNoSafetensors);
  }
  const pickle = files.find((f) => /\.(bin|pt|pth|ckpt)$/.test(f));
  if (pickle) {
    throw new WorkerError(`${hub.id} has only PyTorch pickles (${pickle}); this page reads safetensors, which cannot run code`, Code.hubNoSafetensors);
  }
  throw new WorkerError(`${hub.id} has no model.safetensors at revision "${hub.revision}"`, Code.hubNoSafetensors);
}
