// A static file server for the page: 127.0.0.1 only, `.wasm` as application/wasm, and
// cross-origin isolation (COOP + COEP) so that threads and precise timers are available.
//   node www/serve.mjs [--port 8080] [--root .] [--mount /address/=DIR | /address=FILE ...] [--log]
// It serves the page (index.html, www/, weights/ below the root, and a published site's sw.js)
// and each `--mount`ed folder or file at its address, and nothing else: a link is followed only
// while it stays inside the folder it is in, so that a person running it on a shared machine
// serves only what they meant to. GET and HEAD only (others get 405); `Range` is not honoured (a full 200, as HTTP allows). A
// file that cannot be read (deleted meanwhile, a device's read error) is that request's 500,
// never the server's end. `--log` writes one line per request on stdout.
import { once } from 'node:events';
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';

const args = process.argv.slice(2);
/**
 * @param {string} name
 * @param {string} fallback
 */
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = resolve(opt('root', '.'));
const port = Number(opt('port', process.env.PORT ?? 8080));
const log = args.includes('--log');

/**
 * What is served: an address prefix (ending in '/', a folder) or an address (a file), and the
 * path behind it, longest first; the root serves only the page's own entries.
 * @type {{ prefix: string, dir: string, only?: string[] }[]}
 */
const folders = [
  ...args.flatMap((a, i) => (a === '--mount' ? [args[i + 1]] : [])).map((spec) => {
    const [prefix, dir] = spec.split('=');
    if (!prefix?.startsWith('/') || !dir) throw new Error(`--mount ${spec}: expected /address/=FOLDER or /address=FILE`);
    return { prefix, dir: resolve(dir) };
  }),
  { prefix: '/', dir: root, only: ['index.html', 'sw.js', `www${sep}`, `weights${sep}`] },
].sort((a, b) => b.prefix.length - a.prefix.length);

/** @type {Record<string, string>} */
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.webmanifest': 'application/manifest+json', '.wasm': 'application/wasm',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.svg': 'image/svg+xml', '.safetensors': 'application/octet-stream',
  '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-cache',
};

/**
 * The file at URL path `path`, if it is one this server serves: below a served folder, and
 * (links resolved) still inside it.
 * @param {string} path
 */
async function servedFile(path) {
  const single = folders.find((f) => !f.prefix.endsWith('/') && f.prefix === path);
  if (single) return realpath(single.dir).catch(() => null);
  const folder = folders.find((f) => f.prefix.endsWith('/') && path.startsWith(f.prefix));
  if (!folder) return null;
  const file = normalize(join(folder.dir, path.slice(folder.prefix.length)));
  const inside = (/** @type {string} */ p, /** @type {string} */ dir) => p.startsWith(dir + sep);
  if (!inside(file, folder.dir) || (folder.only && !folder.only.some((entry) => file.startsWith(join(folder.dir, entry))))) return null;
  const [real, realDir] = await Promise.all([realpath(file), realpath(folder.dir)]).catch(() => [null, null]);
  return real && realDir && inside(real, realDir) ? real : null;
}

const server = createServer(async (req, res) => {
  /** @param {number} status @param {string} text @param {Record<string, string>} [extra] */
  const fail = (status, text, extra = {}) => res.writeHead(status, { ...HEADERS, 'Content-Type': 'text/plain', ...extra }).end(text);
  if (log) res.on('close', () => console.log(`${req.method} ${req.url} ${res.statusCode}${res.writableFinished ? '' : ' (cut)'}`));
  if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
  let path;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    // A malformed address (`%E0%A4%A`) gets an answer; it must never stop the server.
    return fail(400, 'bad request');
  }
  if (path === '/') path = '/index.html';
  const file = path.endsWith('/') || path.includes('\0') ? null : await servedFile(path);
  if (!file) return fail(404, 'not found');
  /** @type {import('node:fs/promises').FileHandle | undefined} */
  let handle;
  try {
    // Opened, then measured: a file replaced in between is read whole, as it was when opened.
    // Without blocking: a FIFO would wait for a writer.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      return fail(404, 'not found');
    }
    const headers = {
      ...HEADERS,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': String(info.size),
      'Accept-Ranges': 'none',
      // Tells the page whether the model it keeps is the one served.
      'Last-Modified': info.mtime.toUTCString(),
    };
    if (req.method === 'HEAD' || info.size === 0) {
      // An empty file is read once all the same: one that cannot be read is a 500 here too.
      if (req.method !== 'HEAD') await handle.read(Buffer.alloc(1), 0, 1, 0);
      await handle.close();
      return res.writeHead(200, headers).end();
    }
    // Never past the length said: a file rewritten in place may have grown since.
    const stream = handle.createReadStream({ start: 0, end: info.size - 1 });
    // The first read decides the status: a file that cannot be read at all is a 500.
    await once(stream, 'readable');
    res.writeHead(200, headers);
    // A read that fails later cuts this response short; the server goes on.
    await pipeline(stream, res).catch((e) => console.error(`${req.url}: ${e.message}`));
    // A file truncated while it was read ends early: the connection is closed, so that the
    // client knows at once that it has less than the length said, rather than wait for the rest.
    if (stream.bytesRead < info.size) res.destroy();
  } catch (e) {
    await handle?.close().catch(() => {});
    const error = /** @type {NodeJS.ErrnoException} */ (e);
    // Removed since it was found (a rebuild): not found, as it would have been a moment later.
    if (error.code === 'ENOENT' && !res.headersSent) return fail(404, 'not found');
    console.error(`${req.url}: ${error.message}`);
    if (!res.headersSent) fail(500, 'the file could not be read');
    else res.destroy();
  }
});

server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(`serving ${root} at http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/`);
});
