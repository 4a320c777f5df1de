/**
 * `vae explore` end to end: the real CLI serves a run, headless Chromium (puppeteer-core) loads
 * the page: no console errors, a slider changes the latent canvas's pixels, the sample grid
 * renders, the map has one point per encoded image, a chosen image file is encoded and
 * reconstructed. Ctrl-C (SIGINT) stops the server cleanly, and a taken port is one clear line.
 * Skips with a reason where Chromium is absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Page } from 'puppeteer-core';
import { BIN, runVae } from '../support/bin.js';
import { fakeRun } from '../support/fake-run.js';
import { loadImageFiles } from '../../src/image/load.js';
import type { VaeSpec } from '../../src/model/vae.js';
import { findChromium, launch, NO_CHROMIUM } from '../support/browser.js';

const chromium = findChromium();
const LIMIT = 300;

/** Start `vae explore`; resolves with the URL it prints once it is serving. */
function startExplore(args: string[], cwd: string): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'explore', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
      if (m) resolve({ child, url: m[1], stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`vae explore exited (${code}) before serving: ${err}`)));
  });
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

/** Run an expression in the page (a string: these tests are compiled without the DOM's types). */
async function inPage<T>(page: Page, expression: string): Promise<T> {
  return (await page.evaluate(expression)) as T;
}

function canvasPixels(page: Page, id: string): Promise<number[]> {
  return inPage(page, `(() => { const c = document.getElementById('${id}'); return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); })()`);
}

const dataset = (page: Page, id: string, key: string) => inPage<string | undefined>(page, `document.getElementById('${id}').dataset.${key}`);

const distinct = (pixels: number[]) => new Set(pixels.filter((_, i) => i % 4 === 0)).size;

const MODELS: { label: string; spec: VaeSpec; axes: RegExp }[] = [
  { label: 'an mlp with a Bernoulli', spec: { arch: 'mlp', inputDim: 784, inputShape: [28, 28, 1], hidden: [32], latentDim: 4, activation: 'relu', likelihood: 'bernoulli' }, axes: /principal component 1 across/ },
  {
    label: 'a conv with batch norm, a logistic and 2-D latents',
    spec: { arch: 'conv', inputDim: 784, inputShape: [28, 28, 1], hidden: [16], latentDim: 2, activation: 'leaky_relu', likelihood: 'logistic', convChannels: [4, 8], kernelSize: 4, batchNorm: true },
    axes: /z0 across, z1 up/,
  },
];

for (const { label, spec, axes } of MODELS) test(`vae explore, ${label}: the page works in headless Chromium, and Ctrl-C stops the server`, { skip: chromium ? false : NO_CHROMIUM, timeout: 180_000 }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-explore-'));
  const runDir = path.join(root, 'run');
  await fakeRun(runDir, spec);
  const { child, url, stderr } = await startExplore(['--run', runDir, '--port', '0', '--limit', String(LIMIT), '--backend', 'cpu'], root);
  const browser = await launch(chromium!);
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    // Everything comes from the local server (tfjs included): the page works offline.
    page.on('request', (r) => {
      if (!r.url().startsWith(url) && !r.url().startsWith('data:')) problems.push(`request outside the server: ${r.url()}`);
    });
    await page.setViewport({ width: 1000, height: 900 });
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });

    const header = await page.$eval('#run-facts', (e) => e.textContent ?? '');
    assert.match(header, /epoch 3/);
    assert.match(header, /test ELBO -\d+\.\d\d nats \(300 images\)/);

    // a slider changes the decoded picture
    const before = await canvasPixels(page, 'latent-canvas');
    const draws = Number(await dataset(page, 'latent-canvas', 'draws'));
    await inPage(page, `(() => { const s = document.querySelector('#sliders input'); s.value = '2.5'; s.dispatchEvent(new Event('input')); })()`);
    await page.waitForFunction(`Number(document.getElementById('latent-canvas').dataset.draws) > ${draws}`);
    const after = await canvasPixels(page, 'latent-canvas');
    assert.equal(after.length, before.length);
    assert.ok(after.some((v, i) => v !== before[i]), 'moving a slider changed the canvas');

    // the sample grid: 8 x 8 tiles of 28 px at scale 2 with 2 px gaps, and not one flat colour
    const size = await inPage(page, `(() => { const c = document.getElementById('samples-canvas'); return [c.width, c.height]; })()`);
    assert.deepEqual(size, [8 * (28 * 2 + 2) + 2, 8 * (28 * 2 + 2) + 2]);
    assert.ok(distinct(await canvasPixels(page, 'samples-canvas')) > 10, 'the samples show varied pixels');

    // the map: one point per encoded test image
    assert.equal(await dataset(page, 'map-canvas', 'points'), String(LIMIT));
    assert.match(await page.$eval('#map-caption', (e) => e.textContent ?? ''), axes);
    assert.ok(distinct(await canvasPixels(page, 'picked-recon')) > 5, 'the picked point shows its reconstruction');

    // your own image: a dark stroke on white paper, dropped onto the page (first model) or
    // chosen with the file input (second)
    const png = path.join(root, 'digit.png');
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="90" height="120"><rect width="90" height="120" fill="white"/><path d="M45 15 L45 105" stroke="black" stroke-width="14"/></svg>';
    await sharp(Buffer.from(svg)).png().toFile(png);
    if (spec.arch === 'mlp') {
      const b64 = fs.readFileSync(png).toString('base64');
      await inPage(page, `(() => {
        const bytes = Uint8Array.from(atob('${b64}'), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'digit.png', { type: 'image/png' }));
        document.querySelector('h1').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      })()`);
    } else {
      const input = await page.$('#file');
      await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(png);
    }
    await page.waitForFunction(`/recipe/.test(document.getElementById('drop-caption').textContent)`, { timeout: 30_000 });
    const prepared = await canvasPixels(page, 'drop-input');
    assert.ok(prepared.some((v, i) => i % 4 === 0 && v > 200), 'the prepared input has light ink (inverted from dark on white)');
    // The page prepares pictures with vae's own recipe (MNIST's, for these runs): the same
    // input as `vae reconstruct digit.png` gets, read at the centre of each 4x4 block.
    const expected = await loadImageFiles([png], [28, 28, 1], 'mnist');
    let differ = 0;
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) if (prepared[((4 * y + 2) * 112 + 4 * x + 2) * 4] !== Math.round(expected[y * 28 + x] * 255)) differ++;
    assert.equal(differ, 0, `${differ} of 784 prepared pixels differ from vae's preparation`);
    assert.ok(distinct(await canvasPixels(page, 'drop-recon')) > 5, 'the dropped image is reconstructed');

    // VAE_SCREENSHOT=file.png keeps a picture of the page, to look at.
    if (process.env.VAE_SCREENSHOT) await page.screenshot({ path: process.env.VAE_SCREENSHOT, fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    const code = exited(child);
    child.kill('SIGINT');
    assert.equal(await code, 0, `exit code after Ctrl-C; stderr: ${stderr()}`);
    assert.match(stderr(), /stopped/);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('vae explore: a taken port is one clear line and exit code 2', async () => {
  const blocker = http.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-explore-'));
  try {
    const r = runVae(['explore', '--run', path.join(root, 'nowhere'), '--port', String(port)], { cwd: root });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `vae: port ${port} on 127.0.0.1 is taken (choose another with --port N, or --port 0 for any free port)\n`);
    assert.equal(r.stdout.length, 0);
  } finally {
    blocker.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
