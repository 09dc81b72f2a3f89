// The page: model loading, backend choice, image cards; finetune.js has the fine-tuning panel.
// All model work happens in worker.js.
import { dropTarget } from './drop.js';
import { setupFinetune } from './finetune.js';
import { Code } from './protocol.js';
import { version } from './model_store.js';
import { setupStorage } from './storage_panel.js';
import { topKItems } from './top_k.js';

// The worker fetches it, so the address is made absolute (the worker's base is www/).
const SERVER_MODEL = new URL('weights/vit-base-patch16-224/', location.href).href;
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
const duration = (seconds) => (seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`);
const count = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} million` : n.toLocaleString('en'));

// ---- backends --------------------------------------------------------------------------------

let backend = 'flex';
let gpu = 'none'; // what WebGPU this browser has: 'hardware', 'software' or 'none'
let lastSource = null; // the model to load again if the worker has to be replaced
let finetune;
let storage;

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
  if (lastSource) await loadModel(lastSource);
  else modelLoaded = false;
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

/// One bar for the whole model: bytes, percent, speed and time left (`seconds` since the
/// worker's first byte; a total the bytes outgrow, as with a compressed response, is unknown).
const LOADING = { network: 'downloading', storage: "reading from this browser's storage", file: 'reading' };
function showLoad({ name, from, loaded, total, seconds }) {
  const rate = loaded / Math.max(seconds, 1e-3);
  const known = total >= loaded ? total : 0;
  const left = known ? `, ${duration((known - loaded) / rate)} left` : '';
  const of = known ? ` of ${mb(known)} (${((loaded / known) * 100).toFixed(0)}%)` : '';
  progress(known ? loaded / known : 0, `${LOADING[from]} ${name}: ${mb(loaded)}${of}, ${mb(rate)}/s${left}`);
}

/// Loads a model in the worker from `source` (a ModelSource of protocol.js): the worker reads the
/// download, the file or the stored copy itself, and keeps a download as it streams in. Whether
/// it loaded.
async function loadModel(source) {
  busy++;
  setStatus('loading model…');
  pageError(null);
  try {
    const started = performance.now();
    const { info, from, label } = await call('loadModel', [source]);
    const seconds = (performance.now() - started) / 1000;
    progress(null);
    modelLoaded = true;
    lastSource = source;
    finetune.modelLoaded(info);
    const where = { network: 'downloaded', storage: "read from this browser's storage", file: 'read from the file' }[from];
    modelLabel = `${label}: ViT`;
    loadedIn = `Loaded in ${duration(seconds)}, ${where}.`;
    Object.assign($('model-info').dataset, { wasmMemory: info.wasmMemoryBytes, loadMs: Math.round(seconds * 1000), from, fingerprint: info.fingerprint });
    showModel(info);
    $('keep-model').hidden = from !== 'file';
    // The panel lists what is kept; never in the way of the model.
    storage.modelLoaded(info.fingerprint).catch((e) => console.warn(`storage panel: ${e.message}`));
    await warmUp();
    return true;
  } catch (e) {
    progress(null);
    pageError(modelLoaded ? `${e.message}. The model loaded before is still in use.` : e.message);
    if (e.code === Code.crashed) await recover('The model worker crashed while loading');
    return false;
  } finally {
    busy--;
    idle();
  }
}

let modelLabel = '';
let loadedIn = '';
let inputSize = 0;

/// The model line, and the input size it runs at (its own, or another on request).
function showModel(info) {
  const resampled = info.imageSize === info.nativeImageSize ? '' : ` (its own: ${info.nativeImageSize}x${info.nativeImageSize}; position embeddings resampled)`;
  $('model-info').textContent =
    `${modelLabel} with ${info.numLayers} layers, ${info.numHeads} heads, hidden size ${info.hiddenSize}, ` +
    `${info.imageSize}x${info.imageSize} input${resampled} in ${info.patchSize}x${info.patchSize} patches, ` +
    `${info.numLabels ? `${info.numLabels} labels` : 'no classification head (a backbone for fine-tuning: train a head below or import one)'}, ` +
    `${count(info.parameters)} parameters. ${loadedIn}`;
  inputSize = info.imageSize;
  Object.assign($('image-size'), { value: info.imageSize, step: info.patchSize, min: info.patchSize, max: 64 * info.patchSize });
  $('input-size-hint').textContent = `(a multiple of ${info.patchSize}; the model's own is ${info.nativeImageSize})`;
  $('input-size').hidden = false;
}

/// Runs the loaded model at another input size.
async function changeInputSize(size) {
  busy++;
  setStatus('resizing…');
  pageError(null);
  try {
    const info = await call('model.atImageSize', [size]);
    finetune.modelLoaded(info);
    showModel(info);
    await warmUp();
  } catch (e) {
    pageError(`${e.message}. The model runs at the size it had.`);
    $('image-size').value = inputSize;
  } finally {
    busy--;
    idle();
  }
}

/// The version of the model weights/download.sh fetches that this server has, or null.
async function serverModelVersion() {
  const response = await fetch(`${SERVER_MODEL}model.safetensors`, { method: 'HEAD' }).catch(() => null);
  return response?.ok ? version(response) : null;
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
  list.replaceChildren(...topKItems(result.topK));
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

const useModelFiles = (files) => loadModel({ files });

async function main() {
  listeners.set('kernel', showKernel);
  gpu = await webGpu();
  listeners.set('load', showLoad);
  listeners.set('kept', (kept) => {
    // A download that is kept loads from storage next time (after a worker crash too).
    if (kept.id && lastSource?.keepAs === kept.id) lastSource = { stored: kept.id };
    storage.kept(kept);
  });
  storage = setupStorage({
    use: (id) => loadModel({ stored: id }),
    // The model in use stays reloadable after a worker crash: the server's from the server.
    removed: (id) => {
      if (lastSource?.stored === id) lastSource = id === 'server' ? { server: SERVER_MODEL } : null;
    },
  });
  finetune = setupFinetune({
    call,
    cancel: () => worker.postMessage({ cancel: true }),
    onEvent: (name, handler) => listeners.set(name, handler),
    isModelLoaded: () => modelLoaded,
    recover,
    featuresStored: () => storage.refresh(),
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
  $('image-size').addEventListener('change', (e) => changeInputSize(Number(e.target.value)));
  $('keep-model').addEventListener('click', async () => {
    $('keep-model').disabled = true;
    // (Until the worker is replaced, the dropped files themselves stay the model's source.)
    if (await storage.keep(() => call('keepModel', ['dropped']))) $('keep-model').hidden = true;
    $('keep-model').disabled = false;
  });

  // The model used last of those this browser keeps (the server's only while it serves that
  // version), the next if one fails to load, else the server's, kept as it downloads.
  busy++;
  const served = await serverModelVersion();
  const kept = (await storage.models()).filter((m) => m.id !== 'server' || !served || m.manifest.version === served);
  let loaded = false;
  for (const { id } of kept) if ((loaded = await loadModel({ stored: id }))) break;
  if (!loaded && served) await loadModel({ server: SERVER_MODEL, keepAs: 'server' });
  else if (!loaded && !kept.length) $('model-info').textContent = 'No model on this server (run bash weights/download.sh to fetch google/vit-base-patch16-224). Drop or choose a model below.';
  busy--;
  idle();
}

main().catch((e) => pageError(e.message));
