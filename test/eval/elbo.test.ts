/**
 * The importance-weighted estimator used by `vae eval` (src/eval/elbo.ts, src/model/vae.ts).
 * Tolerances come from the Monte Carlo standard errors of the quantities compared.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { importanceWeights, iwaeBound } from '../../src/model/objective.js';
import { gaussianFixed } from '../../src/model/likelihoods/gaussian.js';
import { evaluateSplit } from '../../src/eval/elbo.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { binaryData, mean, stdErr, tinyVae, useCpu } from '../support/helpers.js';

before(useCpu);

// A linear-Gaussian model: p(z) = N(0, I_2), p(x|z) = N(W z + b, s^2 I_3), so
// p(x) = N(b, W W^T + s^2 I). W's columns are orthogonal, so the exact posterior
// N(S W^T (x - b) / s^2, S) with S = (I + W^T W / s^2)^-1 is diagonal: our q family holds it.
const W = [
  [1, 0],
  [0, 2],
  [0, 0],
];
const b = [0.1, -0.2, 0.3];
const s = 0.5;

function exactLogPx(x: number[]): number {
  // C = W W^T + s^2 I is diagonal here: diag(1 + s^2, 4 + s^2, s^2)
  const c = [0, 1, 2].map((i) => W[i][0] ** 2 + W[i][1] ** 2 + s * s);
  return c.reduce((acc, ci, i) => acc - 0.5 * (Math.log(2 * Math.PI * ci) + (x[i] - b[i]) ** 2 / ci), 0);
}

function posterior(x: number[]): { mu: number[]; logvar: number[] } {
  const S = [0, 1].map((j) => 1 / (1 + (W[0][j] ** 2 + W[1][j] ** 2 + W[2][j] ** 2) / (s * s)));
  const mu = [0, 1].map((j) => (S[j] * [0, 1, 2].reduce((a, i) => a + W[i][j] * (x[i] - b[i]), 0)) / (s * s));
  return { mu, logvar: S.map(Math.log) };
}

const decoder = (z: tf.Tensor) => tf.add(tf.matMul(z, tf.tensor2d(W), false, true), tf.tensor1d(b));
const X = [
  [0.7, 1.1, 0.2],
  [-0.4, -1.5, 0.9],
  [1.9, 0.3, -0.6],
];

function lk(q: (x: number[]) => { mu: number[]; logvar: number[] }, K: number, seed: number): number[] {
  const mu = tf.tensor2d(X.map((x) => q(x).mu));
  const lv = tf.tensor2d(X.map((x) => q(x).logvar));
  const eps = tf.tensor3d(Rng.derive(seed, 'lg').fillNormal(new Float32Array(K * X.length * 2)), [K, X.length, 2]);
  const out = iwaeBound(importanceWeights(tf.tensor2d(X), mu, lv, eps, decoder, gaussianFixed(s)));
  return [...out.dataSync()];
}

test('linear-Gaussian: with the true posterior as q the estimate equals log p(x) to rounding', () => {
  const exact = X.map(exactLogPx);
  for (const K of [1, 7, 500]) {
    lk(posterior, K, K).forEach((v, i) => assert.ok(Math.abs(v - exact[i]) < 1e-4, `K=${K}: ${v} vs exact ${exact[i]}`));
  }
});

test('linear-Gaussian: with a poor q (the prior) the estimate rises towards log p(x) from below', () => {
  const prior = () => ({ mu: [0, 0], logvar: [0, 0] });
  const exact = mean(X.map(exactLogPx));
  const at = (K: number, reps: number) => {
    const xs = Array.from({ length: reps }, (_, r) => mean(lk(prior, K, 1000 * K + r)));
    return { m: mean(xs), se: stdErr(xs) };
  };
  const l1 = at(1, 400);
  const l10 = at(10, 200);
  const l1000 = at(1000, 20);
  assert.ok(l1.m < exact - 4 * l1.se, `L_1 ${l1.m} should be well below ${exact}`);
  assert.ok(l10.m > l1.m + 4 * Math.hypot(l1.se, l10.se), `L_10 ${l10.m} > L_1 ${l1.m}`);
  assert.ok(l1000.m > l10.m + 4 * Math.hypot(l10.se, l1000.se), `L_1000 ${l1000.m} > L_10 ${l10.m}`);
  assert.ok(l1000.m < exact + 4 * l1000.se, `L_1000 ${l1000.m} is a lower bound on ${exact}`);
  assert.ok(exact - l1000.m < (exact - l10.m) / 3, 'the gap closes as K grows');
});

function tinySet(n: number): ImageSet {
  return { images: binaryData(n, 12, 21), labels: null, n, shape: [3, 4, 1] };
}

test('eval estimator: L_1 equals the ELBO in expectation (within 4 Monte Carlo standard errors)', async () => {
  const vae = tinyVae(12);
  // One example repeated: the spread of per-example L_1 is then pure Monte Carlo noise.
  const one = binaryData(1, 12, 21);
  const n = 4000;
  const images = new Float32Array(n * 12);
  for (let i = 0; i < n; i++) images.set(one, i * 12);
  const set: ImageSet = { images, labels: null, n, shape: [3, 4, 1] };
  const l1 = (await evaluateSplit(vae, set, { seed: 1, binarize: false, samples: 1, batchSize: 1000 })).iw!;
  const elbo = (await evaluateSplit(vae, set, { seed: 2, binarize: false, samples: 0, batchSize: 1000 })).elbo;
  // The ELBO estimate (one-sample recon minus closed-form KL) has no more variance than log w,
  // so sqrt(2) times L_1's standard error bounds the standard error of the difference.
  const se = Math.SQRT2 * l1.nllStdErr;
  assert.ok(se > 0);
  assert.ok(Math.abs(l1.lk - elbo) < 4 * se, `L_1 ${l1.lk} vs ELBO ${elbo} (se ${se})`);
});

test('eval estimator: L_K rises with K, so NLL = -L_K <= -ELBO up to Monte Carlo noise', async () => {
  const vae = tinyVae(13);
  const set = tinySet(300);
  const res: Awaited<ReturnType<typeof evaluateSplit>>[] = [];
  for (const K of [1, 10, 100]) res.push(await evaluateSplit(vae, set, { seed: 3, binarize: false, samples: K }));
  for (let i = 1; i < res.length; i++) {
    const d = Array.from(res[i].iw!.perExample, (v, j) => v - res[i - 1].iw!.perExample[j]);
    assert.ok(mean(d) > -3 * stdErr(d), `L_${res[i].iw!.samples} should not fall below L_${res[i - 1].iw!.samples}`);
  }
  const top = res[2].iw!;
  assert.ok(top.nll <= -res[2].elbo + 3 * top.nllStdErr, `NLL ${top.nll} vs -ELBO ${-res[2].elbo}`);
  assert.ok(top.nll < -res[2].elbo, 'on this model the bound is strictly tighter than the ELBO');
});

test('eval estimator: same seed same numbers, other seeds differ within the standard error; batching does not matter', async () => {
  const vae = tinyVae(14);
  const set = tinySet(200);
  const a = await evaluateSplit(vae, set, { seed: 5, binarize: true, samples: 20, batchSize: 64 });
  const again = await evaluateSplit(vae, set, { seed: 5, binarize: true, samples: 20, batchSize: 200, chunkRows: 50 });
  assert.deepEqual(again.iw!.perExample, a.iw!.perExample);
  assert.equal(again.elbo.toFixed(4), a.elbo.toFixed(4));
  const other = await evaluateSplit(vae, set, { seed: 6, binarize: true, samples: 20, batchSize: 64 });
  assert.notEqual(other.iw!.nll, a.iw!.nll);
  assert.ok(Math.abs(other.iw!.nll - a.iw!.nll) < 4 * Math.hypot(a.iw!.nllStdErr, other.iw!.nllStdErr));
});

test('eval estimator: active units and per-dimension KL', async () => {
  const vae = tinyVae(15);
  // Make latent dimension 1 inactive: zero its row of the mu head, so mu_1(x) is constant.
  const k = vae.params.get('encoder.mu.kernel')!;
  const mask = tf.tensor2d(Array.from({ length: 8 * 3 }, (_, i) => (i % 3 === 1 ? 0 : 1)), [8, 3]);
  k.assign(tf.mul(k, mask));
  const r = await evaluateSplit(vae, tinySet(300), { seed: 1, binarize: false, samples: 0 });
  assert.equal(r.klPerDim.length, 3);
  assert.ok(Math.abs(r.klPerDim.reduce((x, y) => x + y, 0) - r.kl) < 1e-6);
  assert.ok(r.muVariance[1] < 1e-12);
  assert.ok(!r.activeDims.includes(1));
  assert.equal(r.activeUnits, r.activeDims.length);
  assert.ok(r.activeDims.every((j) => r.muVariance[j] > 0.01));
});
