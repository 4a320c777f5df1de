/**
 * `vae eval`'s importance sampler on the CPU engine (src/eval/onnx-sampler.ts) against the tfjs
 * sampler on the cpu backend: the same per-example L_K for the same model, images and seed,
 * whatever the chunking (several chunks per example, several examples per chunk), for
 * activations and depths; models it does not run are named.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateSplit } from '../../src/eval/elbo.js';
import { engineSamplerFor, OnnxSampler } from '../../src/eval/onnx-sampler.js';
import { loadOrt } from '../../src/engine/onnx/engine.js';
import { createVae, type Vae, type VaeSpec } from '../../src/model/vae.js';
import { Rng } from '../../src/random.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { binaryData, useCpu } from '../support/helpers.js';

before(useCpu);

let skip: string | false = false;
try {
  await loadOrt();
} catch (err) {
  skip = (err as Error).message;
}

const BASE: VaeSpec = { arch: 'mlp', inputDim: 30, inputShape: [5, 6, 1], hidden: [12], latentDim: 3, activation: 'relu', likelihood: 'bernoulli' };
const set: ImageSet = { images: binaryData(23, 30, 5), labels: null, n: 23, shape: [5, 6, 1] };

async function perExample(vae: Vae, pool: OnnxSampler | null, chunkRows: number): Promise<number[]> {
  const r = await evaluateSplit(vae, set, { seed: 6, binarize: false, samples: 9, chunkRows, batchSize: 10, pool });
  return Array.from(r.iw!.perExample);
}

for (const [name, spec] of [
  ['relu, one hidden layer', BASE],
  ['tanh, two hidden layers', { ...BASE, hidden: [12, 7], activation: 'tanh' }],
  ['leaky_relu, no hidden layer', { ...BASE, hidden: [], activation: 'leaky_relu' }],
  ['elu', { ...BASE, activation: 'elu' }],
] as [string, VaeSpec][]) {
  test(`the engine's L_K equals the tfjs sampler's per example: ${name}`, { skip }, async () => {
    const vae = createVae(spec, Rng.derive(2, 'init'));
    const sampler = await OnnxSampler.start(vae);
    try {
      const ref = await perExample(vae, null, 8192);
      for (const chunkRows of [8192, 4, 20]) {
        const got = await perExample(vae, sampler, chunkRows);
        assert.equal(got.length, set.n);
        for (let i = 0; i < set.n; i++) assert.ok(Math.abs(got[i] - ref[i]) < 1e-4 * (1 + Math.abs(ref[i])), `example ${i}, chunkRows ${chunkRows}: engine ${got[i]}, tfjs ${ref[i]}`);
      }
      assert.ok(new Set(ref.map((v) => v.toFixed(3))).size > 5, 'the examples differ');
    } finally {
      await sampler.close();
    }
  });
}

test('the engine sampler names what it does not run, and stays off the cpu backend', { skip }, async () => {
  const gaussian = createVae({ ...BASE, likelihood: 'gaussian', sigma: 0.5 }, Rng.derive(2, 'init'));
  assert.match((await engineSamplerFor(gaussian, false, 'wasm')).line, /^sampler: tfjs-wasm \(the CPU engine does not run this model's weights: it runs the bernoulli likelihood only/);
  const vae = createVae(BASE, Rng.derive(2, 'init'));
  assert.match((await engineSamplerFor(vae, false, 'wasm')).line, /the data are not binarised\)$/);
  assert.deepEqual(await engineSamplerFor(vae, true, 'cpu'), { sampler: null, line: '' });
  const on = await engineSamplerFor(vae, true, 'wasm');
  assert.match(on.line, /^sampler: onnxruntime \d+\.\d+\.\d+, \d+ threads? \(the CPU engine\)$/);
  await on.sampler!.close();
});
