/**
 * `vae export` as a user runs it: the files it writes, its refusals, and the promise that a web
 * developer who loads decoder/model.json with stock tfjs gets the images `vae sample` draws.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tfjs from '@tensorflow/tfjs';
import { Rng } from '../../src/random.js';
import { serve, type Content } from '../../src/serve/server.js';
import { runVae } from '../support/bin.js';
import { useCpu } from '../support/helpers.js';
import { fakeRun } from '../support/fake-run.js';

before(useCpu);

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vae-export-cli-'));
}

const SPEC = { arch: 'mlp' as const, inputDim: 784, inputShape: [28, 28, 1] as [number, number, number], hidden: [24], latentDim: 6, activation: 'relu' as const, likelihood: 'bernoulli' };

test('vae export --part decoder writes decoder/ and vae.json only, and nothing on stdout', async () => {
  const root = tmp();
  try {
    await fakeRun(path.join(root, 'run'), SPEC);
    const r = runVae(['export', '--run', 'run', '--part', 'decoder', '--out', 'web'], { cwd: root });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, 0);
    assert.match(r.stderr, /exported the decoder of run \(epoch 3\) to web\//);
    assert.deepEqual(fs.readdirSync(path.join(root, 'web')).sort(), ['decoder', 'vae.json']);
    assert.deepEqual(fs.readdirSync(path.join(root, 'web', 'decoder')).sort(), ['group1-shard1of1.bin', 'model.json']);
    const info = JSON.parse(fs.readFileSync(path.join(root, 'web', 'vae.json'), 'utf8'));
    assert.equal(info.format, 'vae-export');
    assert.equal(info.latentDim, 6);
    assert.deepEqual(info.imageShape, [28, 28, 1]);
    assert.equal(info.prepare, 'mnist');
    assert.equal(info.encoder, undefined);
    assert.deepEqual(info.decoder.output.shape, [null, 28, 28, 1]);
    // no temporary folder left beside it
    assert.deepEqual(fs.readdirSync(root).sort(), ['run', 'web']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('vae export refuses a non-empty --out, a missing --out and an unknown --part with one line each', async () => {
  const root = tmp();
  try {
    await fakeRun(path.join(root, 'run'), SPEC);
    fs.mkdirSync(path.join(root, 'full'));
    fs.writeFileSync(path.join(root, 'full', 'x.txt'), 'keep me');
    const cases: [string[], RegExp][] = [
      [['export', '--run', 'run', '--out', 'full'], /^vae: --out full is not empty \(give a new folder name, or delete the old export first\)\n$/],
      [['export', '--run', 'run'], /^vae: required option '-o, --out <dir>' not specified\n$/],
      [['export', '--run', 'run', '--out', 'x', '--part', 'middle'], /^vae: option '--part <which>' argument 'middle' is invalid\. Allowed choices are encoder, decoder, both\.\n$/],
      [['export', '--run', 'nowhere', '--out', 'x'], /^vae: run directory 'nowhere' does not exist/],
    ];
    for (const [args, message] of cases) {
      const r = runVae(args, { cwd: root });
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
    }
    assert.equal(fs.readFileSync(path.join(root, 'full', 'x.txt'), 'utf8'), 'keep me');
    assert.equal(fs.existsSync(path.join(root, 'x')), false);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("the exported decoder, loaded with tf.loadLayersModel, draws the pixels of `vae sample`", async (t) => {
  const root = tmp();
  try {
    await fakeRun(path.join(root, 'run'), SPEC, 4);
    const n = 16;
    const seed = 5;
    const s = runVae(['sample', '--run', 'run', '--n', String(n), '--seed', String(seed), '--cols', String(n), '--padding', '0', '--out', 'grid.png'], { cwd: root });
    assert.equal(s.code, 0, s.stderr);
    assert.equal(runVae(['export', '--run', 'run', '--out', 'web'], { cwd: root }).code, 0);
    // vae sample's prior draws: Rng.derive(seed, 'sample'), n x J standard normals (src/commands/sample.ts)
    const z = Rng.derive(seed, 'sample').fillNormal(new Float32Array(n * SPEC.latentDim));
    const routes = new Map<string, Content>();
    for (const f of fs.readdirSync(path.join(root, 'web', 'decoder'))) routes.set(`/decoder/${f}`, { file: path.join(root, 'web', 'decoder', f) });
    const server = await serve(routes, 0);
    let images: Float32Array;
    try {
      const decoder = await tfjs.loadLayersModel(`${server.url}decoder/model.json`);
      const out = decoder.predict(tfjs.tensor2d(z, [n, SPEC.latentDim])) as tfjs.Tensor;
      images = (await out.data()) as Float32Array;
      out.dispose();
      decoder.dispose();
    } finally {
      await server.close();
    }
    // The grid is n tiles side by side: pixel (y, x) of tile i is at column i * 28 + x.
    const { data, info } = await sharp(path.join(root, 'grid.png')).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [n * 28, 28]);
    let same = 0;
    let worst = 0;
    for (let i = 0; i < n; i++) {
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const ours = Math.round(images[i * 784 + y * 28 + x] * 255);
          const theirs = data[(y * info.width + i * 28 + x) * info.channels];
          worst = Math.max(worst, Math.abs(ours - theirs));
          if (ours === theirs) same++;
        }
      }
    }
    t.diagnostic(`${same} of ${n * 784} pixels identical, largest difference ${worst} of 255`);
    // Float32 rounding between backends can move a value across a rounding boundary, by one level at most.
    assert.ok(worst <= 1, `largest pixel difference ${worst}`);
    assert.ok(same >= 0.99 * n * 784);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
