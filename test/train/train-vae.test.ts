/**
 * The trainer's options through the real binary (cpu backend, tiny data): exact resume of a conv
 * model with batch norm, schedules, warm-up and clipping; early stopping; resume refusals; and a
 * short run of every shipped config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runMetrics, runVae } from '../support/bin.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-trainer-'));
const vae = (args: string[]) => runVae(args, { cwd: work });

const TINY_DATA = ['--backend', 'cpu', '--quiet', '--set', 'data.limit=192', '--set', 'data.validation=64'];
const CONV = [
  ...TINY_DATA,
  '--set', 'model.arch=conv',
  '--set', 'model.convChannels=[4,8]',
  '--set', 'model.hidden=[16]',
  '--set', 'model.latentDim=4',
  '--set', 'model.batchNorm=true',
  '--set', 'train.batchSize=32',
  '--set', 'train.lrSchedule=step',
  '--set', 'train.lrDecay=0.5',
  '--set', 'train.lrStepEpochs=1',
  '--set', 'train.warmupEpochs=1.5',
  '--set', 'train.beta=2',
  '--set', 'train.gradClip=5',
];

const metrics = (dir: string) => runMetrics(path.join(work, dir));
const manifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(work, dir, 'checkpoint.json'), 'utf8'));

test('conv + batch norm + step schedule + warm-up + beta + clipping: resuming continues exactly on cpu', () => {
  const ref = vae(['train', ...CONV, '--set', 'train.epochs=3', '--out', 'conv-ref']);
  assert.equal(ref.code, 0, ref.stderr);
  const m = metrics('conv-ref');
  assert.equal(m.length, 3);
  assert.deepEqual(
    m.map((e) => e.lr),
    [0.001, 0.0005, 0.00025],
    'the step schedule halves the rate each epoch',
  );
  assert.ok(m[0].klWeight < 2 && m[2].klWeight === 2, 'warm-up reaches beta');
  assert.ok(m.every((e) => e.train.gradNorm > 0 && Math.abs(e.train.klWeighted - e.train.kl) > 1e-6));

  assert.equal(vae(['train', ...CONV, '--set', 'train.epochs=1', '--out', 'conv-resumed']).code, 0);
  const r = vae(['train', '--resume', 'conv-resumed', '--set', 'train.epochs=3', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(metrics('conv-resumed'), m);
  assert.equal(manifest('conv-resumed').sha256, manifest('conv-ref').sha256, 'same weights, optimiser state and running statistics');
});

test('early stopping: stops after train.patience epochs without a better validation ELBO, and says so', () => {
  // minDelta so large that no epoch after the first counts as better
  const r = runVae(['train', ...TINY_DATA.filter((a) => a !== '--quiet'), '--set', 'model.hidden=[16]', '--set', 'train.epochs=10', '--set', 'train.patience=2', '--set', 'train.minDelta=1e5', '--out', 'patient'], { cwd: work });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(metrics('patient').length, 3);
  assert.match(r.stderr, /stopped early after epoch 3: no better validation ELBO for 2 epochs; the best was epoch 1/);
  const again = vae(['train', '--resume', 'patient']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /patient stopped early after epoch 3: no better validation ELBO for 2 epochs.*--set train.patience=4/);
  const more = vae(['train', '--resume', 'patient', '--set', 'train.patience=null', '--set', 'train.epochs=4']);
  assert.equal(more.code, 0, more.stderr);
  assert.equal(metrics('patient').length, 4);
});

test('a cosine schedule cannot be stretched on resume; a changed objective is refused', () => {
  assert.equal(vae(['train', ...TINY_DATA, '--set', 'model.hidden=[16]', '--set', 'train.epochs=1', '--set', 'train.lrSchedule=cosine', '--out', 'cos']).code, 0);
  const r = vae(['train', '--resume', 'cos', '--set', 'train.epochs=2']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot resume cos with a changed config: train.epochs 1 -> 2/);
  assert.match(r.stderr, /cosine schedule is laid out over train.epochs/);
  const beta = vae(['train', '--resume', 'cos', '--set', 'train.beta=4']);
  assert.equal(beta.code, 2);
  assert.match(beta.stderr, /train.beta 1 -> 4/);
});

test('config cross-checks: one clear line each', () => {
  const cases: [string[], RegExp][] = [
    [['--set', 'train.iwSamples=5', '--set', 'train.freeBits=0.5'], /train.freeBits \(0.5\) applies to the ELBO's closed-form KL, but train.iwSamples is 5/],
    [['--set', 'data.dataset=idx'], /data.dataset 'idx' needs data.path/],
    [['--set', 'data.path=x'], /data.path is not used by data.dataset 'mnist'/],
  ];
  for (const [args, re] of cases) {
    const r = vae(['train', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length <= 2, true, r.stderr);
  }
});

for (const name of ['mnist', 'mnist-conv', 'mnist-beta', 'mnist-iwae', 'mnist-burda']) {
  test(`shipped config ${name}.json trains a step and writes its run`, () => {
    const r = vae(['train', '--config', `${name}.json`, ...TINY_DATA, '--set', 'train.epochs=1', '--set', 'train.batchSize=64', '--out', `cfg-${name}`]);
    assert.equal(r.code, 0, r.stderr);
    const m = metrics(`cfg-${name}`);
    assert.ok(Number.isFinite(m[0].val.elbo));
    assert.ok(fs.existsSync(path.join(work, `cfg-${name}`, 'samples', 'epoch-001.png')));
  });
}

test('determinism: the same config and seed give identical metrics on wasm, run after run', (t) => {
  const args = ['train', '--backend', 'wasm', '--quiet', '--set', 'data.limit=256', '--set', 'data.validation=64', '--set', 'model.hidden=[32]', '--set', 'train.epochs=2', '--set', 'train.batchSize=32'];
  const a = vae([...args, '--out', 'det-a']);
  if (a.code !== 0 && /wasm/.test(a.stderr) && /cannot|failed/.test(a.stderr)) {
    t.skip(`wasm does not load here: ${a.stderr.trim()}`);
    return;
  }
  assert.equal(a.code, 0, a.stderr);
  assert.equal(vae([...args, '--out', 'det-b']).code, 0);
  assert.deepEqual(metrics('det-a'), metrics('det-b'));
  assert.equal(manifest('det-a').sha256, manifest('det-b').sha256);
});

for (const [lik, extra] of [
  ['gaussian', ['--set', 'model.sigma=learned-per-pixel']],
  ['logistic', []],
] as const) {
  test(`${lik} likelihood end to end: train, eval (bits/dim), sample --sample`, () => {
    const out = `lik-${lik}`;
    const r = vae(['train', '--config', 'folder-example.json', '--backend', 'cpu', '--quiet', '--set', `model.likelihood=${lik}`, ...extra, '--set', 'train.epochs=2', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const e = vae(['eval', '--run', out, '--samples', '5', '--json', '--backend', 'cpu']);
    assert.equal(e.code, 0, e.stderr);
    const rec = JSON.parse(e.stdout.toString().trim().split('\n')[0]);
    assert.equal(rec.split, 'val', 'no test split: eval falls back to validation');
    assert.ok(Number.isFinite(rec.elbo) && Number.isFinite(rec.bitsPerDim), JSON.stringify(rec));
    const s = vae(['sample', '--run', out, '--n', '4', '--sample', '--out', `${out}.png`, '--backend', 'cpu']);
    assert.equal(s.code, 0, s.stderr);
    assert.ok(fs.statSync(path.join(work, `${out}.png`)).size > 100);
  });
}
