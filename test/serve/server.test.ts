/** The explore server's HTTP behaviour: 127.0.0.1 only, GET/HEAD, content types, 404 and 405, a clean close. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { serve, type Content } from '../../src/serve/server.js';

test('serve: bytes and files by path, with their content types; 404, 405 and HEAD', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-serve-'));
  fs.writeFileSync(path.join(dir, 'page.html'), '<p>hi</p>');
  const routes = new Map<string, Content>([
    ['/', { file: path.join(dir, 'page.html') }],
    ['/model/model.json', { bytes: new TextEncoder().encode('{"a":1}') }],
    ['/w.bin', { bytes: new Uint8Array([1, 2, 3]) }],
    ['/gone.js', { file: path.join(dir, 'missing.js') }],
  ]);
  const server = await serve(routes, 0);
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await page.text(), '<p>hi</p>');
    const json = await fetch(`${server.url}model/model.json`);
    assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await json.json(), { a: 1 });
    const bin = await fetch(`${server.url}w.bin`);
    assert.deepEqual(new Uint8Array(await bin.arrayBuffer()), new Uint8Array([1, 2, 3]));
    assert.equal((await fetch(`${server.url}nothing`)).status, 404);
    assert.equal((await fetch(`${server.url}../etc/passwd`)).status, 404);
    assert.equal((await fetch(`${server.url}gone.js`)).status, 500);
    assert.equal((await fetch(`${server.url}w.bin`, { method: 'POST', body: 'x' })).status, 405);
    const head = await fetch(`${server.url}w.bin`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), '3');
    // routes added after start are served (explore listens first, then fills them in)
    routes.set('/late.css', { bytes: new TextEncoder().encode('p{}') });
    assert.equal((await fetch(`${server.url}late.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(fetch(server.url), 'closed');
});

test('serve: a taken port is a VaeError with a hint, exit code 2', async () => {
  const first = await serve(new Map(), 0);
  try {
    await assert.rejects(serve(new Map(), first.port), (err: Error & { exitCode?: number; hint?: string }) => {
      assert.equal(err.message, `port ${first.port} on 127.0.0.1 is taken`);
      assert.equal(err.exitCode, 2);
      assert.match(err.hint ?? '', /--port/);
      return true;
    });
  } finally {
    await first.close();
  }
});

/** A raw request to 127.0.0.1: the path as given (not normalised as fetch would) and any Host header. */
function request(port: number, rawPath: string, headers: Record<string, string> = {}, setHost = true): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, headers, setHost, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serve: a request whose Host is not a loopback name or address is refused with 403 (DNS rebinding); no CORS header', async () => {
  const routes = new Map<string, Content>([['/', { bytes: new TextEncoder().encode('<p>page</p>') }], ['/data/map.json', { bytes: new TextEncoder().encode('{}') }]]);
  const server = await serve(routes, 0);
  try {
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, 'localhost', 'LOCALHOST.', `app.localhost:${server.port}`, `127.1.2.3:${server.port}`, `[::1]:${server.port}`, '127.0.0.1']) {
      const r = await request(server.port, '/', { host });
      assert.equal(r.status, 200, host);
      assert.equal(r.body, '<p>page</p>');
      assert.equal(r.headers['access-control-allow-origin'], undefined, 'no CORS header');
    }
    for (const host of [`evil.example:${server.port}`, 'evil.example', `127.0.0.1.evil.example:${server.port}`, `localhost.evil.example`, '192.168.1.20', '0.0.0.0', `[::ffff:7f00:1]:${server.port}`, '127.0.0.256', 'user@localhost']) {
      const r = await request(server.port, '/data/map.json', { host });
      assert.equal(r.status, 403, `Host: ${host}`);
      assert.doesNotMatch(r.body, /\{\}/);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
    }
    // no Host header at all: node:http itself answers 400 (HTTP/1.1 requires one)
    assert.ok([400, 403].includes((await request(server.port, '/', {}, false)).status), 'no Host header at all');
    // a page on another origin asking through the loopback name itself still gets no CORS grant
    const cross = await request(server.port, '/data/map.json', { host: `127.0.0.1:${server.port}`, origin: 'http://evil.example' });
    assert.equal(cross.status, 200);
    assert.equal(cross.headers['access-control-allow-origin'], undefined);
  } finally {
    await server.close();
  }
});

test('serve: path traversal, plain or encoded, is 404; a malformed escape is 400 and the server keeps serving', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-serve-'));
  fs.writeFileSync(path.join(dir, 'page.html'), '<p>hi</p>');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret');
  const server = await serve(new Map<string, Content>([['/', { file: path.join(dir, 'page.html') }], ['/lib/prepare.js', { bytes: new TextEncoder().encode('x') }]]), 0);
  try {
    for (const p of ['/../secret.txt', '/lib/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt', '/lib/%2e%2e%2f%2e%2e%2fsecret.txt', '/..%2f..%2fetc%2fpasswd', '/..\\..\\etc\\passwd', `/${'../'.repeat(8)}etc/passwd`, '/secret.txt', `/${encodeURIComponent(path.join(dir, 'secret.txt'))}`]) {
      const r = await request(server.port, p);
      assert.equal(r.status, 404, p);
      assert.doesNotMatch(r.body, /secret$|root:/, p);
    }
    for (const p of ['/%', '/%E0%A4%A', '/lib/%zz']) assert.equal((await request(server.port, p)).status, 400, p);
    assert.equal((await request(server.port, '/')).body, '<p>hi</p>', 'still serving');
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
