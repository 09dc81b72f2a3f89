// A static file server for the page: 127.0.0.1 only, `.wasm` as application/wasm, and
// cross-origin isolation (COOP + COEP) so that threads and precise timers are available.
//   node www/serve.mjs [--port 8080] [--root .] [--log]   (--log: one line per request on stdout)
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = resolve(opt('root', '.'));
const port = Number(opt('port', process.env.PORT ?? 8080));
const log = args.includes('--log');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.svg': 'image/svg+xml', '.safetensors': 'application/octet-stream',
  '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
};

const server = createServer(async (req, res) => {
  if (log) res.on('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode}`));
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-cache',
  };
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    // A malformed address (`%E0%A4%A`) gets an answer; it must never stop the server.
    res.writeHead(400, { ...headers, 'Content-Type': 'text/plain' }).end('bad request');
    return;
  }
  if (path === '/') path = '/index.html';
  const file = normalize(join(root, path));
  // The site is the page, its scripts and the weights: not the rest of the repository.
  const site = ['index.html', 'www' + sep, 'weights' + sep].some((p) => file.startsWith(join(root, p)));
  if (!site || path.endsWith('/')) {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error('not a file');
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': info.size,
      // Tells the page whether the model it keeps is the one served.
      'Last-Modified': info.mtime.toUTCString(),
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  } catch {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`serving ${root} at http://127.0.0.1:${server.address().port}/`);
});
