/**
 * The memory a model needs to train, from its spec alone: its parameter count matches the model
 * that createVae builds, the shipped configs fit even wasm's 4 GiB, and a model, batch or
 * checkpoint far too big is refused with the numbers (src/train/model-from-config.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import { trainingFootprint } from '../../src/model/footprint.js';
import { createVae, type VaeSpec } from '../../src/model/vae.js';
import { Rng } from '../../src/random.js';
import { loadConfig, PACKAGE_CONFIGS } from '../../src/config/load.js';
import { checkFitsInMemory, outOfMemory } from '../../src/train/model-from-config.js';
import { VaeError } from '../../src/errors.js';
import { useCpu } from '../support/helpers.js';

const MNIST = { shape: [28, 28, 1] as [number, number, number], n: 55_000 };

test('the parameter count is the number of values in the model createVae builds (mlp and conv, batch norm, learned sigma)', async () => {
  await useCpu();
  const specs: VaeSpec[] = [
    { arch: 'mlp', inputDim: 784, inputShape: [28, 28, 1], hidden: [64, 32], latentDim: 5, activation: 'relu', likelihood: 'bernoulli' },
    { arch: 'mlp', inputDim: 48, inputShape: [4, 4, 3], hidden: [], latentDim: 2, activation: 'tanh', likelihood: 'gaussian', sigma: 'learned-per-pixel' },
    { arch: 'conv', inputDim: 784, inputShape: [28, 28, 1], hidden: [16], latentDim: 3, activation: 'relu', likelihood: 'logistic', convChannels: [4, 8], kernelSize: 4, batchNorm: true },
  ];
  for (const spec of specs) {
    const vae = createVae(spec, Rng.derive(0, 'init'));
    const n = [...vae.params.values()].reduce((a, v) => a + v.size, 0);
    for (const v of vae.params.values()) v.dispose();
    const f = trainingFootprint(spec, 128);
    assert.equal(f.params, n, `${spec.arch} ${spec.likelihood}`);
    const largest = Math.max(...[...vae.params.values()].map((v) => v.size));
    assert.equal(f.paramBytes, 16 * n + 13 * 4 * largest, 'weights, gradients, two moments, and the update of the largest tensor');
    assert.equal(f.checkpointBytes, 12 * n);
    assert.ok(f.activationBytes > 0);
    // k importance samples cost more decoder activations; a bigger batch costs more
    assert.ok(trainingFootprint(spec, 4096, 5).activationBytes > trainingFootprint(spec, 4096).activationBytes);
  }
});

test('every shipped config fits the wasm backend, and the default config with a large batch too', () => {
  const names = fs.readdirSync(PACKAGE_CONFIGS).filter((f) => f.endsWith('.json'));
  assert.ok(names.length >= 7);
  for (const name of names) {
    const { config } = loadConfig({ config: name });
    const shape: [number, number, number] = config.data.dataset === 'folder' ? [config.data.size ?? 28, config.data.size ?? 28, config.data.channels] : MNIST.shape;
    checkFitsInMemory(config, { shape, n: MNIST.n }, 'wasm');
    checkFitsInMemory(config, { shape, n: MNIST.n }, 'cpu');
  }
  checkFitsInMemory(loadConfig({ set: ['train.batchSize=4096'] }).config, MNIST, 'wasm');
  checkFitsInMemory(loadConfig({ config: 'mnist-conv.json', set: ['train.batchSize=1024'] }).config, MNIST, 'wasm');
});

function refused(set: string[], backend: 'wasm' | 'cpu', message: RegExp, hint: string): void {
  const { config } = loadConfig({ set });
  assert.throws(() => checkFitsInMemory(config, MNIST, backend), (err: unknown) => {
    assert.ok(err instanceof VaeError, String(err));
    assert.equal(err.exitCode, 2);
    assert.match(err.message, message);
    assert.equal(err.hint, hint);
    return true;
  });
}

test('a model too big for memory is refused with its parameter count and the bytes it needs', () => {
  refused(
    ['model.hidden=[65536,65536,65536]'],
    'wasm',
    /^model too large: 17,286,955,832 parameters need 466 GiB for weights, gradients, Adam's moments and updates \(and [\d.]+ GiB more for activations\); the wasm backend can address 4 GiB$/,
    'make model.hidden smaller',
  );
  refused(['model.hidden=[65536,65536,65536]'], 'cpu', /^model too large: 17,286,955,832 parameters need 466 GiB .*; this machine has [\d.]+ GiB$/, 'make model.hidden smaller');
  refused(['model.arch="conv"', 'model.convChannels=[4096,4096,4096,4096,4096,4096]'], 'wasm', /^model too large: [\d,]+ parameters need/, 'make model.hidden or model.convChannels smaller');
});

test('a batch too big for memory is refused, naming train.batchSize (and train.iwSamples)', () => {
  refused(['model.arch="conv"', 'model.convChannels=[512,1024]', 'train.batchSize=65536'], 'cpu', /^batch too large: a batch of 55,000 examples needs [\d,]+ GiB for activations \(and the [\d,]+ parameters [\d.]+ [MG]iB for weights, gradients, Adam's moments and updates\); this machine has/, 'make train.batchSize smaller');
  refused(['train.batchSize=4096', 'train.iwSamples=5000'], 'wasm', /^batch too large: a batch of 4,096 examples with 5000 samples each needs [\d,]+ GiB for activations/, 'make train.batchSize or train.iwSamples smaller');
});

test('a model whose checkpoint would not fit one Node.js buffer is refused even where memory would hold it', () => {
  // 833 million parameters: 13 GiB to train, within many machines' memory, but a 9.3 GiB checkpoint.
  const { config } = loadConfig({ set: ['model.hidden=[20000,20000]'] });
  const f = trainingFootprint({ arch: 'mlp', inputDim: 784, inputShape: [28, 28, 1], hidden: [20000, 20000], latentDim: 20, activation: 'relu', likelihood: 'bernoulli' }, 128);
  assert.ok(f.checkpointBytes > 2 ** 32);
  const expectRefusal = bufferConstants.MAX_LENGTH < f.checkpointBytes || os.totalmem() < f.total;
  if (!expectRefusal) return; // a Node.js with larger buffers, on a large machine
  const said = /^model too large: 832,640,824 parameters (?:make a 9.3 GiB checkpoint \(weights and Adam's moments\), more than the 4 GiB Node.js can write from one buffer|need \d+ GiB)/;
  assert.throws(() => checkFitsInMemory(config, MNIST, 'cpu'), (err: unknown) => err instanceof VaeError && said.test(err.message));
});

test('an allocation that fails all the same is one line (exit 1), not an internal error; other errors pass through', () => {
  for (const [err, backend] of [
    [new RangeError('Invalid typed array length: 17179869184'), 'cpu'],
    [new RangeError('Array buffer allocation failed'), 'cpu'],
    [new Error('Aborted(). Build with -sASSERTIONS for more info.'), 'wasm'],
    [new Error('OOM when allocating tensor with shape[65536,65536]'), 'tensorflow'],
  ] as const) {
    const failure = outOfMemory(err, backend);
    assert.ok(failure, err.message);
    assert.equal(failure.exitCode, 1);
    assert.match(failure.message, new RegExp(`^ran out of memory while training on the ${backend} backend \\(`));
    assert.match(failure.hint ?? '', /make model\.hidden or train\.batchSize smaller/);
  }
  assert.equal(outOfMemory(new Error('Aborted()'), 'cpu'), null);
  assert.equal(outOfMemory(new TypeError('x is undefined'), 'wasm'), null);
});
