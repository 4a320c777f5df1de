import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { Adam } from '../../src/train/adam.js';
import { makeVaeTask } from '../../src/train/vae-step.js';
import { runLoop, NonFiniteError, type TrainTask } from '../../src/train/loop.js';
import { defaultConfig } from '../../src/config/schema.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { binaryData, tinyVae, useCpu } from '../support/helpers.js';
import { evaluateElbo } from '../../src/eval/elbo.js';
import { encode, LOGVAR_RANGE } from '../../src/model/vae.js';
import { PLAIN_ELBO, trainingObjective } from '../../src/model/objective.js';

before(useCpu);

function tinySet(n = 40): ImageSet {
  return { images: binaryData(n, 12), labels: null, n, shape: [3, 4, 1] };
}

function tinyConfig() {
  const cfg = defaultConfig();
  cfg.train.batchSize = 8;
  cfg.train.learningRate = 0.01;
  return cfg;
}

test('no tensors leak across training steps, whatever the objective options', async () => {
  const variants: Record<string, Partial<ReturnType<typeof tinyConfig>['train']>> = {
    plain: {},
    clipped: { gradClip: 1 },
    iwae: { iwSamples: 3, gradClip: 0.5 },
    'warm-up and free bits': { warmupEpochs: 1, freeBits: 0.1, beta: 2 },
    'skip non-finite': { skipNonFinite: 2 },
  };
  for (const [name, train] of Object.entries(variants)) {
    const cfg = tinyConfig();
    Object.assign(cfg.train, train);
    const vae = tinyVae(5);
    const adam = new Adam({ learningRate: 0.01 });
    const task = makeVaeTask(vae, adam, tinySet(), cfg, Rng.derive(0, 'eps'));
    (await task.step(0, 0)).stats.dispose(); // the first step creates the optimiser's moments
    const after1 = tf.memory().numTensors;
    for (let i = 1; i < 5; i++) (await task.step(0, i)).stats.dispose();
    (await task.step(1, 0)).stats.dispose();
    assert.equal(tf.memory().numTensors, after1, `${name}: tensors after 1 step vs after 6`);
    adam.dispose();
    for (const v of vae.params.values()) v.dispose();
  }
});

test('training lowers the loss on a tiny data set', async () => {
  const vae = tinyVae(6);
  const adam = new Adam({ learningRate: 0.01 });
  const cfg = tinyConfig();
  cfg.data.binarize = 'none';
  const task = makeVaeTask(vae, adam, tinySet(), cfg, Rng.derive(0, 'eps'));
  const losses: number[] = [];
  await runLoop(task, { startEpoch: 0, epochs: 30, startStep: 0, logEvery: 100 }, { onEpochEnd: (r) => void losses.push(r.stats.kl - r.stats.recon) });
  assert.ok(losses[losses.length - 1] < losses[0] - 0.5, `loss went ${losses[0]} -> ${losses[losses.length - 1]}`);
});

test('Adam applies the PyTorch update rule', () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const params = new Map([['w', w]]);
  const adam = new Adam({ learningRate: 0.1 });
  const g1 = [0.5, -1];
  const g2 = [0.2, 0.3];
  adam.apply(params, new Map([['w', tf.tensor1d(g1)]]));
  adam.apply(params, new Map([['w', tf.tensor1d(g2)]]));
  // by hand, for each coordinate
  const expected = [1, -2].map((w0, i) => {
    let m = 0;
    let v = 0;
    let x = w0;
    [g1[i], g2[i]].forEach((g, k) => {
      const t = k + 1;
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      x -= (0.1 / (1 - 0.9 ** t)) * (m / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
    });
    return x;
  });
  const got = w.dataSync();
  expected.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-6, `${got[i]} vs ${e}`));
});

test('Adam state saved and restored continues exactly', async () => {
  const mk = () => new Map([['w', tf.variable(tf.tensor1d([0.3, 0.7, -0.1]))]]);
  const grads = [[0.1, -0.2, 0.3], [0.5, 0.1, -0.4], [-0.3, 0.2, 0.2]].map((g) => new Map([['w', tf.tensor1d(g)]]));
  const a = mk();
  const adamA = new Adam({ learningRate: 0.05 });
  grads.forEach((g) => adamA.apply(a, g));

  const b = mk();
  const adamB = new Adam({ learningRate: 0.05 });
  adamB.apply(b, grads[0]);
  const s = await adamB.state();
  const adamC = new Adam({ learningRate: 0.05 });
  adamC.restore(s.t, new Map(s.arrays.map((x) => [x.name, x])));
  adamC.apply(b, grads[1]);
  adamC.apply(b, grads[2]);
  assert.deepEqual([...b.get('w')!.dataSync()], [...a.get('w')!.dataSync()]);
});

test('same seed gives identical training on cpu', async () => {
  const run = async () => {
    const vae = tinyVae(9);
    const adam = new Adam({ learningRate: 0.01 });
    const task = makeVaeTask(vae, adam, tinySet(), tinyConfig(), Rng.derive(4, 'eps'));
    const out: number[] = [];
    await runLoop(task, { startEpoch: 0, epochs: 3, startStep: 0, logEvery: 2 }, { onEpochEnd: (r) => void out.push(r.stats.recon, r.stats.kl) });
    return out;
  };
  assert.deepEqual(await run(), await run());
});

test('a non-finite loss stops the loop with the step and the term', async () => {
  let calls = 0;
  const task: TrainTask = {
    statNames: ['recon', 'kl'],
    stepsInEpoch: () => 10,
    step: () => ({ stats: tf.tensor1d(++calls === 4 ? [-1, NaN] : [-1, 1]), examples: 1 }),
  };
  await assert.rejects(runLoop(task, { startEpoch: 0, epochs: 1, startStep: 0, logEvery: 5 }), (err: unknown) => {
    assert.ok(err instanceof NonFiniteError);
    assert.equal(err.step, 4);
    assert.equal(err.term, 'kl');
    return true;
  });
});

test('train.skipNonFinite skips poisoned batches; without it training stops', async () => {
  const set = tinySet(40);
  const images = set.images.slice();
  images[5 * 12 + 3] = NaN; // example 5 has a NaN pixel: every batch holding it has a NaN loss
  const poisoned = { ...set, images };
  const cfg = tinyConfig();
  cfg.data.binarize = 'none';
  const run = (skip: number) => {
    cfg.train.skipNonFinite = skip;
    const vae = tinyVae(21);
    const skips: number[] = [];
    const task = makeVaeTask(vae, new Adam({ learningRate: 0.01 }), poisoned, cfg, Rng.derive(0, 'eps'), undefined, (s) => skips.push(s.skipped));
    return { vae, skips, done: runLoop(task, { startEpoch: 0, epochs: 3, startStep: 0, logEvery: 2 }) };
  };
  const stops = run(0);
  await assert.rejects(stops.done, NonFiniteError);
  const skips = run(10);
  await skips.done;
  assert.deepEqual(skips.skips, [1, 2, 3], 'one poisoned batch per epoch');
  for (const v of skips.vae.params.values()) assert.ok(v.dataSync().every(Number.isFinite));
  const few = run(2);
  await assert.rejects(few.done, NonFiniteError, 'a third poisoned batch is one too many');
});

test('tensor count stays flat across epochs, validation included', async () => {
  const vae = tinyVae(22);
  const adam = new Adam({ learningRate: 0.01 });
  const set = tinySet(40);
  const task = makeVaeTask(vae, adam, set, tinyConfig(), Rng.derive(0, 'eps'));
  const counts: number[] = [];
  await runLoop(task, { startEpoch: 0, epochs: 4, startStep: 0, logEvery: 3 }, {
    onEpochEnd: async () => {
      await evaluateElbo(vae, set, { seed: 0, binarize: true });
      counts.push(tf.memory().numTensors);
    },
  });
  assert.equal(new Set(counts).size, 1, `tensor counts per epoch: ${counts.join(', ')}`);
  adam.dispose();
});

test('log sigma^2 is guarded: a wild encoder output cannot make the loss infinite', () => {
  const vae = tinyVae(23);
  vae.params.get('encoder.logvar.bias')!.assign(tf.fill([3], 500));
  const x = tf.tensor2d(binaryData(4, 12), [4, 12]);
  const { logvar } = encode(vae, x);
  assert.ok(logvar.dataSync().every((v) => v === LOGVAR_RANGE[1]));
  const { loss } = trainingObjective(vae, x, tf.randomNormal([4, 3], 0, 1, 'float32', 3), PLAIN_ELBO);
  assert.ok(Number.isFinite(loss.dataSync()[0]));
});
