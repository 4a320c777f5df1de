import { test, before, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint, saveCheckpoint, MANIFEST } from '../../src/run/checkpoint.js';
import { writeFileAtomic } from '../../src/util/atomic.js';
import { RuntimeFailure } from '../../src/errors.js';
import { loadRun, saveRunCheckpoint, findLatestRun, resolveRun, createRunDir } from '../../src/run/run.js';
import { defaultConfig } from '../../src/config/schema.js';
import { Adam } from '../../src/train/adam.js';
import { tinyVae, useCpu } from '../support/helpers.js';
import { tf } from '../../src/tf.js';

before(useCpu);

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'vae-ckpt-'));

test('checkpoint round trip keeps names, shapes and exact values', () => {
  const dir = tmp();
  const a = { name: 'w', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 1e-30, -0, 6]) };
  const b = { name: 'b', shape: [3], data: new Float32Array([Math.PI, 0, -1]) };
  saveCheckpoint(dir, [a, b], { hello: 1 }, 5);
  const { manifest, arrays } = loadCheckpoint<{ hello: number }>(dir);
  assert.equal(manifest.meta.hello, 1);
  assert.deepEqual(arrays.get('w')!.shape, [2, 3]);
  assert.deepEqual(arrays.get('w')!.data, a.data);
  assert.deepEqual(arrays.get('b')!.data, b.data);
});

test('a new checkpoint replaces the old one and leaves no stray files', () => {
  const dir = tmp();
  const a = { name: 'w', shape: [1], data: new Float32Array([1]) };
  saveCheckpoint(dir, [a], {}, 1);
  saveCheckpoint(dir, [{ ...a, data: new Float32Array([2]) }], {}, 2);
  const files = fs.readdirSync(dir).sort();
  assert.equal(files.length, 2, files.join(', '));
  assert.ok(files.includes(MANIFEST));
  assert.equal(loadCheckpoint(dir).arrays.get('w')!.data[0], 2);
});

test('damaged checkpoints get clear errors', () => {
  const dir = tmp();
  saveCheckpoint(dir, [{ name: 'w', shape: [4], data: new Float32Array([1, 2, 3, 4]) }], {}, 1);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8'));
  const wfile = path.join(dir, manifest.weights);
  const bytes = fs.readFileSync(wfile);
  fs.writeFileSync(wfile, bytes.subarray(0, 8));
  assert.throws(() => loadCheckpoint(dir), /8 bytes, expected 16 \(truncated or damaged\)/);
  const flipped = Buffer.from(bytes);
  flipped[0] ^= 1;
  fs.writeFileSync(wfile, flipped);
  assert.throws(() => loadCheckpoint(dir), /do not match their checksum/);
  fs.writeFileSync(path.join(dir, MANIFEST), '{"format": "vae-checkpoint", ');
  assert.throws(() => loadCheckpoint(dir), /is not valid JSON/);
  fs.writeFileSync(path.join(dir, MANIFEST), JSON.stringify({ ...manifest, version: 99 }));
  assert.throws(() => loadCheckpoint(dir), /format version 99; this vae reads version 1/);
  fs.rmSync(path.join(dir, MANIFEST));
  assert.throws(() => loadCheckpoint(dir), /has no checkpoint/);
});

test('atomic writes leave the old file intact when the write fails', () => {
  const dir = tmp();
  const file = path.join(dir, 'x.txt');
  writeFileAtomic(file, 'old');
  assert.throws(() => writeFileAtomic(path.join(dir, 'missing', 'x.txt'), 'new'), /does not exist/);
  fs.mkdirSync(path.join(dir, 'adir'));
  assert.throws(() => writeFileAtomic(path.join(dir, 'adir'), 'new'));
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['adir', 'x.txt']);
});

test('a run saves and loads model and optimiser state; latest run is found', async () => {
  const root = tmp();
  const dir = path.join(root, 'r1');
  createRunDir(dir).release();
  const vae = tinyVae(8);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...defaultConfig(), model: { ...defaultConfig().model, hidden: vae.spec.hidden, latentDim: vae.spec.latentDim } }));
  const adam = new Adam({ learningRate: 0.01 });
  adam.apply(vae.params, new Map([...vae.params].map(([n, v]) => [n, tf.onesLike(v)])));
  await saveRunCheckpoint(dir, vae, adam, { epoch: 1, step: 1, dataShape: [3, 4, 1], rng: null, best: null });
  const run = loadRun(dir);
  assert.equal(run.meta.epoch, 1);
  assert.deepEqual(run.meta.model, vae.spec);
  for (const [name, v] of vae.params) assert.deepEqual(run.vae.params.get(name)!.dataSync(), v.dataSync());
  assert.equal(run.optimizer.size, 2 * vae.params.size);
  assert.equal(findLatestRun(root), dir);
  assert.equal(resolveRun(root), dir);
  assert.throws(() => createRunDir(dir), /already holds a run/);
  assert.throws(() => resolveRun(path.join(root, 'nope')), /does not exist/);
  assert.throws(() => findLatestRun(path.join(root, 'empty')), /no trained run found/);
});

test('a full disk while saving leaves the previous checkpoint intact and says so', () => {
  const dir = tmp();
  saveCheckpoint(dir, [{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }], { epoch: 1 }, 1);
  const before = fs.readdirSync(dir).sort();
  const full = mock.method(fs, 'writeSync', () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  });
  try {
    assert.throws(
      () => saveCheckpoint(dir, [{ name: 'w', shape: [2], data: new Float32Array([3, 4]) }], { epoch: 2 }, 2),
      (err: unknown) => err instanceof RuntimeFailure && /disk full while writing .*weights-.*\.bin; the previous version is intact/.test(err.message) && err.exitCode === 1,
    );
  } finally {
    full.mock.restore();
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), before, 'no temporary or new files are left behind');
  const { manifest, arrays } = loadCheckpoint<{ epoch: number }>(dir);
  assert.equal(manifest.meta.epoch, 1);
  assert.deepEqual([...arrays.get('w')!.data], [1, 2]);
});
