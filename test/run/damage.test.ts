/**
 * Damaged run directories and unwritable outputs, through the real binary: one clear line,
 * exit code 2, no stack trace, nothing half-written (docs/errors.md).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runVae } from '../support/bin.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-damage-'));
const vae = (args: string[]) => runVae(args, { cwd: work });

function copyRun(name: string): string {
  fs.cpSync(path.join(work, 'good'), path.join(work, name), { recursive: true });
  return path.join(work, name);
}

const manifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8'));

before(() => {
  const r = vae(['train', '--quiet', '--backend', 'cpu', '--set', 'data.limit=256', '--set', 'data.validation=100', '--set', 'model.hidden=[32]', '--set', 'model.latentDim=3', '--set', 'train.epochs=1', '--out', 'good']);
  assert.equal(r.code, 0, r.stderr);
});

function expectOneLine(args: string[], re: RegExp): void {
  const r = vae(args);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('vae:')).length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(r.stdout.length, 0);
}

test('a truncated weights file', () => {
  const dir = copyRun('truncated');
  const w = path.join(dir, manifest(dir).weights);
  fs.truncateSync(w, 1000);
  expectOneLine(['sample', '--run', 'truncated', '--out', 'x.png'], /are 1000 bytes, expected \d+ \(truncated or damaged\)/);
  assert.equal(fs.existsSync(path.join(work, 'x.png')), false);
});

test('checkpoint JSON that does not parse', () => {
  const dir = copyRun('badjson');
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), '{"format": "vae-checkpoint", "version": ');
  expectOneLine(['eval', '--run', 'badjson', '--samples', '0'], /checkpoint.json is not valid JSON/);
});

test('a checkpoint from an incompatible format version', () => {
  const dir = copyRun('future');
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), JSON.stringify({ ...manifest(dir), version: 2 }));
  expectOneLine(['sample', '--run', 'future', '--out', 'x.png'], /checkpoint format version 2; this vae reads version 1 \(upgrade vae\)/);
});

test('a run directory with no checkpoint', () => {
  const dir = copyRun('nockpt');
  fs.rmSync(path.join(dir, 'checkpoint.json'));
  // (--resume starts such a run again: test/train/resume.test.ts)
  expectOneLine(['eval', '--run', 'nockpt'], /^vae: nockpt stopped before its first checkpoint \(`vae train --resume nockpt` starts it again\)/);
  expectOneLine(['sample', '--run', 'nockpt', '--out', 'x.png'], /^vae: nockpt stopped before its first checkpoint/);
});

test('an output folder that is not writable', (t) => {
  // Root can write to any folder, but not to a read-only file system: use one where we can.
  const dir = path.join(work, 'ro');
  let mounted = false;
  if (process.getuid?.() === 0) {
    fs.mkdirSync(dir, { recursive: true });
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', dir]);
    if (m.status !== 0) return t.skip('running as root and cannot mount a read-only tmpfs, so no unwritable folder can be made');
    mounted = true;
  } else {
    fs.mkdirSync(dir, { mode: 0o555 });
  }
  try {
    expectOneLine(['sample', '--run', 'good', '--out', 'ro/x.png'], /the folder .*ro is not writable/);
  } finally {
    if (mounted) spawnSync('umount', [dir]);
  }
});

test('an output path that is a directory', () => {
  fs.mkdirSync(path.join(work, 'adir'), { recursive: true });
  expectOneLine(['sample', '--run', 'good', '--out', 'adir'], /cannot write adir: it is a directory/);
});

test('--out into a folder that already holds a run', () => {
  expectOneLine(['train', '--quiet', '--out', 'good'], /good already holds a run/);
});

test('a full disk during training: exit 1, the previous checkpoint intact, resumable', async (t) => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-full-'));
  // 2.5 MB: epoch 1's checkpoint (about 1.7 MB with best/) fits; epoch 2's new weights do not.
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2500k', 'tmpfs', mnt]);
  if (mount.status !== 0) return t.skip(`cannot mount a small tmpfs here (${mount.stderr.toString().trim() || 'not permitted'})`);
  try {
    const args = ['train', '--quiet', '--backend', 'cpu', '--set', 'data.limit=256', '--set', 'data.validation=100', '--set', 'model.hidden=[64]', '--set', 'model.latentDim=4', '--set', 'train.epochs=3', '--out', path.join(mnt, 'run')];
    const r = vae(args);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /disk full while writing .*weights-.*\.bin; the previous version is intact \(free some space and resume\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const leftovers = fs.readdirSync(path.join(mnt, 'run'), { recursive: true }).map(String).filter((f) => /\.tmp-/.test(f));
    assert.deepEqual(leftovers, []);
    assert.equal(manifest(path.join(mnt, 'run')).meta.epoch, 1);
    const s = vae(['sample', '--run', path.join(mnt, 'run'), '--out', 'after-full.png']);
    assert.equal(s.code, 0, s.stderr);
    // Make room (move the run off the small disk) and resume: it continues from epoch 1.
    fs.cpSync(path.join(mnt, 'run'), path.join(work, 'moved'), { recursive: true });
    const resumed = vae(['train', '--resume', 'moved', '--quiet']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(manifest(path.join(work, 'moved')).meta.epoch, 3);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('damaged weights of the right size fail their checksum', () => {
  const dir = copyRun('flipped');
  const w = path.join(dir, manifest(dir).weights);
  const bytes = fs.readFileSync(w);
  bytes[100] ^= 0x40;
  fs.writeFileSync(w, bytes);
  expectOneLine(['sample', '--run', 'flipped', '--out', 'x.png'], /do not match their checksum \(damaged\)/);
});

test('invalid JSON in a config file is reported with line and column', () => {
  fs.writeFileSync(path.join(work, 'broken.json'), '{\n  "train": {\n    "epochs": 3,\n  }\n}\n');
  expectOneLine(['train', '--config', 'broken.json'], /broken\.json:4:\d+: invalid JSON: .* \(fix the syntax at that line and column\)/);
  assert.equal(fs.existsSync(path.join(work, 'runs')), false);
});
