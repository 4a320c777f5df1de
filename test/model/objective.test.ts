/**
 * The training objectives (beta, warm-up, free bits, IWAE), the likelihoods, the learning-rate
 * schedules and gradient clipping, on tiny models (cpu backend).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { klPerDim } from '../../src/model/gaussian.js';
import { bernoulli } from '../../src/model/likelihoods/bernoulli.js';
import { gaussianFixed } from '../../src/model/likelihoods/gaussian.js';
import { logistic } from '../../src/model/likelihoods/logistic.js';
import { makeLikelihood } from '../../src/model/likelihoods/registry.js';
import { createVae, encode, type VaeSpec } from '../../src/model/vae.js';
import { elboParts, klWeightAt, PLAIN_ELBO, trainingObjective } from '../../src/model/objective.js';
import { burdaStage, learningRateAt } from '../../src/train/schedule.js';
import { defaultConfig, type TrainConfig } from '../../src/config/schema.js';
import { binaryData, mean, stdErr, tinyVae, useCpu } from '../support/helpers.js';

before(useCpu);

const B = 16;
const D = 12;
const J = 3;

function batch(seed = 7) {
  const x = tf.tensor2d(binaryData(B, D, seed), [B, D]);
  return x;
}

function normals(shape: number[], seed: number) {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Rng.derive(seed, 'eps').fillNormal(new Float32Array(n)), shape);
}

function run(vae: ReturnType<typeof tinyVae>, x: tf.Tensor, eps: tf.Tensor, opts = PLAIN_ELBO) {
  const r = trainingObjective(vae, x, eps, opts);
  const [recon, kl, klWeighted, bound] = r.stats.dataSync();
  const loss = r.loss.dataSync()[0];
  tf.dispose([r.loss, r.stats]);
  return { recon, kl, klWeighted, bound, loss };
}

test('with beta = 1 and no extras, the training objective is exactly the ELBO loss', () => {
  const vae = tinyVae(3);
  const x = batch();
  const eps = normals([B, J], 1);
  const a = run(vae, x, eps);
  // -ELBO from the per-example terms: mean KL - mean recon
  const p = elboParts(vae, x, eps);
  const ref = tf.sub(tf.mean(tf.sum(p.klDims, 1)), tf.mean(p.recon));
  assert.equal(a.loss, ref.dataSync()[0]);
  assert.equal(a.klWeighted, a.kl);
  assert.ok(Math.abs(a.bound - (a.recon - a.kl)) < 1e-5);
  tf.dispose([x, eps, ref, p.mu, p.logvar, p.recon, p.klDims]);
});

test('beta scales the KL term in the loss, not the raw KL reported beside it', () => {
  const vae = tinyVae(3);
  const x = batch();
  const eps = normals([B, J], 1);
  const one = run(vae, x, eps);
  const four = run(vae, x, eps, { ...PLAIN_ELBO, klWeight: 4 });
  assert.equal(four.kl, one.kl);
  assert.ok(Math.abs(four.klWeighted - 4 * one.kl) < 1e-5);
  assert.ok(Math.abs(four.loss - (4 * one.kl - one.recon)) < 1e-4);
});

test('KL warm-up: the weight rises linearly from 0 to beta over the warm-up steps, then stays', () => {
  assert.equal(klWeightAt(0, 4, 100), 0);
  assert.equal(klWeightAt(25, 4, 100), 1);
  assert.equal(klWeightAt(50, 4, 100), 2);
  assert.equal(klWeightAt(100, 4, 100), 4);
  assert.equal(klWeightAt(1000, 4, 100), 4);
  assert.equal(klWeightAt(0, 0.5, 0), 0.5, 'no warm-up: beta from the first step');
  // and the loss at step 0 of a warm-up has no KL term at all
  const vae = tinyVae(3);
  const x = batch();
  const eps = normals([B, J], 1);
  const r = run(vae, x, eps, { ...PLAIN_ELBO, klWeight: klWeightAt(0, 1, 10) });
  assert.equal(r.klWeighted, 0);
  assert.ok(r.kl > 0);
  assert.ok(Math.abs(r.loss + r.recon) < 1e-5);
});

test('free bits: each dimension counts max(lambda, its batch-mean KL); dimensions above the floor are unchanged', () => {
  const vae = tinyVae(3);
  const x = batch();
  const eps = normals([B, J], 1);
  const { mu, logvar } = encode(vae, x);
  const perDim = Array.from(tf.mean(klPerDim(mu, logvar), 0).dataSync());
  for (const lambda of [0.01, 0.5, 5]) {
    const r = run(vae, x, eps, { ...PLAIN_ELBO, freeBits: lambda });
    const expected = perDim.reduce((s, k) => s + Math.max(lambda, k), 0);
    assert.ok(Math.abs(r.klWeighted - expected) < 1e-5, `lambda ${lambda}: ${r.klWeighted} vs ${expected}`);
    assert.ok(Math.abs(r.kl - perDim.reduce((s, k) => s + k, 0)) < 1e-5, 'the raw KL is still reported');
  }
  // A floor above every dimension's KL makes the KL term constant: only the reconstruction's gradient is left.
  const vars = [vae.params.get('encoder.logvar.bias')!];
  const grad = (f: () => tf.Scalar) => {
    const { value, grads } = tf.variableGrads(f, vars);
    const g = Array.from(Object.values(grads)[0].dataSync());
    tf.dispose([value, ...Object.values(grads)]);
    return g;
  };
  const floored = grad(() => {
    const o = trainingObjective(vae, x, eps, { ...PLAIN_ELBO, freeBits: 100 });
    o.stats.dispose();
    return o.loss;
  });
  const reconOnly = grad(() => tf.neg(tf.mean(elboParts(vae, x, eps).recon)) as tf.Scalar);
  floored.forEach((v, i) => assert.ok(Math.abs(v - reconOnly[i]) < 1e-5, `${v} vs ${reconOnly[i]}`));
  tf.dispose([mu, logvar, x, eps]);
});

test('IWAE with k = 1 is the VAE loss with a one-sample KL, and equals the VAE loss in expectation', () => {
  const vae = tinyVae(5);
  const x = batch(9);
  // Exactly: with k = 1, L_1 = mean(log p(x|z) + log p(z) - log q(z|x)) for the same z.
  const eps1 = normals([1, B, J], 2);
  const iw = trainingObjective(vae, x, eps1, { ...PLAIN_ELBO, iwSamples: 1 });
  const vaeSame = trainingObjective(vae, x, tf.reshape(eps1, [B, J]), PLAIN_ELBO);
  assert.equal(iw.loss.dataSync()[0], vaeSame.loss.dataSync()[0], 'k=1 takes the VAE path');
  // The IWAE code path itself at k = 1 (one-sample KL) against the closed-form VAE loss, over many draws.
  const draws = 400;
  const diffs: number[] = [];
  for (let s = 0; s < draws; s++) {
    const e = normals([B, J], 100 + s);
    const mc = tf.tidy(() => {
      const { mu, logvar } = encode(vae, x);
      const z = tf.add(mu, tf.mul(tf.exp(tf.mul(0.5, logvar)), e));
      const lq = tf.sum(tf.mul(-0.5, tf.add(tf.add(tf.square(e), logvar), Math.log(2 * Math.PI))), 1);
      const lp = tf.sum(tf.mul(-0.5, tf.add(tf.square(z), Math.log(2 * Math.PI))), 1);
      return tf.mean(tf.sub(lq, lp)); // one-sample KL estimate
    });
    const r = trainingObjective(vae, x, e, PLAIN_ELBO);
    const [recon, kl] = r.stats.dataSync();
    diffs.push(mc.dataSync()[0] - kl);
    // iwSamples = 2 with both samples equal to e gives logsumexp of two equal weights - log 2 = the k=1 value
    const twice = trainingObjective(vae, x, tf.stack([e, e]), { ...PLAIN_ELBO, iwSamples: 2 });
    const oneSampleLoss = -(recon - mc.dataSync()[0]);
    assert.ok(Math.abs(twice.loss.dataSync()[0] - oneSampleLoss) < 1e-3, `IWAE path with two equal samples ${twice.loss.dataSync()[0]} vs one-sample ELBO ${oneSampleLoss}`);
    tf.dispose([e, mc, r.loss, r.stats, twice.loss, twice.stats]);
  }
  assert.ok(Math.abs(mean(diffs)) < 4 * stdErr(diffs), `one-sample KL - closed-form KL: ${mean(diffs)} +- ${stdErr(diffs)}`);
  tf.dispose([x, eps1, iw.loss, iw.stats, vaeSame.loss, vaeSame.stats]);
});

test('the IWAE training bound rises with k and stays above the ELBO on average', () => {
  const vae = tinyVae(5);
  const x = batch(9);
  const bound = (k: number, seed: number) => {
    const e = normals([k, B, J], seed);
    const r = trainingObjective(vae, x, e, { ...PLAIN_ELBO, iwSamples: k });
    const v = r.stats.dataSync()[3];
    tf.dispose([e, r.loss, r.stats]);
    return v;
  };
  const avg = (k: number) => mean(Array.from({ length: 30 }, (_, s) => bound(k, 500 + s)));
  const l1 = avg(1);
  const l5 = avg(5);
  const l50 = avg(50);
  assert.ok(l1 < l5 && l5 < l50, `L_1 ${l1} < L_5 ${l5} < L_50 ${l50}`);
  x.dispose();
});

test('discretised logistic: the 256 intensity levels have probabilities summing to 1', () => {
  for (const [loc, logScale] of [
    [0.5, Math.log(0.1)],
    [0.02, Math.log(0.01)],
    [0.97, Math.log(0.3)],
    [0.3, -7],
    [2, 0],
  ]) {
    const levels = Array.from({ length: 256 }, (_, k) => k / 255);
    const x = tf.tensor2d(levels, [256, 1]);
    const out = tf.tensor2d(levels.map(() => [loc, logScale]));
    const lp = Array.from(logistic.logProb(x, out).dataSync());
    const total = lp.reduce((s, v) => s + Math.exp(v), 0);
    assert.ok(Math.abs(total - 1) < 2e-3, `loc ${loc}, log s ${logScale}: sum ${total}`);
    assert.ok([...lp].every((v) => Number.isFinite(v) && v <= 1e-6));
    tf.dispose([x, out]);
  }
});

test('discretised logistic: log p(x|z) matches a float64 evaluation, far tails included (no float32 cancellation)', () => {
  const h = 0.5 / 255;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const sp = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
  let worst = 0;
  let inner = 0;
  for (const [loc, logScale] of [
    [0.5, Math.log(0.03)],
    [0.1, Math.log(0.05)],
    [0.9, Math.log(0.02)],
    [0.4, Math.log(0.3)],
  ]) {
    const levels = Array.from({ length: 256 }, (_, k) => Math.fround(k / 255));
    const x = tf.tensor2d(levels, [256, 1]);
    const out = tf.tensor2d(levels.map(() => [loc, logScale]));
    const lp = logistic.logProb(x, out).dataSync();
    const [l, ls] = [Math.fround(loc), Math.fround(logScale)];
    const s = Math.exp(ls);
    levels.forEach((v, k) => {
      const [a, b] = [(v - l + h) / s, (v - l - h) / s];
      const cdf = sig(a) - sig(b);
      // the float64 value by the module's own rule (end bins; density times the bin width below 1e-5)
      let ref: number;
      if (k === 0) ref = a - sp(a);
      else if (k === 255) ref = -sp(b);
      else if (Math.abs(cdf / 1e-5 - 1) < 0.01) return; // too close to the switch to say which side
      else if (cdf > 1e-5) ref = Math.log(cdf);
      else ref = (v - l) / s - ls - 2 * sp((v - l) / s) - Math.log(255);
      if (k > 0 && k < 255 && cdf > 1e-5 && cdf < 1e-3) inner++;
      worst = Math.max(worst, Math.abs(lp[k] - ref));
    });
    tf.dispose([x, out]);
  }
  assert.ok(inner > 20, `${inner} inner bins with little mass checked`);
  assert.ok(worst < 2e-5, `largest error ${worst} nats`);
});

test('Gaussian likelihoods match the density formula; the learned sigma is a parameter of the model', () => {
  const x = tf.tensor2d([[0.2, 0.9, 0.5]]);
  const m = tf.tensor2d([[0.1, 0.7, 0.5]]);
  const sigma = 0.3;
  const expected = [0.2, 0.9, 0.5].reduce((s, xv, i) => s - 0.5 * (Math.log(2 * Math.PI) + 2 * Math.log(sigma) + (xv - [0.1, 0.7, 0.5][i]) ** 2 / sigma ** 2), 0);
  assert.ok(Math.abs(gaussianFixed(sigma).logProb(x, m).dataSync()[0] - expected) < 1e-4);
  const params = new Map([['likelihood.logSigma', tf.variable(tf.tensor1d([Math.log(sigma)]))]]);
  const learned = makeLikelihood({ likelihood: 'gaussian', sigma: 'learned' }, params);
  assert.ok(Math.abs(learned.logProb(x, m).dataSync()[0] - expected) < 1e-4);
  const perPixel = createVae({ ...SPEC('mlp', 'gaussian'), sigma: 'learned-per-pixel' }, Rng.derive(1, 'init'));
  assert.deepEqual(perPixel.params.get('likelihood.logSigma')!.shape, [D]);
  assert.equal(createVae({ ...SPEC('mlp', 'gaussian'), sigma: 0.1 }, Rng.derive(1, 'init')).params.has('likelihood.logSigma'), false);
  tf.dispose([x, m]);
});

test('the Bernoulli output bias starts at the data mean log-odds', () => {
  const pm = Float32Array.from({ length: D }, (_, d) => (d === 0 ? 0 : d / (D + 1)));
  const vae = createVae(SPEC('mlp', 'bernoulli'), Rng.derive(1, 'init'), { pixelMean: pm });
  const bias = vae.params.get('decoder.out.bias')!.dataSync();
  assert.ok(Math.abs(bias[0] - Math.log(1e-3 / (1 - 1e-3))) < 1e-4, 'a pixel that is never on starts at logit(1e-3)');
  for (let d = 1; d < D; d++) assert.ok(Math.abs(bias[d] - Math.log(pm[d] / (1 - pm[d]))) < 1e-4);
  assert.deepEqual(Array.from(bernoulli.outputBias(Float32Array.of(0.5))), [0]);
});

function SPEC(arch: 'mlp' | 'conv', likelihood: string, batchNorm = false): VaeSpec {
  return arch === 'mlp'
    ? { arch, inputDim: D, inputShape: [3, 4, 1], hidden: [8], latentDim: J, activation: 'relu', likelihood }
    : { arch, inputDim: 8 * 8 * 2, inputShape: [8, 8, 2], hidden: [6], latentDim: J, activation: 'elu', likelihood, convChannels: [4, 6], kernelSize: 3, batchNorm };
}

const LIKELIHOODS = ['bernoulli', 'gaussian', 'logistic'] as const;

for (const arch of ['mlp', 'conv'] as const) {
  for (const likelihood of LIKELIHOODS) {
    for (const bn of arch === 'conv' ? [false, true] : [false]) {
      test(`${arch}${bn ? ' + batch norm' : ''} x ${likelihood}: builds, trains 2 steps, lowers the loss on a tiny batch, no leaks`, async () => {
        const { Adam } = await import('../../src/train/adam.js');
        const { updateRunningStats, trainableParams } = await import('../../src/model/vae.js');
        const spec = SPEC(arch, likelihood, bn);
        const Dn = spec.inputDim;
        const n = 8;
        // 8-bit levels for the logistic, binary for the Bernoulli, grey for the Gaussian
        const rng = Rng.derive(4, 'data');
        const pixels = Float32Array.from({ length: n * Dn }, () => (likelihood === 'bernoulli' ? (rng.uniform() < 0.4 ? 1 : 0) : Math.round(rng.uniform() * 255) / 255));
        const vae = createVae(spec, Rng.derive(2, 'init'), { pixelMean: Float32Array.from({ length: Dn }, () => 0.4) });
        const x = tf.tensor2d(pixels, [n, Dn]);
        const eps = normals([n, J], 3);
        const adam = new Adam({ learningRate: 3e-3 });
        const trainable = trainableParams(vae);
        const vars = [...trainable.values()];
        const names = new Map([...trainable].map(([k, v]) => [v.name, k]));
        const lossNow = () => {
          const r = trainingObjective(vae, x, eps, PLAIN_ELBO);
          const v = r.loss.dataSync()[0];
          tf.dispose([r.loss, r.stats]);
          return v;
        };
        const before = lossNow();
        let afterOne = 0;
        for (let s = 0; s < 2; s++) {
          const ctx = { training: true, moments: [] as never[] };
          const { value, grads } = tf.variableGrads(() => {
            const r = trainingObjective(vae, x, eps, PLAIN_ELBO, ctx);
            r.stats.dispose();
            return r.loss;
          }, vars);
          for (const g of Object.values(grads)) assert.ok([...g.dataSync()].every(Number.isFinite), 'finite gradients');
          adam.apply(trainable, new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g])));
          updateRunningStats(vae, ctx);
          tf.dispose([value, ...Object.values(grads)]);
          if (s === 0) afterOne = tf.memory().numTensors;
        }
        // the first step creates the optimiser's moments (and its cached constants); after that
        // nothing accumulates
        const afterTwo = tf.memory().numTensors;
        assert.equal(afterTwo, afterOne, `tensors after one step ${afterOne}, after two ${afterTwo}`);
        const after = lossNow();
        assert.ok(Number.isFinite(before) && after < before, `loss ${before} -> ${after}`);
        if (bn) {
          const rm = vae.params.get('encoder.conv0.bn.runningMean')!;
          assert.equal(rm.trainable, false);
          assert.ok([...rm.dataSync()].some((v) => v !== 0), 'running means moved');
        }
        adam.dispose();
        tf.dispose([x, eps]);
      });
    }
  }
}

test('learning-rate schedules follow their formulas', () => {
  const base = defaultConfig().train;
  const t = (over: Partial<TrainConfig>) => ({ ...base, learningRate: 1e-3, epochs: 10, ...over }) as TrainConfig;
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  close(learningRateAt(t({ lrSchedule: 'constant' }), 7, 3, 10), 1e-3);
  close(learningRateAt(t({ lrSchedule: 'step', lrDecay: 0.5, lrStepEpochs: 3 }), 2, 9, 10), 1e-3);
  close(learningRateAt(t({ lrSchedule: 'step', lrDecay: 0.5, lrStepEpochs: 3 }), 3, 0, 10), 5e-4);
  close(learningRateAt(t({ lrSchedule: 'step', lrDecay: 0.5, lrStepEpochs: 3 }), 7, 0, 10), 2.5e-4);
  close(learningRateAt(t({ lrSchedule: 'exponential', lrDecay: 0.1, lrStepEpochs: 2 }), 1, 0, 10), 1e-3 * 0.1 ** 0.5);
  close(learningRateAt(t({ lrSchedule: 'exponential', lrDecay: 0.1, lrStepEpochs: 2 }), 1, 5, 10), 1e-3 * 0.1 ** 0.75);
  close(learningRateAt(t({ lrSchedule: 'cosine', lrMin: 1e-5 }), 0, 0, 10), 1e-3);
  close(learningRateAt(t({ lrSchedule: 'cosine', lrMin: 1e-5 }), 5, 0, 10), (1e-3 + 1e-5) / 2);
  close(learningRateAt(t({ lrSchedule: 'cosine', lrMin: 1e-5 }), 10, 0, 10), 1e-5);
  // Burda et al.: stages of 1, 3, 9, ... epochs at 10^(-i/7)
  assert.deepEqual([0, 1, 3, 4, 12, 13, 39, 40, 3279, 5000].map(burdaStage), [0, 1, 1, 2, 2, 3, 3, 4, 7, 7]);
  close(learningRateAt(t({ lrSchedule: 'burda' }), 4, 0, 10), 1e-3 * 10 ** (-2 / 7));
});

test('gradient clipping by global norm: rescales above the threshold, leaves gradients below it alone', async () => {
  const { clipByGlobalNorm } = await import('../../src/train/clip.js');
  const g = [tf.tensor1d([3, 0]), tf.tensor2d([[0, 4]])]; // global norm 5
  const big = clipByGlobalNorm(g, 10);
  assert.equal(big.norm.dataSync()[0], 5);
  assert.deepEqual(big.clipped.map((t) => Array.from(t.dataSync())), [[3, 0], [0, 4]]);
  const small = clipByGlobalNorm(g, 1);
  assert.equal(small.norm.dataSync()[0], 5, 'the norm before clipping');
  const c = small.clipped.map((t) => Array.from(t.dataSync()));
  assert.ok(Math.abs(c[0][0] - 0.6) < 1e-6 && Math.abs(c[1][1] - 0.8) < 1e-6, JSON.stringify(c));
  tf.dispose([...g, big.norm, small.norm, ...big.clipped, ...small.clipped]);
});

test('a training step reports the gradient norm as a statistic when train.gradClip is set', async () => {
  const { makeVaeTask } = await import('../../src/train/vae-step.js');
  const { Adam } = await import('../../src/train/adam.js');
  const cfg = defaultConfig();
  const set = { images: binaryData(32, D), labels: null, n: 32, shape: [3, 4, 1] as [number, number, number] };
  const step = async (clip: number | null) => {
    const c = { ...cfg, train: { ...cfg.train, batchSize: 32, gradClip: clip } };
    const adam = new Adam({ learningRate: 1e-3 });
    const task = makeVaeTask(tinyVae(1), adam, set, c, Rng.derive(0, 'eps'));
    const r = await task.step(0, 0);
    const v = Array.from(r.stats.dataSync());
    r.stats.dispose();
    adam.dispose();
    return { names: task.statNames, v };
  };
  const off = await step(null);
  const on = await step(1e-3);
  assert.deepEqual(off.names, ['recon', 'kl', 'klWeighted', 'bound']);
  assert.deepEqual(on.names, ['recon', 'kl', 'klWeighted', 'bound', 'gradNorm']);
  assert.deepEqual(on.v.slice(0, 4), off.v, 'same statistics before the update');
  assert.ok(on.v[4] > 1e-3, `the unclipped norm is reported: ${on.v[4]}`);
});
