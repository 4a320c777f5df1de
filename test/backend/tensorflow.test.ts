/**
 * The tensorflow backend (TensorFlow's C library through @tensorflow/tfjs-node), as `vae setup
 * tensorflow` installs it; these tests skip, saying why, where it is not set up. A subset of the
 * maths and training checks that run on cpu and wasm: the same training steps as cpu from the same
 * weights, batches and noise, gradients against finite differences, no leaked tensors, and a short
 * real training run reaching wasm's ELBO. Also: it registers on the tfjs-core instance vae uses.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { tf } from '../../src/tf.js';
import { selectBackend } from '../../src/backend/index.js';
import { readManifest, tensorflowLayout, vaeRoot } from '../../src/backend/tensorflow-home.js';
import { Rng } from '../../src/random.js';
import { defaultConfig } from '../../src/config/schema.js';
import { runTaskSteps, type TaskRun } from '../support/task-steps.js';
import { createVae, type VaeSpec } from '../../src/model/vae.js';
import { PLAIN_ELBO, trainingObjective } from '../../src/model/objective.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { binaryData } from '../support/helpers.js';
import { runVae, runMetrics } from '../support/bin.js';

const layout = tensorflowLayout();
const skip = readManifest(layout) ? false : `the tensorflow backend is not set up here (vae setup tensorflow; looked in ${layout.install})`;

before(async () => {
  if (!skip) await selectBackend('tensorflow');
});

test('tfjs-node registers on the @tensorflow/tfjs-core instance vae uses, not on a second copy', { skip }, () => {
  assert.equal(tf.getBackend(), 'tensorflow');
  const theirs = createRequire(path.join(layout.install, 'package.json'));
  const ours = createRequire(path.join(vaeRoot(), 'package.json'));
  for (const pkg of ['@tensorflow/tfjs-core', '@tensorflow/tfjs']) {
    assert.equal(fs.realpathSync(theirs.resolve(pkg)), fs.realpathSync(ours.resolve(pkg)), `${pkg} resolves to one file from both`);
  }
  // the backend object is on our engine, and it is tfjs-node's (it carries the TensorFlow binding)
  const backend = tf.findBackend('tensorflow') as unknown as { binding?: { TF_Version?: string } };
  assert.ok(backend?.binding?.TF_Version?.startsWith('2.21'), String(backend?.binding?.TF_Version));
});

const shape: [number, number, number] = [8, 8, 1];
const set: ImageSet = { images: binaryData(48, 64, 3), labels: null, n: 48, shape };

async function steps(backend: string, overrides: { model?: object; train?: object }): Promise<TaskRun> {
  await tf.setBackend(backend);
  const base = defaultConfig();
  const cfg = { ...base, model: { ...base.model, hidden: [16], latentDim: 4, ...overrides.model }, train: { ...base.train, batchSize: 16, ...overrides.train } } as typeof base;
  return runTaskSteps(cfg, set);
}

function maxRelDiff(a: number[], b: number[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
  return m;
}

const cases: [string, { model?: object; train?: object }][] = [
  ['mlp, bernoulli', {}],
  ['conv with batch norm', { model: { arch: 'conv', convChannels: [4, 8], batchNorm: true } }],
  ['IWAE k=8 with gradient clipping, logistic', { model: { likelihood: 'logistic' }, train: { iwSamples: 8, gradClip: 1 } }],
  ['gaussian with learned per-pixel sigma, free bits, beta', { model: { likelihood: 'gaussian', sigma: 'learned-per-pixel' }, train: { freeBits: 0.5, beta: 2 } }],
];

for (const [name, overrides] of cases) {
  test(`tensorflow trains like cpu (losses, statistics and weights after 4 Adam steps): ${name}`, { skip }, async () => {
    const cpu = await steps('cpu', overrides);
    const got = await steps('tensorflow', overrides);
    for (let s = 0; s < cpu.stats.length; s++) {
      assert.ok(got.stats[s].every(Number.isFinite), `step ${s}: ${got.stats[s]}`);
      const d = maxRelDiff(cpu.stats[s], got.stats[s]);
      assert.ok(d < 1e-4, `step ${s} statistics differ by ${d}: cpu ${cpu.stats[s]} tensorflow ${got.stats[s]}`);
    }
    for (const [p, values] of Object.entries(cpu.params)) {
      const d = maxRelDiff(values, got.params[p]);
      assert.ok(d < 1e-4, `${p} differs by ${d} after 4 steps`);
    }
    assert.equal(got.leaked, 0, 'no tensors left behind across tensorflow steps');
  });
}

test('tensorflow: gradients of the loss equal central finite differences', { skip }, async () => {
  await tf.setBackend('tensorflow');
  // tanh: smooth, so finite differences are exact to O(h^2)
  const spec: VaeSpec = { arch: 'mlp', inputDim: 10, hidden: [6], latentDim: 2, activation: 'tanh', likelihood: 'bernoulli' };
  const vae = createVae(spec, Rng.derive(4, 'init'));
  const x = tf.tensor2d(binaryData(5, 10, 9), [5, 10]);
  const eps = tf.tensor2d(Rng.derive(4, 'eps').fillNormal(new Float32Array(10)), [5, 2]);
  const loss = async () => {
    const l = trainingObjective(vae, x, eps, PLAIN_ELBO);
    const v = (await l.loss.data())[0];
    tf.dispose([l.loss, l.stats]);
    return v;
  };
  const { value, grads } = tf.variableGrads(() => trainingObjective(vae, x, eps, PLAIN_ELBO).loss);
  value.dispose();
  const h = 1e-2;
  const rng = Rng.derive(4, 'pick');
  let checked = 0;
  for (const [name, v] of vae.params) {
    const g = (await grads[v.name].data()) as Float32Array;
    const w = (await v.data()) as Float32Array;
    for (let k = 0; k < 3; k++) {
      const i = Math.floor(rng.uniform() * w.length);
      const at = async (delta: number) => {
        const moved = w.slice();
        moved[i] += delta;
        v.assign(tf.tensor(moved, v.shape));
        return loss();
      };
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      v.assign(tf.tensor(w, v.shape));
      assert.ok(Math.abs(fd - g[i]) < 2e-3 + 1e-2 * Math.abs(fd), `${name}[${i}]: autodiff ${g[i]}, finite difference ${fd}`);
      checked++;
    }
  }
  assert.equal(checked, 30);
  tf.dispose([x, eps, ...Object.values(grads), ...vae.params.values()]);
});

test('vae train --backend tensorflow reaches the ELBO wasm reaches (within 1 nat), and eval agrees', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-tensorflow-'));
  const common = ['--config', 'mnist.json', '--set', 'data.limit=2000', '--set', 'data.validation=500', '--set', 'model.hidden=[64]', '--set', 'train.epochs=2', '--quiet'];
  const t = runVae(['train', ...common, '--backend', 'tensorflow', '--out', path.join(dir, 'tf')], { cwd: dir });
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stderr, '', 'nothing on stderr with --quiet (no TensorFlow start-up notices)');
  const w = runVae(['train', ...common, '--backend', 'wasm', '--out', path.join(dir, 'wasm')], { cwd: dir });
  assert.equal(w.code, 0, w.stderr);
  const [a, b] = [runMetrics(path.join(dir, 'tf')), runMetrics(path.join(dir, 'wasm'))];
  assert.equal(a.length, 2);
  const last = a.length - 1;
  assert.ok(Math.abs(a[last].val.elbo - b[last].val.elbo) < 1, `validation ELBO: tensorflow ${a[last].val.elbo}, wasm ${b[last].val.elbo}`);
  const ev = (backend: string, run: string) => {
    const r = runVae(['eval', '--run', path.join(dir, run), '--samples', '0', '--json', '--backend', backend, '--quiet'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.toString().trim().split('\n')[0]) as { elbo: number };
  };
  // the same weights evaluated on both backends: equal to float32 rounding
  const [onTf, onWasm] = [ev('tensorflow', 'tf'), ev('wasm', 'tf')];
  assert.ok(Math.abs(onTf.elbo - onWasm.elbo) < 1e-3 * Math.abs(onWasm.elbo), `eval ELBO of one run: tensorflow ${onTf.elbo}, wasm ${onWasm.elbo}`);
  fs.rmSync(dir, { recursive: true, force: true });
});
