/**
 * Own pictures prepared like the training data: the recipes on synthetic pixels, and a digit
 * drawn dark on light, off-centre on a large canvas, reconstructed by a trained model (the
 * small MNIST run in test/fixtures/run-v1) with and without preparation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { prepareImage, recipeForDataset, type Pixels } from '../../src/image/prepare.js';
import { loadRun } from '../../src/run/run.js';
import { readInputs } from '../../src/commands/inputs.js';
import { loadSplits } from '../../src/data/load.js';
import { decodeArrays, encodeArrays } from '../../src/model/arrays.js';
import { useCpu } from '../support/helpers.js';
import { runVae } from '../support/bin.js';
import { writeDrawing } from '../support/drawing.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/run-v1', import.meta.url));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-prepare-'));

/** A w x h grey picture with a filled rectangle of `ink` on `paper`. */
function rect(w: number, h: number, box: { x: number; y: number; w: number; h: number }, ink: number, paper: number): Pixels {
  const data = new Uint8Array(w * h).fill(paper);
  for (let y = box.y; y < box.y + box.h; y++) for (let x = box.x; x < box.x + box.w; x++) data[y * w + x] = ink;
  return { data, width: w, height: h, channels: 1 };
}

function stats(img: Float32Array, W: number) {
  let m = 0;
  let mx = 0;
  let my = 0;
  let x0 = W;
  let x1 = -1;
  let y0 = W;
  let y1 = -1;
  img.forEach((v, i) => {
    const x = i % W;
    const y = Math.floor(i / W);
    m += v;
    mx += v * (x + 0.5);
    my += v * (y + 0.5);
    if (v > 0.05) {
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  });
  return { cx: mx / m, cy: my / m, width: x1 - x0 + 1, height: y1 - y0 + 1, mass: m };
}

test('mnist recipe: light ink on black, fitted into a 20x20 box keeping the aspect, centred by mass in 28x28', () => {
  const dark = prepareImage(rect(300, 220, { x: 20, y: 30, w: 40, h: 160 }, 20, 240), 'mnist', 28, 28);
  const s = stats(dark, 28);
  assert.equal(s.height, 20);
  assert.equal(s.width, 5); // 40 x 160 keeps its 1:4 aspect
  assert.ok(Math.abs(s.cx - 14) <= 0.5 && Math.abs(s.cy - 14) <= 0.5, `centre of mass (${s.cx}, ${s.cy})`);
  assert.ok(Math.max(...dark) > 0.95, 'the ink is light');
  assert.equal(dark[0], 0, 'the background is black');
  // The same shape light on dark is not inverted, and gives the same picture.
  const light = prepareImage(rect(300, 220, { x: 20, y: 30, w: 40, h: 160 }, 240, 20), 'mnist', 28, 28);
  assert.ok(light.every((v, i) => Math.abs(v - dark[i]) < 1e-6));
  // A blank picture stays blank.
  assert.ok(prepareImage(rect(50, 50, { x: 0, y: 0, w: 0, h: 0 }, 0, 255), 'mnist', 28, 28).every((v) => v === 0));
});

test('fashion-mnist recipe: trimmed to the object, longest edge 28, centred, negated, 8-bit levels', () => {
  const out = prepareImage(rect(51, 73, { x: 10, y: 5, w: 30, h: 60 }, 60, 253), 'fashion-mnist', 28, 28);
  const s = stats(out, 28);
  assert.equal(s.height, 28);
  assert.equal(s.width, 14);
  assert.ok(Math.abs(s.cx - 14) <= 0.5);
  assert.ok(out[0] < 0.02, 'the light-grey background becomes black');
  assert.ok(out.every((v) => Math.abs(v * 255 - Math.round(v * 255)) < 1e-4));
  assert.equal(recipeForDataset('fashion-mnist'), 'fashion-mnist');
  assert.equal(recipeForDataset('folder'), 'resize');
});

/** Bernoulli reconstruction error, -log p(x | decoder mean at E[z|x]), in nats, for each of n images. */
async function reconError(run: ReturnType<typeof loadRun>, x: Float32Array, n: number): Promise<number[]> {
  const D = run.vae.spec.inputDim;
  const p = await decodeArrays(run.vae, (await encodeArrays(run.vae, x, n)).mu, n);
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let d = 0; d < D; d++) {
      const q = Math.min(1 - 1e-6, Math.max(1e-6, p[i * D + d]));
      const v = x[i * D + d];
      s -= v * Math.log(q) + (1 - v) * Math.log(1 - q);
    }
    return s;
  });
}

test('a digit drawn dark on light, off-centre on a 300x220 canvas, reconstructs within 3x the test-set error once prepared, and not without', async (t) => {
  await useCpu();
  const drawing = path.join(work, 'seven.png');
  await writeDrawing(drawing);
  const run = loadRun(FIXTURE);
  const test = (await loadSplits(run.config.data, ['test'])).test;
  const n = 1000;
  const errors = await reconError(run, test.images.subarray(0, n * 784), n);
  const mean = errors.reduce((a, b) => a + b, 0) / n;
  const prepared = await readInputs(run, { files: [drawing], defaultLimit: 1, prepare: 'auto' });
  const raw = await readInputs(run, { files: [drawing], defaultLimit: 1, prepare: 'none' });
  const [ePrepared] = await reconError(run, prepared.images, 1);
  const [eRaw] = await reconError(run, raw.images, 1);
  t.diagnostic(`reconstruction error: prepared ${ePrepared.toFixed(1)}, unprepared ${eRaw.toFixed(1)}, test-set mean ${mean.toFixed(1)} nats`);
  assert.ok(ePrepared <= 3 * mean, `prepared: ${ePrepared.toFixed(1)} nats vs test mean ${mean.toFixed(1)}`);
  assert.ok(eRaw > 3 * mean, `unprepared: ${eRaw.toFixed(1)} nats vs test mean ${mean.toFixed(1)}`);

  // The real CLI prepares it the same way: the input tile of `vae reconstruct` is the prepared picture.
  const out = path.join(work, 'recon.png');
  const r = runVae(['reconstruct', drawing, '--run', FIXTURE, '--padding', '0', '--backend', 'cpu', '--out', out], { cwd: work });
  assert.equal(r.code, 0, r.stderr);
  const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [28, 56]);
  for (let i = 0; i < 784; i++) assert.ok(Math.abs(data[i * info.channels] / 255 - prepared.images[i]) <= 1 / 255 + 1e-6);
  const none = runVae(['encode', drawing, '--run', FIXTURE, '--prepare', 'none', '--backend', 'cpu'], { cwd: work });
  assert.equal(none.code, 0, none.stderr);
  const bad = runVae(['reconstruct', drawing, '--run', FIXTURE, '--prepare', 'mnist', '--out', out], { cwd: work });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^vae: unknown --prepare 'mnist' \(use auto .* or none/);
});
