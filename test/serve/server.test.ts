/** The explore server's HTTP behaviour: 127.0.0.1 only, GET/HEAD, content types, 404 and 405, a clean close. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
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
