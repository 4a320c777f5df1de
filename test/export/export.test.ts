/**
 * Every architecture and likelihood exports to TensorFlow.js's layers format, and the export,
 * loaded over HTTP by stock @tensorflow/tfjs (tf.loadLayersModel, none of vae's model code),
 * computes what vae's own encoder and decoder compute, to float32 rounding.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tfjs from '@tensorflow/tfjs';
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { decodeMean, encode, type VaeSpec } from '../../src/model/vae.js';
import { loadRun } from '../../src/run/run.js';
import { exportRun } from '../../src/export/export-run.js';
import { writeExport } from '../../src/export/write.js';
import { serve, type Content } from '../../src/serve/server.js';
import { useCpu } from '../support/helpers.js';
import { fakeRun } from '../support/fake-run.js';

before(useCpu);

const LIKELIHOODS: Pick<VaeSpec, 'likelihood' | 'sigma'>[] = [
  { likelihood: 'bernoulli' },
  { likelihood: 'gaussian', sigma: 0.1 },
  { likelihood: 'gaussian', sigma: 'learned' },
  { likelihood: 'gaussian', sigma: 'learned-per-pixel' },
  { likelihood: 'logistic' },
];

const ARCHS: { label: string; spec: Omit<VaeSpec, 'likelihood' | 'sigma'> }[] = [
  { label: 'mlp', spec: { arch: 'mlp', inputDim: 30, inputShape: [6, 5, 1], hidden: [16, 8], latentDim: 3, activation: 'tanh' } },
  { label: 'mlp (no hidden layer, leaky_relu)', spec: { arch: 'mlp', inputDim: 12, inputShape: [3, 4, 1], hidden: [], latentDim: 2, activation: 'leaky_relu' } },
  // odd sizes (7 -> 4 -> 2 and back), colour, an odd kernel
  { label: 'conv', spec: { arch: 'conv', inputDim: 189, inputShape: [7, 9, 3], hidden: [10], latentDim: 4, activation: 'elu', convChannels: [4, 6], kernelSize: 3, batchNorm: false } },
  { label: 'conv with batch norm', spec: { arch: 'conv', inputDim: 784, inputShape: [28, 28, 1], hidden: [12], latentDim: 5, activation: 'relu', convChannels: [4, 8], kernelSize: 4, batchNorm: true } },
  { label: 'conv, three layers, leaky_relu', spec: { arch: 'conv', inputDim: 100, inputShape: [10, 10, 1], hidden: [], latentDim: 3, activation: 'leaky_relu', convChannels: [3, 3, 5], kernelSize: 5, batchNorm: false } },
];

/** |a - b| <= 1e-5 (1 + |b|) everywhere; returns the largest |a - b|. */
function assertClose(a: Float32Array, b: Float32Array, what: string): number {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    assert.ok(d <= 1e-5 * (1 + Math.abs(b[i])), `${what}[${i}]: export ${a[i]} vs vae ${b[i]}`);
    worst = Math.max(worst, d);
  }
  return worst;
}

function exportRoutes(dir: string): Map<string, Content> {
  const routes = new Map<string, Content>();
  for (const part of ['encoder', 'decoder']) {
    for (const f of fs.readdirSync(path.join(dir, part))) routes.set(`/${part}/${f}`, { file: path.join(dir, part, f) });
  }
  return routes;
}

for (const arch of ARCHS) {
  for (const lik of LIKELIHOODS) {
    const name = `${arch.label}, ${lik.likelihood}${lik.sigma !== undefined ? ` sigma=${lik.sigma}` : ''}`;
    test(`export: ${name} loads with tf.loadLayersModel and matches vae`, async (t) => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-export-'));
      try {
        const spec = { ...arch.spec, ...lik } as VaeSpec;
        await fakeRun(path.join(root, 'run'), spec);
        const run = loadRun(path.join(root, 'run'));
        const tensorsBefore = tf.memory().numTensors;
        const { files, info } = await exportRun(run, 'last', ['encoder', 'decoder']);
        assert.equal(tf.memory().numTensors, tensorsBefore, 'exporting leaves no tensors behind');
        writeExport(path.join(root, 'out'), files);
        assert.deepEqual(info.imageShape, spec.inputShape);
        const server = await serve(exportRoutes(path.join(root, 'out')), 0);
        const [H, W, C] = spec.inputShape!;
        const D = H * W * C;
        const B = 5;
        const rng = Rng.derive(2, 'inputs');
        const x = rng.fillUniform(new Float32Array(B * D), 0, 1);
        const z = rng.fillNormal(new Float32Array(B * spec.latentDim));
        try {
          const encoder = await tfjs.loadLayersModel(`${server.url}encoder/model.json`);
          const decoder = await tfjs.loadLayersModel(`${server.url}decoder/model.json`);
          const xs = tfjs.tensor4d(x, [B, H, W, C]);
          const zs = tfjs.tensor2d(z, [B, spec.latentDim]);
          const [mu, logvar] = encoder.predict(xs) as tfjs.Tensor[];
          const image = decoder.predict(zs) as tfjs.Tensor;
          assert.deepEqual(image.shape, [B, H, W, C]);
          const ours = encode(run.vae, tf.reshape(xs, [B, D]));
          const mean = decodeMean(run.vae, zs);
          const worst = [
            assertClose((await mu.data()) as Float32Array, (await ours.mu.data()) as Float32Array, 'mu'),
            assertClose((await logvar.data()) as Float32Array, (await ours.logvar.data()) as Float32Array, 'logvar'),
            assertClose((await image.data()) as Float32Array, (await mean.data()) as Float32Array, 'decoder mean'),
          ];
          t.diagnostic(`largest |export - vae|: mu ${worst[0].toExponential(1)}, logvar ${worst[1].toExponential(1)}, mean ${worst[2].toExponential(1)}`);
          tf.dispose([xs, zs, mu, logvar, image, ours.mu, ours.logvar, mean]);
          encoder.dispose();
          decoder.dispose();
        } finally {
          await server.close();
        }
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }
}
