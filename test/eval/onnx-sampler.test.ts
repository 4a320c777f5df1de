/**
 * `vae eval`'s importance sampler on the CPU engine (src/eval/onnx-sampler.ts) against the tfjs
 * sampler on the cpu backend: the same per-example L_K for the same model, images and seed,
 * whatever the chunking (several chunks per example, several examples per chunk), for
 * activations and depths, conv models (batch norm too), the Gaussian likelihoods and the
 * logistic; VAE_CPU_ENGINE=tfjs turns it off.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { evaluateSplit } from '../../src/eval/elbo.js';
import { engineSamplerFor, OnnxSampler } from '../../src/eval/onnx-sampler.js';
import { createVae, type Vae, type VaeSpec } from '../../src/model/vae.js';
import { Rng } from '../../src/random.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { binaryData, useCpu } from '../support/helpers.js';
import { skipWithoutOrt } from '../support/ort.js';

before(useCpu);

const skip = await skipWithoutOrt();

const BASE: VaeSpec = { arch: 'mlp', inputDim: 30, inputShape: [5, 6, 1], hidden: [12], latentDim: 3, activation: 'relu', likelihood: 'bernoulli' };
const set: ImageSet = { images: binaryData(23, 30, 5), labels: null, n: 23, shape: [5, 6, 1] };
/** grey levels, for the Gaussian */
const grey: ImageSet = { ...set, images: set.images.map((v, i) => Math.abs(v - ((i * 0.37) % 0.5))) };
/** 8-bit levels with both ends, for the logistic */
const eightBit: ImageSet = { ...set, images: grey.images.map((v, i) => (i % 11 === 0 ? 1 : Math.round(v * 255) / 255)) };
const COLOUR: VaeSpec = { ...BASE, inputDim: 36, inputShape: [3, 4, 3] };
const colour: ImageSet = { images: binaryData(23, 36, 8), labels: null, n: 23, shape: [3, 4, 3] };
const colourEightBit: ImageSet = { ...colour, images: colour.images.map((v, i) => (v ? 1 - ((i * 7) % 40) / 255 : ((i * 13) % 60) / 255)) };

async function perExample(vae: Vae, pool: OnnxSampler | null, chunkRows: number, data: ImageSet): Promise<number[]> {
  const r = await evaluateSplit(vae, data, { seed: 6, binarize: false, samples: 9, chunkRows, batchSize: 10, pool });
  return Array.from(r.iw!.perExample);
}

for (const [label, spec, data] of [
  ['relu, one hidden layer', BASE, set],
  ['tanh, two hidden layers', { ...BASE, hidden: [12, 7], activation: 'tanh' }, set],
  ['leaky_relu, no hidden layer', { ...BASE, hidden: [], activation: 'leaky_relu' }, set],
  ['elu', { ...BASE, activation: 'elu' }, set],
  ['gaussian, fixed sigma', { ...BASE, likelihood: 'gaussian', sigma: 0.3 }, grey],
  ['gaussian, learned per-pixel sigma', { ...BASE, likelihood: 'gaussian', sigma: 'learned-per-pixel' }, grey],
  ['conv, asymmetric SAME padding', { ...BASE, arch: 'conv', convChannels: [3, 4], kernelSize: 3, hidden: [6] }, set],
  ['conv, three channels, no dense layer, learned sigma', { ...COLOUR, arch: 'conv', convChannels: [4], kernelSize: 2, hidden: [], activation: 'elu', likelihood: 'gaussian', sigma: 'learned' }, colour],
  ['logistic, 8-bit grey levels', { ...BASE, likelihood: 'logistic' }, eightBit],
  ['conv, logistic, three channels', { ...COLOUR, arch: 'conv', convChannels: [4], kernelSize: 2, hidden: [5], likelihood: 'logistic' }, colourEightBit],
  ['conv, batch norm (its running averages)', { ...BASE, arch: 'conv', convChannels: [3, 4], kernelSize: 3, hidden: [6], batchNorm: true }, set],
] as [string, VaeSpec, ImageSet][]) {
  test(`the engine's L_K equals the tfjs sampler's per example: ${label}`, { skip }, async () => {
    const vae = createVae(spec, Rng.derive(2, 'init'));
    // a learned sigma starts equal everywhere: spread it so that a pixel read for another shows
    const logSigma = vae.params.get('likelihood.logSigma');
    logSigma?.assign(tf.tensor(Float32Array.from({ length: logSigma.size }, (_, i) => -1.5 + 0.1 * (i % 7)), logSigma.shape));
    // and batch norm's running averages start at 0 and 1, which would hide them
    for (const [name, v] of vae.params) {
      if (name.endsWith('.runningMean')) v.assign(tf.tensor(Float32Array.from({ length: v.size }, (_, i) => 0.3 - 0.2 * i), v.shape));
      if (name.endsWith('.runningVar')) v.assign(tf.tensor(Float32Array.from({ length: v.size }, (_, i) => 0.5 + 0.4 * i), v.shape));
    }
    const sampler = await OnnxSampler.start(vae);
    try {
      const ref = await perExample(vae, null, 8192, data);
      for (const chunkRows of [8192, 4, 20]) {
        const got = await perExample(vae, sampler, chunkRows, data);
        assert.equal(got.length, data.n);
        for (let i = 0; i < data.n; i++) assert.ok(Math.abs(got[i] - ref[i]) < 1e-4 * (1 + Math.abs(ref[i])), `example ${i}, chunkRows ${chunkRows}: engine ${got[i]}, tfjs ${ref[i]}`);
      }
      assert.ok(new Set(ref.map((v) => v.toFixed(3))).size > 5, 'the examples differ');
    } finally {
      await sampler.close();
    }
  });
}

test('the engine sampler steps aside for VAE_CPU_ENGINE=tfjs, saying so, and stays off the cpu backend', { skip }, async () => {
  const vae = createVae(BASE, Rng.derive(2, 'init'));
  process.env.VAE_CPU_ENGINE = 'tfjs';
  try {
    assert.deepEqual(await engineSamplerFor(vae, 'wasm'), { sampler: null, line: "sampler: tfjs-wasm (the CPU engine does not run this model's weights: VAE_CPU_ENGINE=tfjs)" });
  } finally {
    delete process.env.VAE_CPU_ENGINE;
  }
  assert.deepEqual(await engineSamplerFor(vae, 'cpu'), { sampler: null, line: '' });
  const on = await engineSamplerFor(vae, 'wasm');
  assert.match(on.line, /^sampler: onnxruntime \d+\.\d+\.\d+, \d+ threads? \(the CPU engine\)$/);
  await on.sampler!.close();
});
