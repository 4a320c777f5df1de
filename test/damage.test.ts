/**
 * Damaged run directories and unwritable outputs, through the real binary: one clear line,
 * exit code 2, no stack trace, nothing half-written (docs/errors.md).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runVae } from './bin.js';

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
  expectOneLine(['eval', '--run', 'nockpt'], /has no checkpoint \(no checkpoint.json\)/);
  expectOneLine(['train', '--resume', 'nockpt'], /has no checkpoint/);
});

test('an output folder that is not writable', { skip: process.getuid?.() === 0 ? 'root can write anywhere, so a read-only folder cannot be made' : false }, () => {
  fs.mkdirSync(path.join(work, 'ro'), { mode: 0o555 });
  expectOneLine(['sample', '--run', 'good', '--out', 'ro/x.png'], /the folder .*ro is not writable/);
});

test('an output path that is a directory', () => {
  fs.mkdirSync(path.join(work, 'adir'), { recursive: true });
  expectOneLine(['sample', '--run', 'good', '--out', 'adir'], /cannot write adir: it is a directory/);
});

test('--out into a folder that already holds a run', () => {
  expectOneLine(['train', '--quiet', '--out', 'good'], /good already holds a run/);
});
