// The page: the backend, the model (loaded, kept, run at another size), and the wiring of the
// panels: images_panel.js classifies images, finetune.js trains heads, storage_panel.js lists
// what the browser keeps. All model work happens in the worker, through client.js.
import { ModelClient } from './client.js';
import { dropTarget } from './drop.js';
import { setupFinetune } from './finetune.js';
import { DEFAULT_HUB_MODEL, HUB_ENDPOINT, hubModel, keptHubModel, keptName } from './hub.js';
import { setupImages } from './images_panel.js';
import { Code, WorkerError } from './protocol.js';
import { forgetFiles, keptFilesBytes, startSite } from './site.js';
import { Status, duration, mb } from './status.js';
import { setupStorage } from './storage_panel.js';

/** @typedef {import('./protocol.js').ModelInfo} ModelInfo */
/** @typedef {import('./protocol.js').ModelSource} ModelSource */
/** @typedef {import('./protocol.js').BackendName} BackendName */

// The worker fetches it, so the address is made absolute (the worker's base is www/).
const SERVER_MODEL = new URL('weights/vit-base-patch16-224/', location.href).href;

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

// `?threads=N` caps the CPU threads (1: a single-threaded build), `?relaxed=0` keeps to the plain
// SIMD128 builds, `?kernel=NAME` picks the CPU matmul kernel (`auto`: time them again);
// `?model=ORG/NAME` (and `&revision=`) loads that model from the Hugging Face hub.
const params = new URLSearchParams(location.search);
// A page published behind a mirror of the hub names it before this script runs.
const hubEndpoint = /** @type {{ VIT_HUB_ENDPOINT?: string }} */ (globalThis).VIT_HUB_ENDPOINT ?? HUB_ENDPOINT;

// Per build and browser version: a browser update can change which kernel is fastest. Where
// storage is blocked (some privacy settings, sandboxed frames), nothing is remembered.
/** @param {string} build */
const kernelKey = (build) => `vit-wasm.cpu-kernel.${build}.${navigator.userAgent}`;
/** @param {string} key */
const remembered = (key) => {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
};
/** @param {string} key @param {string} value */
const remember = (key, value) => {
  try {
    localStorage.setItem(key, value);
  } catch {}
};

const status = new Status();
const client = new ModelClient({
  threads: Math.min(Number(params.get('threads')) || Infinity, navigator.hardwareConcurrency),
  relaxed: params.get('relaxed') !== '0',
  kernel: (build) => params.get('kernel') ?? remembered(kernelKey(build)) ?? 'auto',
});

/** The model in use: where it came from (to load it again in a fresh worker) and its line. */
const model = {
  /** @type {ModelSource | null} */
  source: null,
  label: '',
  loadedIn: '',
  /** The input size it runs at. */
  size: 0,
  /** Images per forward pass. */
  batch: 8,
};
/** What WebGPU this browser has: 'hardware', 'software' (an emulation such as SwiftShader, slower than the CPU backends) or 'none'. */
let gpu = 'none';
/** Why the page is not cross-origin isolated (so has one CPU thread), or null. @type {string | null} */
let notIsolated = null;

const storage = setupStorage({
  use: (/** @type {string} */ id) => loadModel({ stored: id }),
  files: { bytes: keptFilesBytes, forget: forgetFiles },
  // The model in use stays reloadable after a worker crash: the server's from the server.
  removed: (/** @type {string} */ id) => {
    if (!model.source || !('stored' in model.source) || model.source.stored !== id) return;
    const hub = keptHubModel(id, hubEndpoint);
    model.source = id === 'server' ? { server: SERVER_MODEL } : hub ? { hub, keepAs: id } : null;
  },
});
const finetune = setupFinetune({ client, isModelLoaded: () => status.modelLoaded, recover, featuresStored: () => storage.refresh() });
const images = setupImages({ client, status, batch: () => model.batch, toCpu, recover });

// ---- backends --------------------------------------------------------------------------------

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

/**
 * Starts backend `name`; a fresh worker (another build) gets the model and the fine-tuning data
 * again.
 * @param {BackendName} name
 */
async function chooseBackend(name) {
  await status.during(name === 'wgpu' ? 'starting WebGPU…' : `starting the ${name} backend…`, async () => {
    const replaced = await client.useBackend(name);
    if (replaced) await workerStarted();
    /** @type {HTMLSelectElement} */ ($('backend')).value = name;
    $('cpu-kernel').hidden = name === 'wgpu';
    showThreads();
    finetune.backendChanged(name === 'wgpu' && gpu === 'hardware');
    if (status.modelLoaded && !replaced) await warmUp();
  });
}

/** A fresh worker knows no model and no data: they are sent again. */
async function workerStarted() {
  $('cpu-kernel').hidden = client.backend === 'wgpu';
  if (model.source) await loadModel(model.source);
  else status.modelLoaded = false;
  await finetune.workerRestarted();
}

/**
 * A dead worker (a trap, a lost GPU) is replaced by a fresh one on the CPU, and the model
 * reloaded: once, though every call it had pending fails and asks for it.
 * @type {Promise<void> | null}
 */
let recovering = null;
/** @param {string} reason */
function recover(reason) {
  status.error(`${reason}. Switched to the CPU backend.`);
  recovering ??= (async () => {
    await client.restart('flex');
    await workerStarted();
    /** @type {HTMLSelectElement} */ ($('backend')).value = 'flex';
  })().finally(() => {
    recovering = null;
  });
  return recovering;
}

/**
 * A failing WebGPU gives way to the CPU.
 * @param {string} reason
 */
async function toCpu(reason) {
  await chooseBackend('flex');
  status.error(reason);
}

/**
 * The worker's CPU matmul kernel: remembered for this build when it was timed, and shown while a
 * CPU backend is in use.
 * @param {import('./protocol.js').KernelEvent} choice
 */
function showKernel({ kernel, measured }) {
  if (measured) remember(kernelKey(client.build), kernel);
  const el = $('cpu-kernel');
  el.dataset.build = client.build;
  el.dataset.kernel = kernel;
  if (measured) el.dataset.measured = JSON.stringify(measured);
  else delete el.dataset.measured;
  /** @param {import('./protocol.js').KernelTiming} t */
  const gmacs = (t) => `${t.kernel} ${t.gmacs.toFixed(1)} GMAC/s`;
  const how = params.get('kernel') === kernel ? 'chosen in the address' : 'chosen on an earlier visit';
  el.textContent = measured
    ? `CPU kernel ${kernel}: chosen from ${measured.length} timed in this browser (${measured[0].gmacs.toFixed(1)} GMAC/s)`
    : `CPU kernel ${kernel}: ${how}`;
  el.title = `wasm build ${client.build}${measured ? `; ${measured.map(gmacs).join(', ')}` : ''}`;
}

/** How many CPU threads the CPU backends have, and why only one where that is so. */
function showThreads() {
  const threads = client.threads;
  const why = notIsolated
    ? `this page is not cross-origin isolated: ${notIsolated}`
    : client.threadsFailed && client.backend !== 'ndarray'
      ? client.threadsFailed
      : navigator.hardwareConcurrency < 2 ? 'this device has one core' : client.backend === 'ndarray' ? 'ndarray runs on one' : 'as the address asks';
  $('threads').textContent = threads > 1 ? `${threads} CPU threads` : `1 CPU thread (${why})`;
  $('threads').hidden = client.backend === 'wgpu';
}

async function warmUp() {
  status.say('preparing…');
  await client.warmUp();
}

// ---- the model ---------------------------------------------------------------------------------

/**
 * One bar for the whole model: bytes, percent, speed and time left (`seconds` since the worker's
 * first byte; a total the bytes outgrow, as with a compressed response, is unknown).
 * @param {import('./protocol.js').LoadEvent} event
 */
function showLoad({ name, from, loaded, total, seconds }) {
  const loading = { network: 'downloading', storage: "reading from this browser's storage", file: 'reading' }[from];
  const rate = loaded / Math.max(seconds, 1e-3);
  const known = total >= loaded ? total : 0;
  const left = known ? `, ${duration((known - loaded) / rate)} left` : '';
  const of = known ? ` of ${mb(known)} (${((loaded / known) * 100).toFixed(0)}%)` : '';
  status.progress(known ? loaded / known : 0, `${loading} ${name}: ${mb(loaded)}${of}, ${mb(rate)}/s${left}`);
}

/**
 * Loads a model in the worker from `source`: the worker reads the download, the file or the
 * stored copy itself, and keeps a download as it streams in. Whether it loaded.
 * @param {ModelSource} source
 */
function loadModel(source) {
  return status.during('loading model…', async () => {
    status.error(null);
    try {
      const started = performance.now();
      const { info, from, label } = await client.loadModel(source);
      const seconds = (performance.now() - started) / 1000;
      status.progress(null);
      status.modelLoaded = true;
      model.source = source;
      finetune.modelLoaded(info);
      const where = { network: 'downloaded', storage: "read from this browser's storage", file: 'read from the file' }[from];
      model.label = `${label}: ViT`;
      model.loadedIn = `Loaded in ${duration(seconds)}, ${where}.${navigator.onLine ? '' : ' Offline: this page and its model came from this browser.'}`;
      Object.assign($('model-info').dataset, { wasmMemory: info.wasmMemoryBytes, loadMs: Math.round(seconds * 1000), from, fingerprint: info.fingerprint });
      showModel(info);
      $('keep-model').hidden = from !== 'file';
      $('hub-offer').hidden = true;
      nameInAddress('hub' in source ? source.hub : 'stored' in source ? keptHubModel(source.stored, hubEndpoint) : null);
      // The panel lists what is kept; never in the way of the model.
      storage.modelLoaded(info.fingerprint).catch((e) => console.warn(`storage panel: ${e.message}`));
      await warmUp();
      return true;
    } catch (e) {
      const error = /** @type {Error} */ (e);
      status.progress(null);
      status.error(status.modelLoaded ? `${error.message}. The model loaded before is still in use.` : error.message);
      if (e instanceof WorkerError && e.code === Code.crashed) await recover('The model worker crashed while loading');
      return false;
    }
  });
}

/**
 * The model line, and the input size it runs at (its own, or another on request).
 * @param {ModelInfo} info
 */
function showModel(info) {
  const resampled = info.imageSize === info.nativeImageSize ? '' : ` (its own: ${info.nativeImageSize}x${info.nativeImageSize}; position embeddings resampled)`;
  const count = (/** @type {number} */ n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} million` : n.toLocaleString('en'));
  $('model-info').textContent =
    `${model.label} with ${info.numLayers} layers, ${info.numHeads} heads, hidden size ${info.hiddenSize}, ` +
    `${info.imageSize}x${info.imageSize} input${resampled} in ${info.patchSize}x${info.patchSize} patches, ` +
    `${info.numLabels ? `${info.numLabels} labels` : 'no classification head (a backbone for fine-tuning: train a head below or import one)'}, ` +
    `${count(info.parameters)} parameters. ${model.loadedIn}`;
  model.size = info.imageSize;
  model.batch = info.batch;
  Object.assign(input('image-size'), { value: info.imageSize, step: info.patchSize, min: info.patchSize, max: info.maxImageSize });
  $('input-size-hint').textContent = `(a multiple of ${info.patchSize}; the model's own is ${info.nativeImageSize})`;
  $('input-size').hidden = false;
}

/**
 * Runs the loaded model at another input size.
 * @param {number} size
 */
function changeInputSize(size) {
  return status.during('resizing…', async () => {
    status.error(null);
    try {
      const info = await client.atImageSize(size);
      finetune.modelLoaded(info);
      showModel(info);
      await warmUp();
    } catch (e) {
      status.error(`${/** @type {Error} */ (e).message}. The model runs at the size it had.`);
      input('image-size').value = String(model.size);
    }
  });
}

/**
 * Loads the hub model `text` names (ORG/NAME, or ORG/NAME@REVISION): the copy this browser keeps
 * of that revision, else a download, kept as it streams in. Whether it loaded.
 * @param {string} text
 * @param {string} [revision]
 */
async function useHub(text, revision) {
  let hub;
  try {
    hub = hubModel(text, revision, hubEndpoint);
  } catch (e) {
    status.error(/** @type {Error} */ (e).message);
    return false;
  }
  const id = keptName(hub);
  const kept = (await storage.models()).some((m) => m.id === id);
  return (kept && (await loadModel({ stored: id }))) || loadModel({ hub, keepAs: id });
}

/**
 * The address names the hub model in use (`?model=&revision=`), or none where the model in use
 * came from elsewhere, so that a reload or a shared link loads what is shown.
 * @param {import('./protocol.js').HubModel | null} hub
 */
function nameInAddress(hub) {
  const address = new URL(location.href);
  if (hub) address.searchParams.set('model', hub.id);
  else address.searchParams.delete('model');
  if (hub && hub.revision !== 'main') address.searchParams.set('revision', hub.revision);
  else address.searchParams.delete('revision');
  if (address.href !== location.href) history.replaceState(null, '', address);
}

/**
 * Where no model loaded: the model line says so (`why`), with the hub's offered.
 * @param {string} why
 */
function noModel(why) {
  $('model-info').textContent = `${why} Load one from the Hugging Face hub, or drop or choose a model below.`;
  $('hub-offer').hidden = false;
  storage.refresh();
}

// ---- wiring ------------------------------------------------------------------------------------

/** @param {File[]} files */
const useModelFiles = (files) => loadModel({ files });

async function main() {
  // First: on a published site, this may reload the page once (for threads).
  notIsolated = await startSite((takeOver) => {
    $('update-notice').hidden = false;
    $('update-reload').addEventListener('click', takeOver, { once: true });
  });
  client.on('kernel', showKernel);
  client.on('load', showLoad);
  client.on('kept', (kept) => {
    // A download that is kept loads from storage next time (after a worker crash too).
    if (kept.id && model.source && 'keepAs' in model.source && model.source.keepAs === kept.id) model.source = { stored: kept.id };
    storage.kept(kept);
  });
  gpu = await webGpu();
  const select = /** @type {HTMLSelectElement} */ ($('backend'));
  const wgpuOption = /** @type {HTMLOptionElement} */ (select.querySelector('[value=wgpu]'));
  wgpuOption.disabled = gpu === 'none';
  if (gpu === 'none') wgpuOption.textContent = 'WebGPU (not available in this browser)';
  if (gpu === 'software') wgpuOption.textContent = 'WebGPU (software emulation: slow)';
  try {
    // A software adapter is slower than the CPU backends: offered, not chosen.
    await chooseBackend(gpu === 'hardware' ? 'wgpu' : 'flex');
  } catch (e) {
    status.error(`WebGPU could not start (${/** @type {Error} */ (e).message}); using the CPU.`);
    await chooseBackend('flex');
  }
  select.disabled = false;
  select.addEventListener('change', async () => {
    const previous = client.backend ?? 'flex';
    try {
      await chooseBackend(/** @type {BackendName} */ (select.value));
      status.error(null);
    } catch (e) {
      const message = `Could not switch to ${select.value}: ${/** @type {Error} */ (e).message}`;
      select.value = previous;
      if (e instanceof WorkerError && e.code === Code.crashed) await recover('The model worker crashed');
      // A fresh worker whose build could not start the backend has none: back to the one before.
      else if (client.backend === null) await chooseBackend(previous).catch((again) => console.warn(again.message));
      status.error(message);
    }
  });

  /** @param {Event} e */
  const chosen = (e) => [.../** @type {FileList} */ (/** @type {HTMLInputElement} */ (e.target).files)];
  $('model-input').addEventListener('change', (e) => useModelFiles(chosen(e)));
  $('model-folder').addEventListener('change', (e) => useModelFiles(chosen(e)));
  dropTarget($('model-drop'), useModelFiles);
  $('image-input').addEventListener('change', (e) => {
    images.classifyFiles(chosen(e));
    input('image-input').value = '';
  });
  dropTarget($('image-drop'), (files) => images.classifyFiles(files));
  dropTarget(document.body, (files) => images.classifyFiles(files));
  document.addEventListener('paste', (e) => images.classifyFiles([...(e.clipboardData?.files ?? [])]));
  $('image-size').addEventListener('change', () => changeInputSize(Number(input('image-size').value)));
  $('keep-model').addEventListener('click', async () => {
    const button = /** @type {HTMLButtonElement} */ ($('keep-model'));
    button.disabled = true;
    // (Until the worker is replaced, the dropped files themselves stay the model's source.)
    if (await storage.keep(() => client.keepModel('dropped'))) button.hidden = true;
    button.disabled = false;
  });
  $('hub-form').addEventListener('submit', (e) => {
    e.preventDefault();
    useHub(input('hub-model').value);
  });
  $('hub-offer-button').textContent = `Load ${DEFAULT_HUB_MODEL.id} from the Hugging Face hub (${DEFAULT_HUB_MODEL.size})`;
  $('hub-offer-button').addEventListener('click', () => useHub(DEFAULT_HUB_MODEL.id));

  // The hub model the address names; else the model used last of those this browser keeps (the
  // server's only while it serves that version), the next if one fails to load, else the
  // server's, kept as it downloads; else the offer of the hub's.
  const named = params.get('model');
  if (named) {
    if (!(await useHub(named, params.get('revision') ?? undefined))) noModel('No model loaded.');
    return;
  }
  await status.during(null, async () => {
    const served = await client.serverModelVersion(SERVER_MODEL);
    const kept = (await storage.models()).filter((m) => m.id !== 'server' || !served || m.manifest.version === served);
    let loaded = false;
    for (const { id } of kept) if ((loaded = await loadModel({ stored: id }))) break;
    if (!loaded && served) await loadModel({ server: SERVER_MODEL, keepAs: 'server' });
    else if (!loaded && !kept.length) noModel('No model on this server.');
  });
}

main().catch((e) => status.error(e.message));
