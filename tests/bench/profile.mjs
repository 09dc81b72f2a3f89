// Where a forward pass's time goes: the page's single-threaded wasm build (www/pkg) run in
// Node's V8 on one backend, its CPU profile summed by function (self time), top rows printed.
//   bash www/build.sh && node tests/bench/profile.mjs DIR [--backend flex] [--runs 4] [--top 15]
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { ROOT, image } from '../e2e/harness.mjs';
import { modelDir, opt } from './bench.mjs';
import init, * as vit from '../../www/pkg/vit_wasm.js';

const runs = Number(opt('runs', 4));
await init({ module_or_path: readFileSync(join(ROOT, 'www', 'pkg', 'vit_wasm_bg.wasm')) });
await vit.setBackend(opt('backend', 'flex'));
const weights = readFileSync(join(modelDir, 'model.safetensors'));
vit.beginWeights('model.safetensors');
vit.pushWeights(weights);
vit.loadModel(readFileSync(join(modelDir, 'config.json')), readFileSync(join(modelDir, 'preprocessor_config.json')));
const bytes = readFileSync(image('gradient.png'));
await vit.classify(['gradient.png'], [bytes], 5); // warm-up, not profiled

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
await session.post('Profiler.start');
let forwardMs = 0;
for (let i = 0; i < runs; i++) forwardMs += (await vit.classify(['gradient.png'], [bytes], 5))[0].milliseconds;
const { profile } = await session.post('Profiler.stop');

const self = new Map();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
profile.samples.forEach((id, i) => {
  const name = byId.get(id).callFrame.functionName.replace(/::h[0-9a-f]{16}$/, '') || '(anonymous)';
  self.set(name, (self.get(name) ?? 0) + profile.timeDeltas[i] / 1000);
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
console.log(`${runs} forward passes, ${(forwardMs / runs).toFixed(0)} ms each; self time per function:`);
for (const [name, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(opt('top', 15)))) {
  console.log(`${((ms / total) * 100).toFixed(1).padStart(5)}%  ${(ms / runs).toFixed(1).padStart(7)} ms/forward  ${name}`);
}
