// The side-by-side table of a versus.sh run, in Markdown: the CPU it ran on (and the load
// average before and after), then one row per runtime and thread count with this/peer ratios
// against each peer at the same thread count and against the faster of the two. Writes the
// whole run to target/bench-versus.json.
//   node tests/bench/table.mjs OURS.json PEERS.json '<machine before>' '<machine after>'
import { readFileSync, writeFileSync } from 'node:fs';

const [oursFile, peersFile, before, after] = process.argv.slice(2);
const ours = JSON.parse(readFileSync(oursFile));
const peers = JSON.parse(readFileSync(peersFile));
const [start, end] = [before, after].map((m) => JSON.parse(m));

const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '');
const peer = (name, threads) => peers.find((p) => p.peer === name && p.threads === threads);
const best = (threads) => peers.filter((p) => p.threads === threads).sort((a, b) => a.warm_median_ms - b.warm_median_ms)[0];
const load = (m) => m.load.map((l) => l.toFixed(2)).join(' ');
const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;

const out = [
  `CPU: ${start.model}, ${start.cores} cores, ${start.mhz} MHz (/proc/cpuinfo); load average ${load(start)} before, ${load(end)} after.`,
  '',
  'Load: ours on a first visit (downloaded from the local server) / a second (read from the browser\'s storage), each to a ready model; the peers\' fetch + session creation on the bytes.',
  '',
  '| runtime | threads | load | first | warm median (5) | warm min | batch 8 | memory after load | vs onnxruntime-web | vs LiteRT.js | vs best peer |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
const rows = [
  ...peers.map((p) => ({ ...p, memory: `${p.page_memory_mb} MB (page)` })),
  ...ours.map((o) => ({
    ...o,
    runtime: `vit-wasm ${o.backend} (\`${o.build}\`${o.kernel ? `, ${o.kernel}` : ''})`,
    memory: o.wasm_memory_after_load_mb ? `${o.wasm_memory_after_load_mb} MB (wasm)` : '',
  })),
];
for (const r of rows) {
  const cells = [
    r.runtime,
    r.threads,
    r.peer ? `${seconds(r.fetch_ms)} + ${seconds(r.load_ms)}` : r.load_ms ? `${seconds(r.load_ms)} / ${seconds(r.stored_load_ms)}` : '',
    `${Math.round(r.first_ms)} ms`,
    `**${Math.round(r.warm_median_ms)} ms**`,
    `${Math.round(r.warm_min_ms)} ms`,
    `${r.batch8_images_per_s} img/s`,
    r.memory,
    ...[peer('ort', r.threads), peer('litert', r.threads), best(r.threads)].map((p) => (r.peer ? '' : ratio(r.warm_median_ms, p?.warm_median_ms))),
  ];
  out.push(`| ${cells.join(' | ')} |`);
}
console.log(out.join('\n'));
writeFileSync('target/bench-versus.json', JSON.stringify({ machine: { before: start, after: end }, ours, peers }, null, 2) + '\n');
