/**
 * Damaged run directories and unwritable outputs, through the real binary: one clear line,
 * exit code 2, no stack trace, nothing half-written (docs/errors.md). Run files truncated,
 * garbled or edited by hand (checkpoint.json, metrics.jsonl, config.json, run.json) are refused
 * by every command that reads them and by --resume, naming the file, and the run is left byte
 * for byte as it was.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runVae } from '../support/bin.js';
import { snapshot } from '../support/files.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-damage-'));
const vae = (args: string[]) => runVae(args, { cwd: work });

function copyRun(name: string): string {
  fs.cpSync(path.join(work, 'good'), path.join(work, name), { recursive: true });
  return path.join(work, name);
}

const manifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8'));

before(() => {
  const r = vae(['train', '--quiet', '--backend', 'cpu', '--set', 'data.limit=256', '--set', 'data.validation=100', '--set', 'model.hidden=[32]', '--set', 'model.latentDim=3', '--set', 'train.epochs=2', '--out', 'good']);
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

/** Damage a copy of the run with `harm`, then check that each command is refused naming `file`, and that the run is unchanged. */
function refusedUnchanged(name: string, harm: (dir: string) => void, commands: string[][], file: string, re: RegExp): void {
  const dir = copyRun(name);
  harm(dir);
  const before = snapshot(dir);
  for (const args of commands) {
    const full = args[0] === 'train' ? [...args, name] : [...args, '--run', name];
    const r = vae(full);
    const what = full.join(' ');
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('vae:'));
    assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
    assert.ok(lines[0].includes(`${name}/${file}`), `${what} names ${file}: ${lines[0]}`);
    assert.match(lines[0], re, what);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, what);
    assert.equal(r.stdout.length, 0, what);
    assert.deepEqual(snapshot(dir), before, `${what} changed the run`);
  }
}

const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
const editJson = (dir: string, f: string, change: (j: any) => void) => { // eslint-disable-line @typescript-eslint/no-explicit-any -- any run file, edited by hand
  const j = JSON.parse(read(dir, f));
  change(j);
  fs.writeFileSync(path.join(dir, f), JSON.stringify(j));
};
const RESUME = ['train', '--quiet', '--set', 'train.epochs=3', '--resume'];
const READERS = [['sample', '--out', 'x.png'], ['eval', '--samples', '2', '--limit', '20'], ['export', '--out', 'exported']];
const EVERY = [
  ...READERS,
  ['encode', '--split', 'test', '--limit', '2'],
  ['reconstruct', '--split', 'test', '--limit', '2', '--out', 'x.png'],
  ['decode', '--in', 'latents.txt', '--out', 'x.png'],
  ['explore', '--port', '0', '--limit', '20'],
  RESUME,
];

test('checkpoint.json truncated: every command that reads runs, and --resume, name it and change nothing', () => {
  fs.writeFileSync(path.join(work, 'latents.txt'), '0 0 0\n');
  refusedUnchanged('ck-truncated', (dir) => fs.writeFileSync(path.join(dir, 'checkpoint.json'), read(dir, 'checkpoint.json').slice(0, 900)), EVERY, 'checkpoint.json', /checkpoint\.json is not valid JSON/);
  for (const f of ['x.png', 'exported']) assert.equal(fs.existsSync(path.join(work, f)), false, `${f} was written`);
});

test('checkpoint.json edited by hand (values of the wrong kind or out of range): refused naming the field', () => {
  for (const [name, change, re] of [
    ['ck-epoch', (j: any) => (j.meta.epoch = 'three'), /damaged or was edited: meta\.epoch: expected number, received string \(restore the run from a copy, or train it again\)$/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['ck-hidden', (j: any) => (j.meta.model.hidden = 'abc'), /meta\.model\.hidden: expected array, received string/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['ck-shape', (j: any) => (j.tensors[0].shape = 'x'), /tensors\.0\.shape: expected array/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['ck-rng', (j: any) => (j.meta.rng = { eps: 'x' }), /meta\.rng\.eps: expected object/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['ck-adam', (j: any) => (j.meta.optimizer.t = -1), /meta\.optimizer\.t: expected number to be >=0/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['ck-latent', (j: any) => (j.meta.model.latentDim = 5), /config\.json does not match the model in .*checkpoint\.json: model\.latentDim is 3 there, 5 in the checkpoint/], // eslint-disable-line @typescript-eslint/no-explicit-any
  ] as const) {
    refusedUnchanged(name, (dir) => editJson(dir, 'checkpoint.json', change), [...READERS.slice(0, 2), RESUME], 'checkpoint.json', re);
  }
});

test('best/checkpoint.json garbled: --best readers and --resume (which replaces best/) refuse it', () => {
  refusedUnchanged('ck-best', (dir) => fs.writeFileSync(path.join(dir, 'best', 'checkpoint.json'), '{"format":'), [['sample', '--best', '--out', 'x.png'], RESUME], 'best/checkpoint.json', /best\/checkpoint\.json is not valid JSON/);
});

test('metrics.jsonl: a torn last line, garbage in the middle or a missing epoch is refused by --resume, naming the line; readers do not need it', () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    ['m-torn', (dir) => fs.writeFileSync(path.join(dir, 'metrics.jsonl'), read(dir, 'metrics.jsonl').slice(0, -40)), /metrics\.jsonl is damaged or was edited: line 2 is not valid JSON \(.*\) \(restore it from a copy, or delete it to resume without the earlier epochs' records\)$/],
    ['m-middle', (dir) => fs.writeFileSync(path.join(dir, 'metrics.jsonl'), read(dir, 'metrics.jsonl').replace(/^.*\n/, 'garbage{\n')), /line 1 is not valid JSON/],
    ['m-record', (dir) => fs.writeFileSync(path.join(dir, 'metrics.jsonl'), read(dir, 'metrics.jsonl').replace(/^.*\n/, '[1, 2]\n')), /line 1 is not an epoch's record/],
    ['m-missing', (dir) => fs.writeFileSync(path.join(dir, 'metrics.jsonl'), read(dir, 'metrics.jsonl').split('\n')[0] + '\n'), /it records epoch 1, but the checkpoint is at epoch 2, so it should record epochs 1 to 2/],
  ];
  for (const [name, harm, re] of cases) refusedUnchanged(name, harm, [RESUME], 'metrics.jsonl', re);
  assert.equal(vae(['sample', '--run', 'm-torn', '--out', 'm.png']).code, 0, 'sample does not read metrics.jsonl');
  // The way out the message gives: without the file, the run resumes.
  fs.rmSync(path.join(work, 'm-torn', 'metrics.jsonl'));
  const r = vae([...RESUME, 'm-torn']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(read(path.join(work, 'm-torn'), 'metrics.jsonl').trim().split('\n').length, 1, 'the new epoch only');
});

test('config.json truncated or edited: refused by readers and --resume, naming it', () => {
  refusedUnchanged('c-truncated', (dir) => fs.writeFileSync(path.join(dir, 'config.json'), read(dir, 'config.json').slice(0, 300)), [...READERS, RESUME], 'config.json', /config\.json is not valid JSON/);
  refusedUnchanged('c-range', (dir) => editJson(dir, 'config.json', (j) => (j.model.latentDim = -1)), [READERS[0], RESUME], 'config.json', /config\.json: 'model\.latentDim' .* got -1/);
  refusedUnchanged('c-model', (dir) => editJson(dir, 'config.json', (j) => (j.model.hidden = [64])), [READERS[0], RESUME], 'config.json', /config\.json does not match the model in .*: model\.hidden is \[64\] there, \[32\] in the checkpoint/);
});

test('run.json truncated or edited: refused by the commands that read it and by --resume (which adds to it)', () => {
  // image files are prepared by the recipe run.json records
  fs.copyFileSync(new URL('../fixtures/shapes/circle/00.png', import.meta.url), path.join(work, 'circle.png'));
  const readers = [['reconstruct', 'circle.png', '--out', 'x.png'], ['export', '--out', 'exported'], RESUME];
  refusedUnchanged('r-truncated', (dir) => fs.writeFileSync(path.join(dir, 'run.json'), read(dir, 'run.json').slice(0, 100)), readers, 'run.json', /run\.json is damaged or was edited: not valid JSON/);
  refusedUnchanged('r-array', (dir) => fs.writeFileSync(path.join(dir, 'run.json'), '[]'), readers, 'run.json', /run\.json is damaged or was edited: not a JSON object/);
  refusedUnchanged('r-prepare', (dir) => editJson(dir, 'run.json', (j) => (j.prepare = 'bogus')), readers, 'run.json', /prepare is "bogus", not one of mnist, fashion-mnist, resize/);
  // A run without run.json (it only informs) still reads and resumes.
  const dir = copyRun('r-none');
  fs.rmSync(path.join(dir, 'run.json'));
  assert.equal(vae(['reconstruct', 'circle.png', '--run', 'r-none', '--out', 'r.png']).code, 0);
});
