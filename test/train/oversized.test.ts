/**
 * A model or batch too big for memory, through the real binary: refused before anything is
 * built or written, exit 2, one line with the parameter count and the bytes needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runVae } from '../support/bin.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-oversized-'));

for (const { what, set, message } of [
  {
    what: 'a model',
    set: ['model.hidden=[65536,65536,65536]'],
    message: /^vae: model too large: 17,286,955,832 parameters need 466 GiB for weights, gradients, Adam's moments and updates \(and [\d.]+ GiB more for activations\); the wasm backend can address 4 GiB \(make model\.hidden smaller\)$/,
  },
  {
    what: 'a batch',
    set: ['model.arch=conv', 'model.convChannels=[256,512]', 'train.batchSize=16384', 'data.limit=20000', 'data.validation=100'],
    message: /^vae: batch too large: a batch of 16,384 examples needs [\d,]+ GiB for activations \(and the [\d,]+ parameters \d+ MiB for weights, gradients, Adam's moments and updates\); the wasm backend can address 4 GiB \(make train\.batchSize smaller\)$/,
  },
]) {
  test(`vae train with ${what} too big for memory: one line, exit 2, no run directory`, () => {
    const t0 = performance.now();
    const r = runVae(['train', '--backend', 'wasm', '--set', 'data.limit=256', ...set.flatMap((s) => ['--set', s])], { cwd: work });
    const seconds = (performance.now() - t0) / 1000;
    process.stderr.write(`# ${what}: refused in ${seconds.toFixed(1)} s\n`);
    assert.equal(r.code, 2, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('vae:'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0], message);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
    assert.equal(r.stdout.length, 0);
    assert.equal(fs.existsSync(path.join(work, 'runs')), false, 'nothing written');
    assert.ok(seconds < 60, 'refused before the model is built');
  });
}
