// Assembles the page for a static host (GitHub Pages, Netlify, Cloudflare Pages, a bucket, any
// file server) in one folder: the page, its scripts, the four wasm builds, the service worker
// (sw.js) with the site's version (a hash of every other file) and its small files written in,
// a `_headers` file for hosts that read one (Netlify, Cloudflare Pages), and a `weights/` folder
// saying where a model may go. www/build.sh runs it after the wasm builds:
//
//   node www/publish.mjs [OUT]     (default: site/)
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(ROOT, 'site');
const BUILDS = ['pkg', 'pkg-relaxed', 'pkg-threads', 'pkg-threads-relaxed'];

/** Every file under `dir` (relative to it, '/'-separated). */
const walk = (dir) => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'));

/** The site's files: { path in the site: path here }. */
const files = {};
for (const name of readdirSync(join(ROOT, 'www'))) {
  if ((name.endsWith('.js') && name !== 'sw.js') || name.endsWith('.css')) files[`www/${name}`] = join(ROOT, 'www', name);
}
for (const build of BUILDS) {
  const dir = join(ROOT, 'www', build);
  if (!existsSync(join(dir, 'vit_wasm_bg.wasm'))) throw new Error(`${dir} is not built: run bash www/build.sh`);
  for (const path of walk(dir)) if (!path.endsWith('.d.ts') && !path.endsWith('.gitignore')) files[`www/${build}/${path}`] = join(dir, path);
}

const headers = `# Netlify and Cloudflare Pages read this file: these headers make the page cross-origin isolated
# (threads) from the first visit; elsewhere the service worker (sw.js) adds them after one reload.
/*
  Cross-Origin-Opener-Policy: same-origin
  Cross-Origin-Embedder-Policy: require-corp
`;
const weightsReadme = `A model may go in weights/vit-base-patch16-224/ (model.safetensors, config.json,
preprocessor_config.json: \`vit download google/vit-base-patch16-224 --out DIR\` writes them), and the page
loads it from here. Hosts with a file size limit (GitHub Pages: 100 MB) cannot hold ViT-B/16's 346 MB:
leave this folder without a model, and the page offers the model from the Hugging Face hub instead
(or a person drops one).
`;

// The version: every file but the service worker, which carries it.
const hash = createHash('sha256');
for (const path of Object.keys(files).sort()) hash.update(`${path}\0`).update(readFileSync(files[path]));
const index = readFileSync(join(ROOT, 'index.html'), 'utf8');
hash.update(index).update(headers).update(weightsReadme);
const version = hash.digest('hex').slice(0, 16);

rmSync(out, { recursive: true, force: true });
for (const [path, from] of Object.entries(files)) {
  mkdirSync(dirname(join(out, path)), { recursive: true });
  copyFileSync(from, join(out, path));
}
writeFileSync(join(out, 'index.html'), index.replace('<meta charset="utf-8">', `<meta charset="utf-8">\n  <meta name="vit-site" content="${version}">`));
// Kept when a version installs: everything but the wasm binaries, which are kept as a browser
// fetches them (it runs two of the four).
const shell = ['./', ...Object.keys(files).filter((path) => !path.endsWith('.wasm'))];
const sw = readFileSync(join(ROOT, 'www', 'sw.js'), 'utf8');
const filled = sw.replace("const VERSION = 'dev';", `const VERSION = '${version}';`).replace('const SHELL = [];', `const SHELL = ${JSON.stringify(shell)};`);
if (filled === sw) throw new Error('www/sw.js no longer has the lines publish.mjs fills in');
writeFileSync(join(out, 'sw.js'), filled);
writeFileSync(join(out, '_headers'), headers);
mkdirSync(join(out, 'weights'));
writeFileSync(join(out, 'weights', 'README.txt'), weightsReadme);
console.log(`site ${version}: ${relative(process.cwd(), out) || '.'} (${Object.keys(files).length + 4} files)`);
