// Runs the model off the main thread. Requests run one at a time, in order.
import init, * as vit from './pkg/vit_wasm.js';

const ready = init();
let queue = Promise.resolve();

const ops = {
  async hasWebGpu() {
    if (!self.navigator.gpu) return false;
    try {
      return (await self.navigator.gpu.requestAdapter()) !== null;
    } catch {
      return false;
    }
  },
  setBackend: (name) => vit.setBackend(name),
  loadModel: (name, weights, config, preprocessor) =>
    vit.loadModel(name, new Uint8Array(weights), config && new Uint8Array(config), preprocessor && new Uint8Array(preprocessor)),
  warmUp: () => vit.warmUp(),
  classify: (name, bytes, topK) => vit.classify(name, new Uint8Array(bytes), topK),
};

self.onmessage = ({ data: { id, op, args } }) => {
  queue = queue.then(async () => {
    try {
      await ready;
      self.postMessage({ id, ok: true, value: await ops[op](...args) });
    } catch (e) {
      // A trap leaves the wasm instance unusable: the page replaces this worker.
      self.postMessage({ id, ok: false, error: String(e?.message ?? e), fatal: e instanceof WebAssembly.RuntimeError });
    }
  });
};
