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
import { findPython, oldTorchWarning, referenceDifferences } from '../../src/bench/torch.js';
import { runVae } from '../support/bin.js';

test('referenceDifferences names what the PyTorch twin does not model', () => {
  const base = defaultConfig();
  assert.deepEqual(referenceDifferences(base), []);
  assert.deepEqual(referenceDifferences({ ...base, model: { ...base.model, arch: 'conv' } }), [], 'it models the conv VAE');
  const conv: Config = { ...base, model: { ...base.model, arch: 'conv', batchNorm: true, likelihood: 'logistic' } };
  assert.deepEqual(referenceDifferences(conv), [], 'it models batch norm and the logistic');
  const cfg: Config = { ...base, model: { ...base.model, likelihood: 'gaussian' }, train: { ...base.train, gradClip: 1 } };
  assert.deepEqual(referenceDifferences(cfg), ['model.likelihood gaussian', 'train.gradClip']);
});

/** A stand-in Python that answers the version probe with `version` (POSIX shells only). */
function fakePython(file: string, version: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
  return file;
}

test('findPython takes a current PyTorch before an old one, wherever each comes in the search order', { skip: process.platform === 'win32' ? 'stand-in Pythons are shell scripts' : false }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-python-'));
  const old = fakePython(path.join(dir, 'old', 'python'), '1.13.1');
  const saved = process.env.VAE_PYTHON;
  try {
    process.env.VAE_PYTHON = old;
    // $VAE_PYTHON comes first, but its torch is 1.13: the working folder's .venv with 2.13 wins
    const venv = fakePython(path.join(dir, 'project', '.venv', 'bin', 'python'), '2.13.0+cpu');
    assert.deepEqual(findPython(undefined, path.join(dir, 'project')), { python: venv, version: '2.13.0+cpu' });
    // --python is taken as given, old or not
    assert.deepEqual(findPython(old, path.join(dir, 'project')), { python: old, version: '1.13.1' });
  } finally {
    if (saved === undefined) delete process.env.VAE_PYTHON;
    else process.env.VAE_PYTHON = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an old PyTorch is one line saying so, with how to install a current one', () => {
  assert.equal(oldTorchWarning({ version: '2.13.0+cpu' }), null);
  assert.equal(oldTorchWarning({ version: '2.0.0' }), null);
  const line = oldTorchWarning({ version: '1.13.1' })!;
  assert.match(line, /^PyTorch 1\.13 is an old build; its times flatter us \(install a current one: python3 -m venv \.venv && \.venv\/bin\/pip install torch numpy/);
  assert.doesNotMatch(line, /\n/);
});

let python: string | null = null;
try {
  python = findPython().python;
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
  const version = /PyTorch reference: PyTorch (\S+) /.exec(r.stderr.toString())?.[1];
  assert.ok(version, r.stderr.toString());
  if (Number.parseInt(version, 10) < 2) assert.match(r.stderr, /PyTorch \d+\.\d+ is an old build; its times flatter us/);
  else assert.doesNotMatch(r.stderr, /old build/);
  const g = runVae(['bench', '--backend', 'cpu', '--steps', '1', '--warmup', '1', '--torch', '--torch-device', 'cpu', '--set', 'model.likelihood=gaussian', '--json'], { cwd: dir });
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stderr, /the PyTorch reference does not model this config's model.likelihood gaussian: the ratio compares different steps/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('vae bench --torch: batch norm and the logistic in the reference too', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-torch-'));
  const r = runVae(['bench', '--config', 'mnist-conv.json', '--set', 'model.batchNorm=true', '--set', 'model.likelihood=logistic', '--set', 'data.binarize=none', '--set', 'model.convChannels=[4,8]', '--set', 'model.hidden=[16]', '--backend', 'cpu', '--steps', '1', '--warmup', '1', '--torch', '--torch-device', 'cpu', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.toString());
  assert.equal(out.torch.likelihood, 'logistic');
  assert.equal(out.torch.batch_norm, true);
  assert.ok(Number.isFinite(out.torch.loss) && out.torch.ms_per_step > 0);
  assert.doesNotMatch(r.stderr, /does not model/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('vae bench --torch --torch-device cuda without CUDA in torch: one line, before timing anything', { skip: skip || (hasCuda ? 'this torch has CUDA' : false) }, () => {
  const r = runVae(['bench', '--backend', 'cpu', '--steps', '1', '--torch', '--torch-device', 'cuda'], { cwd: os.tmpdir() });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /the PyTorch reference cannot use cuda: .* sees no CUDA device/);
  assert.doesNotMatch(r.stderr, /preparing|timing/);
  assert.ok(!/\bat .*\.[jt]s:\d+/.test(r.stderr), 'no stack trace');
});
