/**
 * `vae bench --torch`: the PyTorch reference gets the config's sizes, activation and k, says what
 * of a config it does not model, and a CUDA device its torch cannot use is one line before
 * anything is timed. The runs need a Python with torch and numpy (skipped, saying so, without).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { defaultConfig, type Config } from '../../src/config/schema.js';
import { findPython, referenceDifferences } from '../../src/bench/torch.js';
import { runVae } from '../support/bin.js';

test('referenceDifferences names what the PyTorch twin does not model', () => {
  const base = defaultConfig();
  assert.deepEqual(referenceDifferences(base), []);
  const cfg: Config = { ...base, model: { ...base.model, arch: 'conv', likelihood: 'logistic' }, train: { ...base.train, gradClip: 1 } };
  assert.deepEqual(referenceDifferences(cfg), ['model.arch conv', 'model.likelihood logistic', 'train.gradClip']);
});

let python: string | null = null;
try {
  python = findPython();
} catch {
  python = null;
}
const skip = python ? false : 'no Python with torch and numpy (apt-get install python3-torch python3-numpy)';
const hasCuda = python ? spawnSync(python, ['-c', 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)']).status === 0 : false;

test('vae bench --torch: IWAE in the reference too (the config\'s k, activation and sizes)', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-torch-'));
  const r = runVae(['bench', '--config', 'mnist-iwae.json', '--backend', 'cpu', '--steps', '1', '--warmup', '1', '--torch', '--torch-device', 'cpu', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.toString());
  assert.equal(out.torch.iw_samples, 5);
  assert.ok(out.torch.ms_per_step > 0 && out.ratios[0].ratio > 0);
  assert.doesNotMatch(r.stderr, /does not model/);
  const g = runVae(['bench', '--backend', 'cpu', '--steps', '1', '--warmup', '1', '--torch', '--torch-device', 'cpu', '--set', 'model.likelihood=gaussian', '--json'], { cwd: dir });
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stderr, /the PyTorch reference does not model this config's model.likelihood gaussian: the ratio compares different steps/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('vae bench --torch --torch-device cuda without CUDA in torch: one line, before timing anything', { skip: skip || (hasCuda ? 'this torch has CUDA' : false) }, () => {
  const r = runVae(['bench', '--backend', 'cpu', '--steps', '1', '--torch', '--torch-device', 'cuda'], { cwd: os.tmpdir() });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /the PyTorch reference cannot use cuda: .* sees no CUDA device/);
  assert.doesNotMatch(r.stderr, /preparing|timing/);
  assert.ok(!/\bat .*\.[jt]s:\d+/.test(r.stderr), 'no stack trace');
});
