/**
 * Runs written before mid-epoch checkpoints and recorded preparation recipes (the small MNIST run
 * in test/fixtures/run-v1, kept as that version wrote it) still load, sample, evaluate,
 * reconstruct and resume through the real binary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { runMetrics, runVae } from '../support/bin.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/run-v1', import.meta.url));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-old-run-'));
const run = path.join(work, 'old');
fs.cpSync(FIXTURE, run, { recursive: true });
const vae = (args: string[]) => runVae(args, { cwd: work });

test('the fixture is in the older format: no recipe in run.json, no train.checkpointMinutes in its config', () => {
  assert.equal(JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8')).prepare, undefined);
  assert.equal(JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).train.checkpointMinutes, undefined);
});

test('an older run samples, evaluates and reconstructs', async () => {
  const s = vae(['sample', '--run', 'old', '--n', '16', '--out', 'old.png']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal((await sharp(path.join(work, 'old.png')).metadata()).width, 4 * 28 + 5 * 2);
  const e = vae(['eval', '--run', 'old', '--samples', '2', '--limit', '100', '--json']);
  assert.equal(e.code, 0, e.stderr);
  const r = JSON.parse(e.stdout.toString());
  assert.ok(r.elbo < -80 && r.elbo > -200, `ELBO ${r.elbo}`);
  const best = vae(['reconstruct', '--run', 'old', '--best', '--split', 'test', '--limit', '4', '--out', 'recon.png']);
  assert.equal(best.code, 0, best.stderr);
});

test('an older run resumes to train longer, on the backend it was trained on', () => {
  const r = vae(['train', '--resume', 'old', '--set', 'train.epochs=21']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming old at epoch 21 \(step 1880 overall\)/);
  assert.match(r.stderr, /backend: wasm/);
  const m = runMetrics(run);
  assert.equal(m.length, 21);
  assert.equal(m[20].step, 1880 + 94);
  // The resumed config has the checkpoint budget filled in with its default.
  assert.equal(JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).train.checkpointMinutes, 5);
});
