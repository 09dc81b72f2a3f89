// A stand-in for the Hugging Face hub, for the page's and the CLI's tests (no hub is reachable
// where they run). Node, no dependencies.
//
//   import { startHub } from './tests/hub/server.mjs';
//   const hub = await startHub({ repos: { 'ORG/NAME': '/abs/dir' }, gated: ['ORG/GATED'], cut: { 'ORG/NAME/FILE': 1 } });
//   hub.endpoint; hub.requests; await hub.close();      (`log: true` also writes each request on stderr)
//
//   node tests/hub/server.mjs CONFIG.json   (CONFIG.json: { "repos": {...}, "gated": [...], "cut": {...} })
//   prints {"endpoint":"http://127.0.0.1:PORT"} once listening, each request on stderr, and runs
//   until killed.
//
// `repos` maps a repo id to a folder whose files are the repo's files, at revision `main` or at
// the repo's commit (40 hex digits, fixed per repo: the SHA-1 of its id). `requests` collects
// "METHOD /path" of every request, in order, so that a test can assert that none were made.
//
// What it mimics of the hub, as huggingface_hub's file_download.py (get_hf_file_metadata,
// http_get, _get_metadata_or_catch_error; utils/_http.py's hf_raise_for_status) and hf-hub 0.4.3's
// sync API (`metadata`: a GET with `Range: bytes=0-0` that follows only relative redirects and
// requires `x-repo-commit`, an ETag and `Content-Range`; `download_from`: a GET with
// `Range: bytes=N-` resuming a `.sync.part` file) read it:
// - `GET /api/models/ORG/NAME/revision/REV`: `{ id, sha, gated, siblings: [{ rfilename }] }`.
// - `GET|HEAD /ORG/NAME/resolve/REV/FILE`. A small file is answered directly, with
//   `ETag: "<git blob SHA-1>"`, `X-Repo-Commit` and Content-Length. An LFS file (by extension, as
//   the hub's default .gitattributes has them, or 10 MB and over) is a 302 to the "CDN", an
//   absolute URL on this server (`/cdn/<sha256>`; the hub's CDN is another host, so its clients
//   follow that redirect for the bytes and not for the metadata), with `X-Repo-Commit`,
//   `X-Linked-Etag: "<sha256>"`, `X-Linked-Size` and an ETag. Both honour one `Range` (206 with
//   `Content-Range: bytes a-b/total`, or 416), and say `Accept-Ranges: bytes`. HEAD: the headers
//   alone.
// - CORS as the hub sends it: `Access-Control-Allow-Origin: *` and `Access-Control-Expose-Headers`
//   naming the headers above (and the error headers) on every answer, redirects and errors
//   included; OPTIONS preflights answered (Range and Authorization allowed); and
//   `Cross-Origin-Resource-Policy: cross-origin`, so that a cross-origin-isolated page may read it.
// - Errors by `X-Error-Code`, with a JSON body `{"error": ...}`: a repo not in `repos`, 404
//   `RepoNotFound` (the hub itself answers a missing or private repo with 401 to a request
//   without a token; the code is what its clients go by); a revision other than `main` or the
//   commit, 404 `RevisionNotFound`; a missing file, 404 `EntryNotFound` with `X-Repo-Commit` (from
//   which huggingface_hub records that the file does not exist at that commit); a repo in
//   `gated`, 401 `GatedRepo` with the hub's `X-Error-Message`.
// - `cut` ({ 'ORG/NAME/FILE': N }): the first N GETs of that file for its whole body (no Range,
//   or `bytes=0-`) send their headers with the full length, then half the body, and then the
//   connection is destroyed, as a dropped connection does. Later ones, and any Range that does
//   not start at 0 (a resume), are served whole.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

// The extensions the hub's default .gitattributes stores in LFS (those a model repo has).
const LFS_EXTENSIONS = new Set(['.safetensors', '.bin', '.pt', '.pth', '.ckpt', '.h5', '.msgpack', '.onnx', '.gguf', '.npz', '.pkl', '.tflite', '.zip', '.gz', '.tar']);
const LFS_SIZE = 10 * 1024 * 1024;

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag, Content-Range, Content-Length, Accept-Ranges, Location, X-Error-Code, X-Error-Message',
  'Cross-Origin-Resource-Policy': 'cross-origin',
};

/** @param {string | Buffer} data */
const sha1 = (data) => createHash('sha1').update(data).digest('hex');

/** @param {string} path */
async function sha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * The byte range a `Range` header asks of a file of `size` bytes: { start, end } (inclusive),
 * null for the whole file (no header, or one this server does not take, such as several
 * ranges), or 'unsatisfiable'.
 * @param {string | undefined} header
 * @param {number} size
 * @returns {{ start: number, end: number } | null | 'unsatisfiable'}
 */
function range(header, size) {
  const m = header?.match(/^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i);
  if (!m || (!m[1] && !m[2])) return null;
  const [start, end] = m[1] ? [Number(m[1]), m[2] ? Math.min(Number(m[2]), size - 1) : size - 1] : [Math.max(0, size - Number(m[2])), size - 1];
  return start > end || start >= size ? 'unsatisfiable' : { start, end };
}

/**
 * Starts the stand-in hub on 127.0.0.1 (a free port).
 * @param {{ repos: Record<string, string>, gated?: string[], cut?: Record<string, number>, log?: boolean }} options
 * @returns {Promise<{ endpoint: string, requests: string[], close: () => Promise<void> }>}
 */
export async function startHub({ repos, gated = [], cut = {}, log = false }) {
  /** @type {string[]} */
  const requests = [];
  const cutsLeft = new Map(Object.entries(cut));
  /** The CDN's files by SHA-256, as the resolve answers have linked them. @type {Map<string, { path: string, key: string }>} */
  const cdn = new Map();
  /** SHA-256 of each file by path, size and time. @type {Map<string, string>} */
  const hashes = new Map();

  /** @param {string} path @param {import('node:fs').Stats} info */
  const lfsHash = async (path, info) => {
    const key = `${path}\0${info.size}\0${info.mtimeMs}`;
    if (!hashes.has(key)) hashes.set(key, await sha256(path));
    return /** @type {string} */ (hashes.get(key));
  };

  const server = createServer(async (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (log) process.stderr.write(`${req.method} ${req.url}\n`);
    /**
     * @param {number} status
     * @param {Record<string, string>} headers
     * @param {string} [body]
     */
    const send = (status, headers, body = '') => {
      res.writeHead(status, { ...CORS, 'Content-Length': String(Buffer.byteLength(body)), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    /**
     * @param {number} status
     * @param {string} code
     * @param {string} message
     * @param {Record<string, string>} [headers]
     */
    const fail = (status, code, message, headers = {}) =>
      send(status, { 'Content-Type': 'application/json; charset=utf-8', 'X-Error-Code': code, 'X-Error-Message': message, ...headers }, JSON.stringify({ error: message }));

    try {
      if (req.method === 'OPTIONS') {
        return send(204, {
          'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
          'Access-Control-Allow-Headers': 'Range, Authorization, Content-Type, User-Agent',
          'Access-Control-Max-Age': '86400',
        });
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { Allow: 'GET, HEAD, OPTIONS' });
      const url = new URL(req.url ?? '/', 'http://hub');
      const cdnMatch = url.pathname.match(/^\/cdn\/([0-9a-f]{64})$/);
      if (cdnMatch) {
        const linked = cdn.get(cdnMatch[1]);
        if (!linked) return send(404, { 'Content-Type': 'text/plain' }, 'not found');
        return serveBytes(linked.path, linked.key, { 'Content-Type': 'application/octet-stream', ETag: `"${cdnMatch[1]}"` });
      }
      // The model API (`/api/models/ORG/NAME[/revision/REV]`): the repo's commit and file list
      // (`siblings`), public for a gated repo too, as the hub's is; hf-hub's `info()` reads it.
      const api = url.pathname.match(/^\/api\/models\/([^/]+(?:\/[^/]+)??)(?:\/revision\/([^/]+))?$/);
      if (api) {
        const [id, revision = 'main'] = [decodeURIComponent(api[1]), api[2] && decodeURIComponent(api[2])];
        if (!repos[id]) return fail(404, 'RepoNotFound', 'Repository not found');
        if (revision !== 'main' && revision !== sha1(id)) return fail(404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
        const siblings = (await readdir(repos[id], { recursive: true, withFileTypes: true }))
          .filter((entry) => entry.isFile())
          .map((entry) => ({ rfilename: relative(repos[id], join(entry.parentPath, entry.name)).split(sep).join('/') }));
        const body = JSON.stringify({ id, modelId: id, sha: sha1(id), gated: gated.includes(id) ? 'auto' : false, siblings });
        return send(200, { 'Content-Type': 'application/json; charset=utf-8' }, body);
      }
      // /ORG/NAME/resolve/REV/FILE, each part percent-encoded (a revision such as refs/pr/1 as refs%2Fpr%2F1).
      const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
      const at = parts.indexOf('resolve');
      if (at < 1 || parts.length < at + 3) return fail(404, 'RepoNotFound', 'Repository not found');
      const repo = parts.slice(0, at).join('/');
      const revision = parts[at + 1];
      const file = parts.slice(at + 2).join('/');
      if (gated.includes(repo)) {
        return fail(401, 'GatedRepo', `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      }
      const dir = repos[repo];
      if (!dir) return fail(404, 'RepoNotFound', 'Repository not found');
      const commit = sha1(repo);
      if (revision !== 'main' && revision !== commit) return fail(404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
      const root = resolve(dir);
      const path = resolve(root, file);
      const info = path.startsWith(root + sep) ? await stat(path).catch(() => null) : null;
      if (!info?.isFile()) return fail(404, 'EntryNotFound', 'Entry not found', { 'X-Repo-Commit': commit });
      const key = `${repo}/${file}`;
      if (LFS_EXTENSIONS.has(extname(file)) || info.size >= LFS_SIZE) {
        const hash = await lfsHash(path, info);
        cdn.set(hash, { path, key });
        const location = `http://${req.headers.host}/cdn/${hash}`;
        return send(302, { Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'X-Repo-Commit': commit, 'X-Linked-Etag': `"${hash}"`, 'X-Linked-Size': String(info.size), ETag: `"${hash}"` }, `Found. Redirecting to ${location}`);
      }
      // A file in git: its ETag is its blob's SHA-1, as git names it.
      const blob = readFileSync(path);
      const etag = sha1(Buffer.concat([Buffer.from(`blob ${blob.length}\0`), blob]));
      const type = extname(file) === '.json' ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8';
      return serveBytes(path, key, { 'Content-Type': type, ETag: `"${etag}"`, 'X-Repo-Commit': commit });
    } catch (e) {
      process.stderr.write(`hub: ${req.url}: ${/** @type {Error} */ (e).message}\n`);
      if (!res.headersSent) send(500, { 'Content-Type': 'text/plain' }, 'internal error');
      else res.destroy();
    }

    /**
     * Answers with the bytes of `path` (file `key` of a repo, for `cut`), honouring one Range.
     * @param {string} path
     * @param {string} key
     * @param {Record<string, string>} headers
     */
    async function serveBytes(path, key, headers) {
      const handle = await open(path);
      try {
        const { size } = await handle.stat();
        const asked = range(req.headers.range, size);
        if (asked === 'unsatisfiable') return send(416, { ...headers, 'Content-Range': `bytes */${size}` });
        const { start, end } = asked ?? { start: 0, end: size - 1 };
        const length = Math.max(0, end - start + 1);
        res.writeHead(asked ? 206 : 200, {
          ...CORS,
          ...headers,
          'Accept-Ranges': 'bytes',
          'Content-Length': String(length),
          ...(asked ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
        });
        if (req.method === 'HEAD' || length === 0) return res.end();
        const whole = start === 0 && end === size - 1;
        const cuts = cutsLeft.get(key) ?? 0;
        if (whole && cuts > 0) {
          cutsLeft.set(key, cuts - 1);
          const half = Buffer.alloc(Math.floor(length / 2));
          await handle.read(half, 0, half.length, start);
          // Destroyed once the half is on its way: the client has less than the length said.
          return res.write(half, () => res.destroy());
        }
        const stream = handle.createReadStream({ start, end, autoClose: false });
        await new Promise((done, failed) => {
          stream.on('error', failed);
          res.on('close', done);
          stream.pipe(res);
        });
      } finally {
        await handle.close().catch(() => {});
      }
    }
  });

  await new Promise((listening) => server.listen(0, '127.0.0.1', () => listening(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise((closed) => {
        server.closeAllConnections();
        server.close(() => closed(undefined));
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const hub = await startHub({ repos: config.repos ?? {}, gated: config.gated ?? [], cut: config.cut ?? {}, log: true });
  process.stdout.write(`${JSON.stringify({ endpoint: hub.endpoint })}\n`);
}
