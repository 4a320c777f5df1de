/**
 * The importance sampler of `vae eval` (src/eval/importance.ts): its fused Bernoulli
 * log-likelihood against the objective module's formula, on cpu and against cpu from wasm;
 * the fallback where the fused form underflows; independence of the chunking; no leaks.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { selectBackend } from '../../src/backend/index.js';
import { evaluateSplit } from '../../src/eval/elbo.js';
import { binaryBernoulliLogPx, pixelSigns } from '../../src/eval/binary-bernoulli.js';
import { createVae, type Vae, type VaeSpec } from '../../src/model/vae.js';
import { bernoulli } from '../../src/model/likelihoods/bernoulli.js';
import { Rng } from '../../src/random.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { binaryData, useCpu } from '../support/helpers.js';

before(useCpu);

// D = 16, a multiple of the fused form's groups of 8 pixels; and D = 12, which is not
const SPEC16: VaeSpec = { arch: 'mlp', inputDim: 16, inputShape: [4, 4, 1], hidden: [10], latentDim: 3, activation: 'relu', likelihood: 'bernoulli' };
const SPEC12: VaeSpec = { ...SPEC16, inputDim: 12, inputShape: [3, 4, 1] };

const vaeOf = (spec: VaeSpec, seed: number): Vae => createVae(spec, Rng.derive(seed, 'init'));
const setOf = (n: number, d: number, shape: [number, number, number], seed = 3): ImageSet => ({ images: binaryData(n, d, seed), labels: null, n, shape });

async function bounds(vae: Vae, set: ImageSet, fused: boolean, extra: { samples?: number; chunkRows?: number; batchSize?: number } = {}) {
  const r = await evaluateSplit(vae, set, { seed: 4, binarize: false, samples: 30, fused, ...extra });
  return Array.from(r.iw!.perExample);
}

test('fused Bernoulli log p(x|z) equals the likelihood module on the same logits (cpu)', () => {
  const logits = tf.tensor3d(Rng.derive(1, 'l').fillNormal(new Float32Array(3 * 5 * 16)).map((v) => 4 * v), [3, 5, 16]);
  const x = tf.tensor2d(binaryData(3, 16, 9), [3, 16]);
  const fused = binaryBernoulliLogPx(logits, pixelSigns(x)).arraySync() as number[][];
  const ref = bernoulli.logProb(tf.tile(tf.expandDims(x, 1), [1, 5, 1]), logits).arraySync() as number[][];
  for (let i = 0; i < 3; i++) for (let k = 0; k < 5; k++) assert.ok(Math.abs(fused[i][k] - ref[i][k]) < 1e-5 * (1 + Math.abs(ref[i][k])), `${fused[i][k]} vs ${ref[i][k]}`);
});

test('eval L_K: the fused path equals the objective module\'s weights, per example (cpu)', async () => {
  for (const [spec, shape] of [
    [SPEC16, [4, 4, 1]],
    [SPEC12, [3, 4, 1]],
  ] as const) {
    const vae = vaeOf(spec, 2);
    const set = setOf(40, spec.inputDim, [...shape]);
    const fast = await bounds(vae, set, true);
    const ref = await bounds(vae, set, false);
    fast.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 1e-5 * (1 + Math.abs(ref[i])), `D=${spec.inputDim}, example ${i}: fused ${v} vs objective ${ref[i]}`));
  }
});

test('eval L_K: where sigmoid underflows (pixels hundreds of nats wrong) the sampler falls back to the exact formula', async () => {
  const vae = vaeOf(SPEC16, 5);
  // pixels 0-7 predicted "on" with logit 150, pixels 8-15 "off": any 0 among 0-7 is 150 nats wrong
  const bias = Float32Array.from({ length: 16 }, (_, d) => (d < 8 ? 150 : -150));
  vae.params.get('decoder.out.bias')!.assign(tf.tensor1d(bias));
  const set = setOf(6, 16, [4, 4, 1], 8);
  const fast = await bounds(vae, set, true);
  const ref = await bounds(vae, set, false);
  assert.ok(ref.every(Number.isFinite) && ref.some((v) => v < -150), `reference ${ref}`);
  assert.deepEqual(fast, ref, 'the fallback is the objective formula itself');
});

test('eval L_K does not depend on the chunking: samples split across chunks, examples grouped differently, other batch sizes', async () => {
  const vae = vaeOf(SPEC16, 6);
  const set = setOf(23, 16, [4, 4, 1]);
  for (const fused of [true, false]) {
    const a = await bounds(vae, set, fused, { chunkRows: 8192 });
    const b = await bounds(vae, set, fused, { chunkRows: 7, batchSize: 5 }); // 7 samples per chunk, one example at a time
    const c = await bounds(vae, set, fused, { chunkRows: 64, batchSize: 10 }); // 30 samples x 2 examples per chunk
    assert.deepEqual(b, a, `fused=${fused}: chunks of 7 rows`);
    assert.deepEqual(c, a, `fused=${fused}: chunks of 2 examples`);
  }
});

test('eval leaves no tensors behind', async () => {
  const vae = vaeOf(SPEC16, 7);
  const set = setOf(30, 16, [4, 4, 1]);
  await bounds(vae, set, true);
  const n0 = tf.memory().numTensors;
  await bounds(vae, set, true);
  await bounds(vae, set, false, { chunkRows: 7 });
  assert.equal(tf.memory().numTensors, n0);
});

test('eval L_K on wasm (fused) matches cpu (objective) on the same model and data', async () => {
  const spec: VaeSpec = { ...SPEC16, inputDim: 784, inputShape: [28, 28, 1], hidden: [64] };
  const vae = vaeOf(spec, 9);
  const params = new Map([...vae.params].map(([k, v]) => [k, { shape: v.shape, values: v.dataSync().slice() }]));
  const set = setOf(12, 784, [28, 28, 1], 10);
  const ref = await bounds(vae, set, false, { samples: 100 });
  try {
    await selectBackend('wasm');
    const onWasm: Vae = createVae(spec, Rng.derive(9, 'init'));
    for (const [k, p] of params) onWasm.params.get(k)!.assign(tf.tensor(p.values, p.shape));
    const fast = await bounds(onWasm, set, true, { samples: 100 });
    fast.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 2e-4 * Math.abs(ref[i]), `example ${i}: wasm fused ${v} vs cpu objective ${ref[i]}`));
  } finally {
    await useCpu();
  }
});
