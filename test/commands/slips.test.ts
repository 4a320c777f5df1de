/**
 * Command-line slips answered with what was probably meant, through the real binary: a config
 * setting without --set, an option of another command, and a bare `vae`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runVae } from '../support/bin.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-slips-'));
const vae = (args: string[]) => runVae(args, { cwd: work });

test('slips get one line saying what was probably meant, exit 2, and nothing is written', () => {
  const cases: [string[], RegExp][] = [
    [['train', 'train.epochs=3'], /^vae: 'train\.epochs=3' is a config setting, given without --set \(did you mean --set train\.epochs=3\?\)\n$/],
    [['train', '--config', 'mnist.json', 'model.latentDim=8'], /^vae: 'model\.latentDim=8' is a config setting, given without --set \(did you mean --set model\.latentDim=8\?\)\n$/],
    [['sample', 'data.limit=10'], /^vae: 'data\.limit=10' is a config setting, given without --set \(vae sample takes no config settings; they go to vae train --set data\.limit=10\)\n$/],
    [['train', '--n', '64'], /^vae: vae train has no option --n; it is an option of vae sample \(did you mean vae sample --n 64\?\)\n$/],
    [['eval', '--scale', '2'], /^vae: vae eval has no option --scale; it is an option of vae sample, vae decode and vae reconstruct \(see vae eval --help for its options\)\n$/],
    [['train', '--set', 'train.epochs=1', '--traverse'], /^vae: vae train has no option --traverse; it is an option of vae sample \(did you mean vae sample --traverse\?\)\n$/],
  ];
  for (const [args, message] of cases) {
    const r = vae(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stdout.length, 0);
  }
  assert.ok(!fs.existsSync(path.join(work, 'runs')), 'no run directory is created');
});

test('option values and --set are not mistaken for slips', () => {
  // --set's value is a setting; a negative number is a value; both reach the command's own checks.
  const r = vae(['train', '--set', 'train.epochs=0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /'train\.epochs' .* must be an integer from 1/);
  const t = vae(['sample', '--temperature', '-1']);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /^vae: --temperature must be between 0 and 100, got -1\n$/);
});

test('a bare vae prints the command list on stderr and exits 2', () => {
  const r = vae([]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout.length, 0);
  assert.match(r.stderr, /^Usage: vae /);
  for (const c of ['train', 'sample', 'eval', 'encode', 'decode', 'reconstruct', 'backends', 'bench']) assert.match(r.stderr, new RegExp(`^  ${c} `, 'm'));
});
