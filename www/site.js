// The page's side of the published site's service worker (sw.js, see www/publish.mjs): starting
// it, the one reload that makes the page cross-origin isolated on a host that sends no headers
// (never two: a reload is remembered for the session), the notice that a new version is ready,
// and what it keeps. A page served any other way (www/serve.mjs, which sends the headers itself)
// has no service worker. Nothing here blocks the page: a worker that fails only means no threads
// and no offline copy.

/** The site's version, in the published index.html; null where the page is not published. */
const VERSION = document.querySelector('meta[name=vit-site]')?.getAttribute('content') ?? null;
const RELOADED = 'vit-wasm.isolation-reload';

/** @param {number} ms */
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/**
 * Starts the service worker, and reloads once where that makes the page cross-origin isolated
 * (then it never resolves). Resolves to why the page is not cross-origin isolated, or null when
 * it is. `updateReady(takeOver)` is called when a new version is waiting: `takeOver()` reloads
 * into it.
 * @param {(takeOver: () => void) => void} updateReady
 * @returns {Promise<string | null>}
 */
export async function startSite(updateReady) {
  if (!VERSION) return crossOriginIsolated ? null : 'its server sends no cross-origin isolation headers';
  if (!navigator.serviceWorker) return 'this browser gives it no service worker here';
  let registration;
  try {
    registration = await navigator.serviceWorker.register(new URL('../sw.js', import.meta.url), { updateViaCache: 'none' });
  } catch (e) {
    return `its service worker did not start (${/** @type {Error} */ (e).message})`;
  }
  watchUpdates(registration, updateReady);
  // The first visit: the worker takes this page over as it starts (before the model's worker
  // starts, so that the wasm it fetches is kept for offline use).
  const controlled = navigator.serviceWorker.controller !== null || (await takenOver(registration));
  if (crossOriginIsolated) return null;
  if (!controlled && !registration.active && !registration.waiting) return 'its service worker did not start';
  // Not isolated (the first visit, or a reload that bypassed the worker): a reload goes through
  // the worker and gets its headers.
  try {
    if (sessionStorage.getItem(RELOADED) === VERSION) return "its service worker's headers did not isolate it";
    sessionStorage.setItem(RELOADED, VERSION);
  } catch {
    return 'this browser keeps nothing for it (a reload could not be remembered)';
  }
  location.reload();
  return new Promise(() => {});
}

/**
 * Whether the worker `registration` installs takes this page over, within 10 s.
 * @param {ServiceWorkerRegistration} registration
 */
function takenOver(registration) {
  return /** @type {Promise<boolean>} */ (
    new Promise((done) => {
      navigator.serviceWorker.addEventListener('controllerchange', () => done(true), { once: true });
      // An install that fails (a file missing on the host) does not keep the page waiting.
      const installing = registration.installing ?? registration.waiting;
      installing?.addEventListener('statechange', () => installing.state === 'redundant' && done(false));
      // An active worker that does not control this page (a reload that bypassed it) will not.
      if (!installing) done(false);
      setTimeout(() => done(false), 10_000);
    })
  );
}

/**
 * Calls `updateReady` when a new version has installed beside the one in use.
 * @param {ServiceWorkerRegistration} registration
 * @param {(takeOver: () => void) => void} updateReady
 */
function watchUpdates(registration, updateReady) {
  let asked = false;
  // (Another tab may have taken the new version over already: then a reload is all it takes.)
  const takeOver = () => {
    asked = true;
    if (registration.waiting) registration.waiting.postMessage('take-over');
    else location.reload();
  };
  let offered = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (asked) location.reload();
  });
  const check = () => {
    if (registration.waiting && navigator.serviceWorker.controller && !offered) {
      offered = true;
      updateReady(takeOver);
    }
  };
  /** @param {ServiceWorker | null} worker */
  const watch = (worker) => worker?.addEventListener('statechange', () => worker.state === 'installed' && check());
  check();
  // One may be installing already (the browser looked for it as the page loaded).
  watch(registration.installing);
  registration.addEventListener('updatefound', () => watch(registration.installing));
}

/**
 * Asks the service worker in charge of this page; null where there is none, or no answer.
 * @param {'size' | 'forget'} question
 * @returns {Promise<number | null>}
 */
async function ask(question) {
  const worker = navigator.serviceWorker?.controller;
  if (!worker) return null;
  const channel = new MessageChannel();
  const answer = new Promise((done) => {
    channel.port1.onmessage = ({ data }) => done(typeof data === 'number' ? data : null);
  });
  worker.postMessage(question, [channel.port2]);
  return /** @type {Promise<number | null>} */ (Promise.race([answer, sleep(5000).then(() => null)]));
}

/** The bytes of this page's files kept for offline use; null where none are. */
export const keptFilesBytes = () => ask('size');

/** Removes this page's files kept for offline use (the next visit online keeps them again). */
export const forgetFiles = () => ask('forget');
