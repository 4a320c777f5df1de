import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { klStdNormal, logNormalDiag, logStdNormal, reparameterize } from '../../src/model/gaussian.js';
import { bernoulli } from '../../src/model/likelihoods/bernoulli.js';
import { encode, decode } from '../../src/model/vae.js';
import { elboParts, iwaeBound, logImportanceWeights, PLAIN_ELBO, trainingObjective } from '../../src/model/objective.js';
import { binaryData, mean, stdErr, tinyVae, useCpu } from '../support/helpers.js';

before(useCpu);

test('closed-form KL equals a Monte Carlo estimate of E_q[log q(z) - log p(z)]', () => {
  const mu = tf.tensor2d([[0.5, -1.2, 0.1, 2.0]]);
  const logvar = tf.tensor2d([[-0.7, 0.4, -2.0, 0.9]]);
  const closed = klStdNormal(mu, logvar).dataSync()[0];
  const N = 200_000;
  const eps = tf.tensor2d(Rng.derive(3, 'mc').fillNormal(new Float32Array(N * 4)), [N, 4]);
  const z = reparameterize(mu, logvar, eps);
  const terms = tf.sub(logNormalDiag(z, mu, logvar), logStdNormal(z)).dataSync();
  const est = mean(terms);
  const se = stdErr(terms);
  assert.ok(closed > 0);
  assert.ok(Math.abs(est - closed) < 4 * se, `MC ${est} +- ${se} vs closed form ${closed}`);
  tf.dispose([mu, logvar, eps, z]);
});

test('KL is exactly 0 when mu = 0 and log sigma^2 = 0, and positive otherwise', () => {
  const zero = tf.zeros([3, 5]);
  assert.ok([...klStdNormal(zero, zero).dataSync()].every((v) => v === 0 && !Object.is(v, -0)));
  const kl = klStdNormal(tf.fill([1, 5], 0.01), zero).dataSync()[0];
  assert.ok(kl > 0 && Math.abs(kl - 0.5 * 5 * 1e-4) < 1e-7);
});

test('KL matches the formula -1/2 sum(1 + logvar - mu^2 - exp(logvar)) elementwise', () => {
  const mu = [0.3, -0.8];
  const lv = [0.2, -1.5];
  const expected = -0.5 * mu.reduce((s, m, j) => s + 1 + lv[j] - m * m - Math.exp(lv[j]), 0);
  const got = klStdNormal(tf.tensor2d([mu]), tf.tensor2d([lv])).dataSync()[0];
  assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
});

test('Bernoulli log-likelihood from logits matches x log s(l) + (1-x) log(1-s(l))', () => {
  const logits = [-3, -0.5, 0, 0.7, 4];
  const x = [0, 1, 1, 0, 1];
  const sig = (l: number) => 1 / (1 + Math.exp(-l));
  const expected = logits.reduce((s, l, i) => s + (x[i] ? Math.log(sig(l)) : Math.log(1 - sig(l))), 0);
  const got = bernoulli.logProb(tf.tensor2d([x]), tf.tensor2d([logits])).dataSync()[0];
  assert.ok(Math.abs(got - expected) < 1e-5, `${got} vs ${expected}`);
});

test('Bernoulli log-likelihood stays finite and exact for huge logits', () => {
  const got = bernoulli.logProb(tf.tensor2d([[1, 0, 0, 1]]), tf.tensor2d([[1000, -1000, 1000, -1000]])).dataSync()[0];
  // x=1,l=1000 -> 0; x=0,l=-1000 -> 0; x=0,l=1000 -> -1000; x=1,l=-1000 -> -1000
  assert.ok(Number.isFinite(got));
  assert.ok(Math.abs(got - -2000) < 1e-3, String(got));
  // greyscale targets are allowed (cross-entropy), and stay finite too
  assert.ok(Number.isFinite(bernoulli.logProb(tf.tensor2d([[0.5]]), tf.tensor2d([[1e4]])).dataSync()[0]));
});

test('encoder and decoder shapes', () => {
  const vae = tinyVae();
  const x = tf.tensor2d(binaryData(5, 12), [5, 12]);
  const { mu, logvar } = encode(vae, x);
  assert.deepEqual(mu.shape, [5, 3]);
  assert.deepEqual(logvar.shape, [5, 3]);
  assert.deepEqual(decode(vae, mu).shape, [5, 12]);
  const t = elboParts(vae, x, tf.zeros([5, 3]));
  assert.deepEqual(t.recon.shape, [5]);
  assert.deepEqual(t.klDims.shape, [5, 3]);
  assert.deepEqual(logImportanceWeights(vae, x, tf.zeros([4, 5, 3])).shape, [4, 5]);
});

/** Per-example, per-draw estimates of L_1 = log w and of the ELBO (one-sample recon - closed-form KL). */
function draws(K: number, M: number) {
  const vae = tinyVae(2);
  const n = 4;
  const x = tf.tensor2d(binaryData(n, 12, 11), [n, 12]);
  const rng = Rng.derive(5, 'draws');
  const lk: number[] = [];
  const el: number[] = [];
  for (let m = 0; m < M; m++) {
    const eps = tf.tensor3d(rng.fillNormal(new Float32Array(K * n * 3)), [K, n, 3]);
    const logW = logImportanceWeights(vae, x, eps);
    lk.push(mean(iwaeBound(logW).dataSync()));
    const e1 = tf.tensor2d(rng.fillNormal(new Float32Array(n * 3)), [n, 3]);
    const t = elboParts(vae, x, e1);
    const elbo = tf.sub(t.recon, tf.sum(t.klDims, 1));
    el.push(mean(elbo.dataSync()));
    tf.dispose([eps, logW, e1, elbo, t.mu, t.logvar, t.recon, t.klDims]);
  }
  return { lk, el };
}

test('L_1 equals the ELBO in expectation (within Monte Carlo standard error)', () => {
  const { lk, el } = draws(1, 3000);
  const diff = mean(lk) - mean(el);
  const se = Math.sqrt(stdErr(lk) ** 2 + stdErr(el) ** 2);
  assert.ok(Math.abs(diff) < 4 * se, `L_1 ${mean(lk)} vs ELBO ${mean(el)}, se ${se}`);
});

test('L_k >= ELBO on average, and rises with k', () => {
  const one = draws(1, 1500);
  const five = draws(5, 1500);
  const fifty = draws(50, 300);
  const se15 = Math.sqrt(stdErr(one.lk) ** 2 + stdErr(five.lk) ** 2);
  assert.ok(mean(five.lk) > mean(one.el) + 2 * se15, `L_5 ${mean(five.lk)} vs ELBO ${mean(one.el)} (se ${se15})`);
  const se550 = Math.sqrt(stdErr(five.lk) ** 2 + stdErr(fifty.lk) ** 2);
  assert.ok(mean(fifty.lk) > mean(five.lk) - 2 * se550, `L_50 ${mean(fifty.lk)} vs L_5 ${mean(five.lk)}`);
});

test('gradients of the loss are finite for every parameter', () => {
  const vae = tinyVae(3);
  const x = tf.tensor2d(binaryData(6, 12), [6, 12]);
  const eps = tf.randomNormal([6, 3], 0, 1, 'float32', 1);
  const { value, grads } = tf.variableGrads(() => trainingObjective(vae, x, eps, PLAIN_ELBO).loss, [...vae.params.values()]);
  assert.ok(Number.isFinite(value.dataSync()[0]));
  assert.equal(Object.keys(grads).length, vae.params.size);
  for (const [name, g] of Object.entries(grads)) {
    assert.ok(g.dataSync().every(Number.isFinite), `gradient of ${name} is not finite`);
    assert.ok(g.dataSync().some((v) => v !== 0), `gradient of ${name} is all zeros`);
  }
});

test('the loss is -ELBO summed over pixels and latents, averaged over the batch', () => {
  const vae = tinyVae(4);
  const x = tf.tensor2d(binaryData(6, 12), [6, 12]);
  const eps = tf.randomNormal([6, 3], 0, 1, 'float32', 2);
  const { loss, stats } = trainingObjective(vae, x, eps, PLAIN_ELBO);
  const t = elboParts(vae, x, eps);
  const kl = tf.sum(t.klDims, 1);
  const perExample = tf.sub(kl, t.recon).dataSync();
  assert.ok(Math.abs(loss.dataSync()[0] - mean(perExample)) < 1e-4);
  const [r, k] = stats.dataSync();
  assert.ok(Math.abs(r - mean(t.recon.dataSync())) < 1e-4 && Math.abs(k - mean(kl.dataSync())) < 1e-5);
});
