// Runs the model off the main thread. Requests run one at a time, in order.
import init, * as vit from './pkg/vit_wasm.js';

const ready = init();
let queue = Promise.resolve();

const ops = {
  /// 'hardware', 'software' (an emulation such as SwiftShader, slower than the CPU backends) or 'none'.
  async webGpu() {
    try {
      const adapter = await self.navigator.gpu?.requestAdapter();
      if (!adapter) return 'none';
      const info = adapter.info ?? {};
      const software = info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${info.vendor} ${info.architecture} ${info.device}`);
      return software ? 'software' : 'hardware';
    } catch {
      return 'none';
    }
  },
  setBackend: (name) => vit.setBackend(name),
  beginWeights: (name, size) => vit.beginWeights(name, size),
  pushWeights: (chunk) => vit.pushWeights(new Uint8Array(chunk)),
  loadModel: (config, preprocessor) => vit.loadModel(config && new Uint8Array(config), preprocessor && new Uint8Array(preprocessor)),
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
