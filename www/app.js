// The page: model loading, backend choice, image cards; finetune.js has the fine-tuning panel.
// All model work happens in worker.js.
import { setupFinetune } from './finetune.js';
import { Code } from './protocol.js';

const SERVER_MODEL = 'weights/vit-base-patch16-224/';
const CACHE = 'vit-wasm-weights-v1';
const TOP_K = 5;
const $ = (id) => document.getElementById(id);

// ---- the worker ------------------------------------------------------------------------------

let worker;
let nextId = 0;
const pending = new Map();
const listeners = new Map(); // event name -> handler

// Builds of the model (see www/build.sh), each with relaxed SIMD's fused multiply-add or without:
// 'threads' runs flex on a pool of Web Workers, one per core, and needs shared memory, i.e. a
// cross-origin-isolated page; 'single' has every backend, WebGPU included, on one thread.
// `?threads=N` caps the CPU threads (1: a single-threaded build), `?relaxed=0` keeps to the
// plain SIMD128 builds, `?kernel=NAME` picks the CPU matmul kernel (`auto`: time them again).
const params = new URLSearchParams(location.search);
const threads = Math.min(Number(params.get('threads')) || Infinity, navigator.hardwareConcurrency);
// A module whose one function is an f32x4.relaxed_madd: valid only where relaxed SIMD is.
const RELAXED_SIMD_PROBE = [0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11];
const relaxed = params.get('relaxed') !== '0' && WebAssembly.validate(new Uint8Array(RELAXED_SIMD_PROBE));
const withRelaxed = (builds) => builds.flatMap((b) => (relaxed ? [`${b}-relaxed`, b] : [b]));
// The builds to try, best first: one that does not start gives way to the next.
const builds = {
  cpu: withRelaxed(self.crossOriginIsolated && threads > 1 ? ['threads', 'single'] : ['single']),
  gpu: withRelaxed(['single']),
};
const buildFor = (backendName) => builds[backendName === 'wgpu' ? 'gpu' : 'cpu'][0];
const threaded = (b) => b.startsWith('threads');
let build;

function startWorker(wanted) {
  build = wanted;
  // The kernel chosen on an earlier visit, unless the address names one.
  const kernel = params.get('kernel') ?? remembered(kernelKey(build)) ?? 'auto';
  worker = new Worker(new URL(`./worker.js?build=${build}&threads=${threads}&kernel=${encodeURIComponent(kernel)}`, import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => {
    if (data.event) return listeners.get(data.event)?.(data);
    const { resolve, reject } = pending.get(data.id);
    pending.delete(data.id);
    if (data.ok) resolve(data.value);
    else reject(Object.assign(new Error(data.error), { code: data.code }));
  };
  worker.onerror = (e) => {
    e.preventDefault();
    for (const { reject } of pending.values()) reject(Object.assign(new Error(e.message || 'the model worker stopped'), { code: Code.crashed }));
    pending.clear();
  };
}

function call(op, args = [], transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args }, transfer);
  });
}

// ---- status, progress, errors ------------------------------------------------------------------

let busy = 0;
let modelLoaded = false;

function setStatus(text) {
  $('status').textContent = text;
}

function idle() {
  if (busy === 0) setStatus(modelLoaded ? 'ready' : 'no model loaded');
}

function progress(fraction, text) {
  $('progress').hidden = fraction === null;
  if (fraction !== null) {
    $('progress-bar').style.width = `${(fraction * 100).toFixed(1)}%`;
    $('progress-text').textContent = text;
  }
}

function pageError(message) {
  $('page-error').hidden = !message;
  $('page-error').textContent = message ?? '';
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const count = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} million` : n.toLocaleString('en'));

// ---- backends --------------------------------------------------------------------------------

let backend = 'flex';
let gpu = 'none'; // what WebGPU this browser has: 'hardware', 'software' or 'none'
let lastModel = null; // what to reload if the worker has to be replaced
let finetune;

/// 'hardware', 'software' (an emulation such as SwiftShader, slower than the CPU backends) or 'none'.
async function webGpu() {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return 'none';
    const info = adapter.info ?? {};
    const software = info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${info.vendor} ${info.architecture} ${info.device}`);
    return software ? 'software' : 'hardware';
  } catch {
    return 'none';
  }
}

async function chooseBackend(name) {
  busy++;
  setStatus(name === 'wgpu' ? 'starting WebGPU…' : `starting the ${name} backend…`);
  try {
    if (buildFor(name) === build) backend = await call('setBackend', [name]);
    else await replaceWorker(name);
    $('backend').value = backend;
    $('cpu-kernel').hidden = backend === 'wgpu';
    finetune.backendChanged(backend === 'wgpu' && gpu === 'hardware');
    if (modelLoaded) await warmUp();
  } finally {
    busy--;
    idle();
  }
}

// Per build and browser version: a browser update can change which kernel is fastest.
const kernelKey = (b) => `vit-wasm.cpu-kernel.${b}.${navigator.userAgent}`;
// Where storage is blocked (some privacy settings, sandboxed frames), nothing is remembered.
const remembered = (key) => {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
};
const remember = (key, value) => {
  try {
    localStorage.setItem(key, value);
  } catch {}
};

/// The worker's CPU matmul kernel ({ kernel, measured: [{ kernel, gmacs }] or null when it was
/// named rather than timed}): remembered for this build, and shown while a CPU backend is in use.
function showKernel({ kernel, measured }) {
  if (measured) remember(kernelKey(build), kernel);
  const el = $('cpu-kernel');
  el.dataset.build = build;
  el.dataset.kernel = kernel;
  if (measured) el.dataset.measured = JSON.stringify(measured);
  else delete el.dataset.measured;
  const gmacs = (t) => `${t.kernel} ${t.gmacs.toFixed(1)} GMAC/s`;
  const how = params.get('kernel') === kernel ? 'chosen in the address' : 'chosen on an earlier visit';
  el.textContent = measured
    ? `CPU kernel ${kernel}: chosen from ${measured.length} timed in this browser (${measured[0].gmacs.toFixed(1)} GMAC/s)`
    : `CPU kernel ${kernel}: ${how}`;
  el.title = `wasm build ${build}${measured ? `; ${measured.map(gmacs).join(', ')}` : ''}`;
}

async function warmUp() {
  setStatus('preparing…');
  await call('model.warmUp');
}

/// Replaces the worker (or starts the first) by a fresh one with the build `backendName` needs,
/// and sends it the model and the fine-tuning data again. Calls still waiting on the old worker
/// fail. A build that cannot start (an old browser, a missing build) gives way to the next one.
async function replaceWorker(backendName) {
  worker?.terminate();
  for (const { reject } of pending.values()) reject(new Error('the model worker was replaced'));
  pending.clear();
  startWorker(buildFor(backendName));
  try {
    backend = await call('setBackend', [backendName]);
  } catch (e) {
    // Only a build that did not start gives way; a backend that fails in a working build (no
    // WebGPU here) is the caller's to handle.
    const failed = build;
    if (e.code !== Code.startFailed) throw e;
    for (const list of Object.values(builds)) {
      const i = list.indexOf(failed);
      if (i >= 0 && list.length > 1) list.splice(i, 1);
    }
    if (buildFor(backendName) === failed) throw e;
    console.warn(`${e.message}; trying ${buildFor(backendName)}`);
    return replaceWorker(backendName);
  }
  $('cpu-kernel').hidden = backend === 'wgpu';
  if (lastModel) await loadModel(await lastModel.reload(), lastModel);
  await finetune.workerRestarted();
}

/// A dead worker (a trap, a lost GPU) is replaced by a fresh one on the CPU, and the model
/// reloaded: once, though every call it had pending fails and asks for it.
let recovering = null;
function recover(reason) {
  pageError(`${reason}. Switched to the CPU backend.`);
  recovering ??= replaceWorker('flex')
    .then(() => {
      $('backend').value = 'flex';
    })
    .finally(() => {
      recovering = null;
    });
  return recovering;
}

// ---- model loading -----------------------------------------------------------------------------

/// Streams a weights file into the worker's wasm memory chunk by chunk, with progress: the page
/// never holds the whole file. weights.open() gives { body: ReadableStream, size, label, stored? }.
async function sendWeights(weights) {
  const { body, size, label, stored } = await weights.open();
  await call('beginWeights', [weights.name]);
  const reader = body.getReader();
  let received = 0;
  // Sent 4 MB at a time, the next gathered while the worker converts the last: awaiting the
  // worker on each of a fetch's chunks (64 to 640 KB) left both sides idle half the time.
  let parts = [];
  let partsBytes = 0;
  let inFlight = null;
  const flush = async () => {
    const whole = parts.length === 1 && parts[0].byteOffset === 0 && parts[0].byteLength === parts[0].buffer.byteLength;
    const chunk = whole ? parts[0] : new Uint8Array(partsBytes);
    if (!whole) parts.reduce((offset, part) => (chunk.set(part, offset), offset + part.byteLength), 0);
    parts = [];
    partsBytes = 0;
    await inFlight;
    inFlight = call('pushWeights', [chunk], [chunk.buffer]);
    // Awaited later; until then, a refusal is not an unhandled rejection.
    inFlight.catch(() => {});
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      parts.push(value);
      partsBytes += value.byteLength;
      if (partsBytes >= 4 << 20) await flush();
      if (size) progress(received / size, `${label}: ${mb(received)} of ${mb(size)} (${((received / size) * 100).toFixed(0)}%)`);
    }
    if (partsBytes) await flush();
    await inFlight;
  } catch (e) {
    // A file the worker has refused is not read to its end, and what it holds of the file is
    // freed (a download cut midway would otherwise stay in its memory until the next one).
    reader.cancel().catch(() => {});
    call('dropWeights').catch(() => {});
    throw e;
  }
  progress(null);
  await stored;
}

/// files: { weights: {name, open}, config?: ArrayBuffer, preprocessor?: ArrayBuffer }
async function loadModel(files, source) {
  busy++;
  setStatus('loading model…');
  pageError(null);
  try {
    const { weights, config, preprocessor } = files;
    const start = performance.now();
    await sendWeights(weights);
    setStatus('loading model…');
    const transfer = [config, preprocessor].filter(Boolean);
    const bytes = (buffer) => (buffer ? new Uint8Array(buffer) : null);
    const info = await call('loadModel', [bytes(config), bytes(preprocessor)], transfer);
    const seconds = (performance.now() - start) / 1000;
    modelLoaded = true;
    lastModel = source;
    finetune.modelLoaded(info);
    $('model-info').dataset.wasmMemory = info.wasmMemoryBytes;
    $('model-info').dataset.loadMs = Math.round(seconds * 1000);
    $('model-info').textContent =
      `${source.label}: ViT with ${info.numLayers} layers, ${info.numHeads} heads, hidden size ${info.hiddenSize}, ` +
      `${info.imageSize}x${info.imageSize} input in ${info.patchSize}x${info.patchSize} patches, ` +
      `${info.numLabels} labels, ${count(info.parameters)} parameters.` +
      ` Loaded in ${seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`}.` +
      (source.note ? ` ${source.note}` : '');
    await warmUp();
  } catch (e) {
    progress(null);
    pageError(modelLoaded ? `${e.message}. The model loaded before is still in use.` : e.message);
    if (e.code === Code.crashed) await recover('The model worker crashed while loading');
  } finally {
    busy--;
    idle();
  }
}

/// Picks the model's parts out of dropped or chosen files.
async function modelFromFiles(files) {
  const byName = (n) => files.find((f) => f.name === n);
  const weights = byName('model.safetensors') ?? files.find((f) => f.name.endsWith('.safetensors'));
  if (!weights) throw new Error(`no .safetensors file among ${files.map((f) => f.name).join(', ') || 'the dropped files'}`);
  const read = async (f) => f && (await f.arrayBuffer());
  const reload = async () => ({
    weights: { name: weights.name, open: async () => ({ body: weights.stream(), size: weights.size, label: `reading ${weights.name}` }) },
    config: await read(byName('config.json')),
    preprocessor: await read(byName('preprocessor_config.json')),
  });
  return { files: await reload(), source: { label: weights.name, reload } };
}

/// The model on this server, from the browser's cache when it was downloaded before.
async function serverModel() {
  const url = SERVER_MODEL + 'model.safetensors';
  const cache = self.caches ? await caches.open(CACHE) : null;
  const cached = cache && (await cache.match(url));
  if (!cached && !(await fetch(url, { method: 'HEAD' }).catch(() => null))?.ok) return null;
  const source = { label: `${url} (from this server)`, note: null };
  const length = (r) => Number(r.headers.get('Content-Length')) || 0;
  // Best effort: a full disk or a storage quota only costs the next visit a download.
  const keep = (u, response) =>
    cache?.put(u, response).catch((e) => {
      source.note = `It could not be cached in this browser (${e.message}), so the next visit downloads it again.`;
    });
  const small = async (name) => {
    const u = SERVER_MODEL + name;
    const hit = cache && (await cache.match(u));
    if (hit) return hit.arrayBuffer();
    const r = await fetch(u);
    if (!r.ok) return undefined;
    const stored = keep(u, r.clone());
    const buffer = await r.arrayBuffer();
    await stored;
    return buffer;
  };
  const open = async () => {
    const hit = cache && (await cache.match(url));
    if (hit) return { body: hit.body, size: length(hit), label: 'reading the cached model' };
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    // The copy for the cache streams to disk alongside the one for the model. Cloning swaps
    // r.body for a branch of a tee, so it comes before reading r.body.
    const stored = keep(url, r.clone());
    return { body: r.body, size: length(r), label: 'downloading model.safetensors', stored };
  };
  source.reload = async () => ({
    weights: { name: 'model.safetensors', open },
    config: await small('config.json'),
    preprocessor: await small('preprocessor_config.json'),
  });
  $('clear-cache').hidden = !cache;
  return { files: await source.reload(), source };
}

// ---- images ------------------------------------------------------------------------------------

const show = { attention: false, grid: false };
let imageQueue = Promise.resolve();

function card(file) {
  const el = document.createElement('article');
  el.className = 'card pending';
  el.dataset.testid = 'result';
  el.dataset.file = file.name;
  el.innerHTML = `<div class="thumb"><img alt=""><canvas></canvas></div>
    <div class="body"><h3></h3><ol class="labels"></ol><p class="meta">waiting…</p></div>`;
  el.querySelector('h3').textContent = file.name;
  const img = el.querySelector('img');
  img.src = URL.createObjectURL(file);
  img.onerror = () => img.remove();
  $('results').prepend(el);
  return el;
}

function drawOverlay(el) {
  const canvas = el.querySelector('canvas');
  const result = el.result;
  const ctx = canvas.getContext('2d');
  const size = (canvas.width = canvas.height = 224);
  ctx.clearRect(0, 0, size, size);
  if (!result) return;
  const n = result.grid;
  const cell = size / n;
  if (show.attention) {
    const max = Math.max(...result.attention);
    result.attention.forEach((v, i) => {
      ctx.fillStyle = `rgba(255, 80, 0, ${(0.75 * v) / max})`;
      ctx.fillRect((i % n) * cell, Math.floor(i / n) * cell, cell, cell);
    });
  }
  if (show.grid) {
    ctx.strokeStyle = 'rgba(255,255,255,0.7)';
    ctx.lineWidth = 1;
    for (let i = 1; i < n; i++) {
      ctx.beginPath();
      ctx.moveTo(i * cell, 0);
      ctx.lineTo(i * cell, size);
      ctx.moveTo(0, i * cell);
      ctx.lineTo(size, i * cell);
      ctx.stroke();
    }
  }
}

function showResult(el, result) {
  el.classList.remove('pending');
  el.result = result;
  const list = el.querySelector('.labels');
  list.replaceChildren(
    ...result.topK.map((p) => {
      const li = document.createElement('li');
      li.innerHTML = `<span class="label" data-testid="label"></span><span class="bar"><span></span></span><span class="probability" data-testid="probability"></span>`;
      li.querySelector('.label').textContent = p.label;
      li.querySelector('.label').title = `class ${p.index}`;
      li.querySelector('.bar span').style.width = `${(p.probability * 100).toFixed(1)}%`;
      li.querySelector('.probability').textContent = `${(p.probability * 100).toFixed(2)}%`;
      li.querySelector('.probability').dataset.value = p.probability;
      return li;
    }),
  );
  const onThreads = result.backend !== 'wgpu' && threaded(build) ? `, ${threads} threads` : '';
  const { milliseconds: ms, batch } = result;
  const pass = batch > 1 ? ` (${batch} images in one ${ms.toFixed(0)} ms pass)` : '';
  el.querySelector('.meta').textContent = `${(ms / batch).toFixed(1)} ms on ${result.backend}${onThreads}${pass}`;
  drawOverlay(el);
}

function showCardError(el, message) {
  el.classList.remove('pending');
  el.classList.add('failed');
  el.querySelector('.meta').textContent = '';
  const p = document.createElement('p');
  p.className = 'error';
  p.dataset.testid = 'error';
  p.textContent = message;
  el.querySelector('.body').append(p);
}

/// Images per forward pass: a batch shares each weight matrix's trip through the cache (CPU) and
/// each kernel launch (WebGPU).
const BATCH = 8;

function classifyFiles(files) {
  for (let i = 0; i < files.length; i += BATCH) {
    const group = files.slice(i, i + BATCH).map((file) => ({ file, el: card(file) }));
    busy++;
    imageQueue = imageQueue.then(async () => {
      setStatus(group.length === 1 ? `classifying ${group[0].file.name}…` : `classifying ${group.length} images…`);
      for (const { el } of group) el.querySelector('.meta').textContent = 'classifying…';
      // A file that cannot be read fails on its own card; the others go through.
      const classify = async () => {
        const reads = await Promise.allSettled(group.map(({ file }) => file.arrayBuffer()));
        const read = group.flatMap(({ file }, j) => (reads[j].status === 'fulfilled' ? [{ name: file.name, bytes: reads[j].value }] : []));
        const buffers = read.map((r) => r.bytes);
        const results = read.length ? await call('model.classify', [read.map((r) => r.name), buffers.map((b) => new Uint8Array(b)), TOP_K], buffers) : [];
        // The results come in the order of the files read.
        return reads.map((r, j) => (r.status === 'fulfilled' ? results.shift() : { error: `${group[j].file.name}: could not be read (${r.reason?.message ?? r.reason})` }));
      };
      try {
        if (!modelLoaded) throw new Error('load a model first');
        let results;
        try {
          results = await classify();
        } catch (e) {
          // A lost or failing GPU: carry on on the CPU rather than failing every image after it.
          if (backend !== 'wgpu' || e.code !== Code.backendFailed) throw e;
          await chooseBackend('flex');
          pageError(`WebGPU failed (${e.message}). Switched to the CPU backend.`);
          results = await classify();
        }
        results.forEach((r, j) => (r.error ? showCardError(group[j].el, r.error) : showResult(group[j].el, r)));
      } catch (e) {
        for (const { el } of group) showCardError(el, e.message);
        if (e.code === Code.crashed) await recover('The model worker crashed');
      } finally {
        busy--;
        idle();
      }
    });
  }
}

// ---- wiring ------------------------------------------------------------------------------------

/// Files from a drop, descending into folders.
async function droppedFiles(dataTransfer) {
  const entries = [...dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...dataTransfer.files];
  const files = [];
  const walk = async (entry) => {
    if (entry.isFile) files.push(await new Promise((ok, fail) => entry.file(ok, fail)));
    else {
      const reader = entry.createReader();
      for (let batch; (batch = await new Promise((ok, fail) => reader.readEntries(ok, fail))).length; ) await Promise.all(batch.map(walk));
    }
  };
  await Promise.all(entries.map(walk));
  return files;
}

function dropTarget(el, onFiles) {
  el.addEventListener('dragover', (e) => {
    e.preventDefault();
    el.classList.add('over');
  });
  el.addEventListener('dragleave', () => el.classList.remove('over'));
  el.addEventListener('drop', async (e) => {
    e.preventDefault();
    e.stopPropagation();
    el.classList.remove('over');
    onFiles(await droppedFiles(e.dataTransfer));
  });
}

async function useModelFiles(files) {
  try {
    const { files: parts, source } = await modelFromFiles(files);
    await loadModel(parts, source);
  } catch (e) {
    pageError(e.message);
  }
}

async function main() {
  listeners.set('kernel', showKernel);
  gpu = await webGpu();
  finetune = setupFinetune({
    call,
    cancel: () => worker.postMessage({ cancel: true }),
    onEvent: (name, handler) => listeners.set(name, handler),
    isModelLoaded: () => modelLoaded,
    recover,
  });
  const select = $('backend');
  const wgpuOption = select.querySelector('[value=wgpu]');
  wgpuOption.disabled = gpu === 'none';
  if (gpu === 'none') wgpuOption.textContent = 'WebGPU (not available in this browser)';
  if (gpu === 'software') wgpuOption.textContent = 'WebGPU (software emulation: slow)';
  try {
    // A software adapter is slower than the CPU backends: offered, not chosen.
    await chooseBackend(gpu === 'hardware' ? 'wgpu' : 'flex');
  } catch (e) {
    pageError(`WebGPU could not start (${e.message}); using the CPU.`);
    await chooseBackend('flex');
  }
  select.disabled = false;
  select.addEventListener('change', async () => {
    const previous = backend;
    try {
      await chooseBackend(select.value);
      pageError(null);
    } catch (e) {
      pageError(`Could not switch to ${select.value}: ${e.message}`);
      select.value = previous;
      if (e.code === Code.crashed) await recover('The model worker crashed');
    }
  });

  $('model-input').addEventListener('change', (e) => useModelFiles([...e.target.files]));
  $('model-folder').addEventListener('change', (e) => useModelFiles([...e.target.files]));
  dropTarget($('model-drop'), useModelFiles);
  $('image-input').addEventListener('change', (e) => {
    classifyFiles([...e.target.files]);
    e.target.value = '';
  });
  dropTarget($('image-drop'), (files) => classifyFiles(files));
  dropTarget(document.body, (files) => classifyFiles(files));
  document.addEventListener('paste', (e) => classifyFiles([...e.clipboardData.files]));
  for (const key of ['attention', 'grid']) {
    $(`show-${key}`).addEventListener('change', (e) => {
      show[key] = e.target.checked;
      document.querySelectorAll('.card').forEach(drawOverlay);
    });
  }
  $('clear-cache').addEventListener('click', async () => {
    await caches.delete(CACHE);
    $('clear-cache').hidden = true;
    $('model-info').textContent += ' (The cached copy is forgotten; the next visit downloads it again.)';
  });

  try {
    const found = await serverModel();
    if (found) await loadModel(found.files, found.source);
    else $('model-info').textContent = 'No model on this server (run bash weights/download.sh to fetch google/vit-base-patch16-224). Drop or choose a model below.';
  } catch (e) {
    pageError(`Could not load the server's model: ${e.message}`);
  }
  idle();
}

main().catch((e) => pageError(e.message));
