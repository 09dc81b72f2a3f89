// The published page's service worker (www/publish.mjs copies it to the site's root and writes
// the site's version and files into it). Two jobs:
// - Threads on hosts that send no COOP/COEP headers (GitHub Pages): it adds them to the page's
//   own responses, so that after one reload the page is cross-origin isolated (the technique of
//   coi-serviceworker). Headers a host sends itself are left as they are.
// - Offline after the first visit: the page, its scripts and the wasm builds this browser runs
//   are kept in a cache named for the site's version (a content hash), each file checked against
//   the hash this version has for it, so a new version on the host never mixes into an old one's
//   cache; an old version's cache goes when the new one takes over, which is when the page asks
//   (its "reload" notice), never mid-session. Models are not kept here: the page keeps them in
//   OPFS, and the weights' requests pass through untouched.
// Anything it cannot answer goes to the network as if it were not there.

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/** The site's version (www/publish.mjs writes it). */
const VERSION = 'dev';
/** The site's files and their SHA-256 (subresource integrity's form), by path (www/publish.mjs writes them). @type {Record<string, string>} */
const FILES = {};
const PREFIX = 'vit-wasm-site-';
const CACHE = PREFIX + VERSION;

const scope = new URL(sw.registration.scope);

/**
 * Where a request's answer is kept: same-origin GETs of the site's files, by path alone (the
 * worker's address carries its options); null for what is not kept (other origins, the
 * weights, ranges, other methods).
 * @param {Request} request
 */
function cacheKey(request) {
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return null;
  if (url.pathname.startsWith(`${scope.pathname}weights/`) || request.headers.has('Range')) return null;
  return url.origin + url.pathname + (url.pathname.endsWith('/') ? 'index.html' : '');
}

/**
 * The integrity this version has for the file at `key` (a cache key), or undefined.
 * @param {string} key
 */
const integrity = (key) => FILES[key.slice(scope.href.length)];

/** A request for `key` that revalidates (a new version's files never come from the HTTP cache's old ones) and checks the bytes where this version has their hash. @param {string} key */
const fresh = (key) => new Request(key, { cache: 'no-cache', credentials: 'same-origin', integrity: integrity(key) });

/**
 * `response` with COOP and COEP where it has none, so that a page (and its workers) served
 * without them is cross-origin isolated.
 * @param {Response} response
 */
function isolated(response) {
  if (response.type === 'opaque' || response.status === 0) return response;
  const headers = new Headers(response.headers);
  if (!headers.has('Cross-Origin-Opener-Policy')) headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  if (!headers.has('Cross-Origin-Embedder-Policy')) headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/**
 * The kept copy of `key`, else the network's, kept when it is this version's. One that is not
 * (the host has a newer version) is not served into this one: a 503, and the newer version is
 * looked for, so that the page offers it.
 * @param {string} key
 * @param {FetchEvent} event
 */
async function answer(key, event) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(key);
  if (kept) return isolated(kept);
  if (!integrity(key)) return isolated(await fetch(fresh(key)));
  let response;
  try {
    response = await fetch(fresh(key));
  } catch (e) {
    // Offline, or other bytes than this version's: which, the same request without the check tells.
    const plain = await fetch(key, { method: 'HEAD', cache: 'no-cache', credentials: 'same-origin' });
    if (!plain.ok) return isolated(plain);
    event.waitUntil(sw.registration.update().catch(() => {}));
    return new Response(`${key}: the host has a newer version of this page; reload it`, { status: 503, headers: { 'Content-Type': 'text/plain' } });
  }
  if (response.status === 200) event.waitUntil(cache.put(key, response.clone()).catch(() => {}));
  return isolated(response);
}

sw.addEventListener('install', (event) => {
  // A new version waits for the page's reload; the first one takes over at once.
  // The page and its scripts now; the wasm builds as this browser runs them (two of the four at
  // most).
  const shell = Object.keys(FILES).filter((path) => !path.endsWith('.wasm'));
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(shell.map((path) => fresh(new URL(path, scope).href)))));
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
      await sw.clients.claim();
    })(),
  );
});

/** The bytes this version keeps. */
async function keptBytes() {
  if (!(await caches.has(CACHE))) return 0;
  const cache = await caches.open(CACHE);
  let bytes = 0;
  for (const request of await cache.keys()) bytes += (await (await cache.match(request))?.blob())?.size ?? 0;
  return bytes;
}

// From the page (www/site.js): take over now (the person asked for the new version), the bytes
// kept (the storage panel), forget them. Answers on the port the question came with.
sw.addEventListener('message', (event) => {
  const port = event.ports[0];
  if (event.data === 'take-over') sw.skipWaiting();
  else if (event.data === 'size') event.waitUntil(keptBytes().then((bytes) => port?.postMessage(bytes)));
  else if (event.data === 'forget') {
    event.waitUntil(
      (async () => {
        for (const name of await caches.keys()) if (name.startsWith(PREFIX)) await caches.delete(name);
        port?.postMessage(0);
      })(),
    );
  }
});

sw.addEventListener('fetch', (event) => {
  const key = cacheKey(event.request);
  if (!key) return;
  // Whatever goes wrong here, the request goes to the network as without this worker.
  event.respondWith(answer(key, event).catch(() => fetch(event.request)));
});
