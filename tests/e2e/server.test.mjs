// The page's server (www/serve.mjs) under hostile conditions: a file rewritten while it is being
// served, a read that fails, links that lead out of the served folders, FIFOs and devices, other
// methods and ranges. Each request gets its own answer and the server serves on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startServer } from './harness.mjs';

/** A site of its own: the page's entries, with links and special files among them. */
const site = mkdtempSync(join(tmpdir(), 'vit-serve-'));
const outside = mkdtempSync(join(tmpdir(), 'vit-outside-'));
let server;

before(async () => {
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>site</title>');
  mkdirSync(join(site, 'www'));
  mkdirSync(join(site, 'weights'));
  writeFileSync(join(site, 'www', 'app.js'), 'export {};\n');
  writeFileSync(join(site, 'www', 'big.bin'), Buffer.alloc(4 << 20, 7));
  writeFileSync(join(outside, 'secret.txt'), 'not for the web\n');
  symlinkSync(join(site, 'www', 'app.js'), join(site, 'www', 'inside-link.js'));
  symlinkSync(join(outside, 'secret.txt'), join(site, 'www', 'secret.txt'));
  symlinkSync('/etc', join(site, 'weights', 'etc'));
  symlinkSync('/dev/zero', join(site, 'www', 'zero.png'));
  execFileSync('mkfifo', [join(site, 'www', 'pipe.png')]);
  server = await startServer(site, { '/mem': '/proc/self/mem', '/zero': '/dev/zero' });
});

after(() => {
  server?.stop();
  rmSync(site, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

/**
 * One request: its status, headers and body (or `cut` when the connection closed early).
 * @param {string} path
 * @param {{ method?: string, headers?: Record<string, string> }} [options]
 */
function fetchRaw(path, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    let response = null;
    const chunks = [];
    const cut = () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks), cut: true });
    const req = request(new URL(path, server.url), { method, headers }, (res) => {
      response = res;
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), cut: !res.complete }));
      res.on('error', cut);
      res.on('aborted', cut);
    });
    // A connection closed after the headers is a response cut short; before them, a failure.
    req.on('error', (e) => (response ? cut() : reject(e)));
    req.end();
  });
}

const alive = async () => assert.equal((await fetchRaw('/www/app.js')).status, 200, 'the server serves on');

test('a file rewritten while it is served: every request gets an answer, and the server serves on', async () => {
  let writing = true;
  const rewrite = (async () => {
    for (let i = 0; writing; i++) {
      // Replaced, truncated and removed in turn, as a rebuild does to the files it serves.
      const path = join(site, 'www', 'big.bin');
      if (i % 5 === 4) rmSync(path, { force: true });
      else writeFileSync(path, Buffer.alloc((i % 2 ? 1 : 4) << 20, i & 255));
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  let answers;
  try {
    // In waves, so that the requests meet the file in each of its states.
    answers = [];
    for (let wave = 0; wave < 20; wave++) {
      answers.push(...(await Promise.all(Array.from({ length: 10 }, () => fetchRaw('/www/big.bin')))));
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    writing = false;
    await rewrite;
  }
  for (const { status, headers, body, cut } of answers) {
    assert.ok([200, 404, 500].includes(status), `status ${status}`);
    // A whole file as it was when opened, or a response cut short: never a wrong length passed off as whole.
    if (status === 200 && !cut) assert.equal(body.length, Number(headers['content-length']));
  }
  // Written once more and left alone: served whole.
  writeFileSync(join(site, 'www', 'big.bin'), Buffer.alloc(1 << 20, 1));
  const whole = await fetchRaw('/www/big.bin');
  assert.equal(whole.status, 200);
  assert.equal(whole.body.length, 1 << 20);
  await alive();
});

test('a file that cannot be read is a 500, a device or a FIFO is not served, and the server serves on', async () => {
  const mem = await fetchRaw('/mem');
  assert.equal(mem.status, 500);
  assert.equal(mem.body.toString(), 'the file could not be read');
  for (const path of ['/zero', '/www/pipe.png']) assert.equal((await fetchRaw(path)).status, 404, path);
  await alive();
});

test('links are followed only inside the served folder; other methods get 405, ranges the whole file', async () => {
  assert.equal((await fetchRaw('/www/inside-link.js')).status, 200);
  for (const path of ['/www/secret.txt', '/weights/etc/passwd', '/www/zero.png', '/www/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd']) {
    assert.equal((await fetchRaw(path)).status, 404, path);
  }
  const post = await fetchRaw('/www/app.js', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const head = await fetchRaw('/www/app.js', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], '11');
  const ranged = await fetchRaw('/www/app.js', { headers: { Range: 'bytes=0-3' } });
  assert.equal(ranged.status, 200);
  assert.equal(ranged.headers['accept-ranges'], 'none');
  assert.equal(ranged.body.toString(), 'export {};\n');
  await alive();
});
