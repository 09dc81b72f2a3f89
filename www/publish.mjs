// Assembles the page for a static host (GitHub Pages, Netlify, Cloudflare Pages, a bucket, any
// file server) in one folder: the page, its scripts, the four wasm builds, the service worker
// (sw.js) with the site's version (a hash of every other file) and each file's hash written in,
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
  if ((name.endsWith('.js') && name !== 'sw.js') || name.endsWith('.css') || name.endsWith('.webmanifest')) files[`www/${name}`] = join(ROOT, 'www', name);
}
for (const path of walk(join(ROOT, 'www', 'icons'))) files[`www/icons/${path}`] = join(ROOT, 'www', 'icons', path);
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

/**
 * `text` with `from` replaced by `to`, where it is there once.
 * @param {string} text @param {string} from @param {string} to @param {string} file
 */
function fill(text, from, to, file) {
  if (text.split(from).length !== 2) throw new Error(`${file} no longer has \`${from}\` (once), which www/publish.mjs fills in`);
  return text.replace(from, to);
}

// The version: every file but the service worker, which carries it (and the page, which shows it).
const hash = createHash('sha256');
const sri = (bytes) => `sha256-${createHash('sha256').update(bytes).digest('base64')}`;
/** Each file's integrity, by path. */
const integrity = {};
for (const path of Object.keys(files).sort()) {
  const bytes = readFileSync(files[path]);
  integrity[path] = sri(bytes);
  hash.update(`${path}\0${integrity[path]}\0`);
}
hash.update(headers).update(weightsReadme);
const source = readFileSync(join(ROOT, 'index.html'), 'utf8');
const version = hash.update(source).digest('hex').slice(0, 16);
const index = fill(source, '<meta charset="utf-8">', `<meta charset="utf-8">\n  <meta name="vit-site" content="${version}">`, 'index.html');
integrity['index.html'] = sri(index);

// Only a folder this script wrote, or none, is replaced.
const written = (dir) => existsSync(join(dir, 'sw.js')) && readFileSync(join(dir, 'sw.js'), 'utf8').includes("const PREFIX = 'vit-wasm-site-'");
if (existsSync(out) && readdirSync(out).length && !written(out)) {
  throw new Error(`${out} is not a site this script wrote (no sw.js of it): not replacing it`);
}
rmSync(out, { recursive: true, force: true });
for (const [path, from] of Object.entries(files)) {
  mkdirSync(dirname(join(out, path)), { recursive: true });
  copyFileSync(from, join(out, path));
}
writeFileSync(join(out, 'index.html'), index);
const sw = readFileSync(join(ROOT, 'www', 'sw.js'), 'utf8');
const filled = fill(fill(sw, "const VERSION = 'dev';", `const VERSION = '${version}';`, 'www/sw.js'), 'const FILES = {};', `const FILES = ${JSON.stringify(integrity)};`, 'www/sw.js');
writeFileSync(join(out, 'sw.js'), filled);
writeFileSync(join(out, '_headers'), headers);
mkdirSync(join(out, 'weights'));
writeFileSync(join(out, 'weights', 'README.txt'), weightsReadme);
console.log(`site ${version}: ${relative(process.cwd(), out) || '.'} (${Object.keys(files).length + 4} files)`);
