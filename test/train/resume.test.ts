/**
 * Resume, signals and crash safety, through the real binary on a small, fast config (cpu backend).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { BIN, runMetrics, runVae } from '../support/bin.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-resume-'));
const SMALL = ['--backend', 'cpu', '--quiet', '--set', 'data.limit=2048', '--set', 'data.validation=200', '--set', 'model.hidden=[64]', '--set', 'model.latentDim=4', '--set', 'train.batchSize=16'];

const vae = (args: string[]) => runVae(args, { cwd: work });

const metrics = (dir: string) => runMetrics(path.join(work, dir));

const weightsSha = (dir: string) => JSON.parse(fs.readFileSync(path.join(work, dir, 'checkpoint.json'), 'utf8')).sha256 as string;

/** Start training, send `signal` once the first epoch's checkpoint exists plus `delayMs`, wait for exit. */
function trainAndSignal(out: string, signal: NodeJS.Signals, delayMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'train', ...SMALL, '--set', 'train.epochs=3', '--out', out], { cwd: work });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      if (fs.existsSync(path.join(work, out, 'checkpoint.json'))) {
        clearInterval(poll);
        setTimeout(() => child.kill(signal), delayMs);
      }
    }, 20);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, stderr });
    });
  });
}

let reference: ReturnType<typeof metrics>;

test('an uninterrupted reference run', () => {
  const r = vae(['train', ...SMALL, '--set', 'train.epochs=3', '--out', 'ref']);
  assert.equal(r.code, 0, r.stderr);
  reference = metrics('ref');
  assert.equal(reference.length, 3);
});

test('resume at an epoch boundary continues exactly (cpu): same metrics, same weights and optimiser state', () => {
  assert.equal(vae(['train', ...SMALL, '--set', 'train.epochs=1', '--out', 'boundary']).code, 0);
  const r = vae(['train', '--resume', 'boundary', '--set', 'train.epochs=3', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(metrics('boundary'), reference);
  assert.equal(weightsSha('boundary'), weightsSha('ref'));
});

test('Ctrl-C part-way through an epoch saves a checkpoint, exits 130, and resumes exactly', async () => {
  const r = await trainAndSignal('interrupted', 'SIGINT', 300);
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /stopped by SIGINT in epoch \d+, step \d+ of 128; checkpoint saved in interrupted/);
  assert.match(r.stderr, /resume with: vae train --resume interrupted/);
  const meta = JSON.parse(fs.readFileSync(path.join(work, 'interrupted', 'checkpoint.json'), 'utf8')).meta;
  assert.ok(meta.epoch < 3);
  const resumed = vae(['train', '--resume', 'interrupted', '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(metrics('interrupted'), reference);
  assert.equal(weightsSha('interrupted'), weightsSha('ref'));
});

/** Start training and SIGKILL it as soon as `ready(dir)` holds; resolves when it has exited. */
async function trainAndKill(out: string, extra: string[], ready: (dir: string) => boolean): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'train', ...SMALL, '--set', 'train.epochs=3', ...extra, '--out', out], { cwd: work, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const dir = path.join(work, out);
  while (child.exitCode === null && !ready(dir)) await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGKILL');
  await exited;
}

const manifestMeta = (dir: string) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8')).meta;
  } catch {
    return null;
  }
};

test('kill -9 in the first epoch after a timed checkpoint (train.checkpointMinutes): the run reads, and resumes exactly (cpu)', async () => {
  // A checkpoint every 0.1 s of training; killed at the first one, part-way through epoch 1.
  await trainAndKill('timed', ['--set', 'train.checkpointMinutes=0.0017'], (dir) => manifestMeta(dir)?.partial != null);
  const meta = manifestMeta(path.join(work, 'timed'));
  assert.equal(meta.epoch, 0);
  assert.ok(meta.partial.stepInEpoch > 0 && meta.partial.stepInEpoch < 128);
  assert.equal(vae(['sample', '--run', 'timed', '--n', '4', '--out', 'timed.png']).code, 0);
  const best = vae(['sample', '--run', 'timed', '--best', '--out', 'timed.png']);
  assert.equal(best.code, 2);
  assert.match(best.stderr, /^vae: timed has no best checkpoint yet: it has not finished an epoch \(leave out --best/);
  // The time budget may change on resume.
  const r = vae(['train', '--resume', 'timed', '--set', 'train.checkpointMinutes=5', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(metrics('timed'), reference);
  assert.equal(weightsSha('timed'), weightsSha('ref'));
});

test('kill -9 before the first checkpoint: every command that reads runs says so, and --resume starts it again cleanly', async () => {
  await trainAndKill('early', [], (dir) => fs.existsSync(path.join(dir, 'run.json')));
  assert.ok(!fs.existsSync(path.join(work, 'early', 'checkpoint.json')));
  const expected = /^vae: early stopped before its first checkpoint \(`vae train --resume early` starts it again\)\n$/;
  for (const args of [['sample', '--out', 'early.png'], ['eval', '--samples', '0'], ['encode', '--split', 'test', '--limit', '2'], ['reconstruct', '--split', 'test', '--out', 'early.png'], ['decode', '--out', 'early.png']]) {
    const r = vae([...args, '--run', 'early']);
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, expected, args[0]);
  }
  // In a folder whose only run has no checkpoint, the latest run is that one, named.
  const only = path.join(work, 'only');
  fs.mkdirSync(path.join(only, 'runs'), { recursive: true });
  fs.cpSync(path.join(work, 'early'), path.join(only, 'runs', 'early'), { recursive: true });
  const latest = runVae(['sample', '--out', 'x.png'], { cwd: only });
  assert.equal(latest.code, 2);
  assert.match(latest.stderr, /^vae: runs\/early stopped before its first checkpoint \(`vae train --resume runs\/early` starts it again\)/);
  const restarted = runVae(['train', '--resume', '--quiet'], { cwd: only });
  assert.equal(restarted.code, 0, restarted.stderr);
  assert.deepEqual(runMetrics(path.join(only, 'runs', 'early')), reference);
});

test('SIGTERM stops cleanly with exit code 143', async () => {
  const r = await trainAndSignal('terminated', 'SIGTERM', 100);
  assert.equal(r.code, 143, r.stderr);
  assert.match(r.stderr, /stopped by SIGTERM/);
  assert.equal(vae(['sample', '--run', 'terminated', '--out', 'terminated.png']).code, 0);
});

test('resuming with an unsafe config change is refused, listing what differs', () => {
  const r = vae(['train', '--resume', 'ref', '--set', 'model.latentDim=8', '--set', 'train.learningRate=0.01', '--set', 'train.epochs=5']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot resume ref with a changed config: model.latentDim 4 -> 8, train.learningRate 0.001 -> 0.01/);
  assert.match(r.stderr, /only train.epochs, train.logEvery, .* may change on resume/);
  const done = vae(['train', '--resume', 'ref']);
  assert.equal(done.code, 2);
  assert.match(done.stderr, /already trained 3 of 3 epochs.*--set train.epochs=13/);
});

test('chaos: SIGKILL at random moments never leaves a run that cannot be read or resumed', async () => {
  const trials = 8;
  let withCheckpoint = 0;
  for (let t = 0; t < trials; t++) {
    const out = `chaos-${t}`;
    const child = spawn(process.execPath, [BIN, 'train', ...SMALL, '--set', 'train.epochs=2', '--out', out], { cwd: work, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // A quarter of the kills land during start-up; the rest at a random moment after the first
    // checkpoint appears (the second epoch, its validation and its checkpoint writes).
    let delay: number;
    if (t % 4 === 0) {
      delay = 100 + Math.floor(Math.random() * 600);
      await new Promise((resolve) => setTimeout(resolve, delay));
    } else {
      const ckpt = path.join(work, out, 'checkpoint.json');
      while (!fs.existsSync(ckpt) && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 10));
      delay = Math.floor(Math.random() * 2500);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    child.kill('SIGKILL');
    await exited;
    const dir = path.join(work, out);
    const leftovers = fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => /\.tmp-/.test(f)) : [];
    if (!fs.existsSync(path.join(dir, 'checkpoint.json'))) {
      // Killed before the first checkpoint: commands must say so plainly.
      if (fs.existsSync(path.join(dir, 'config.json'))) {
        const s = vae(['sample', '--run', out, '--out', `${out}.png`]);
        assert.equal(s.code, 2);
        assert.match(s.stderr, new RegExp(`^vae: ${out} stopped before its first checkpoint \\(\`vae train --resume ${out}\` starts it again\\)`));
      }
      continue;
    }
    withCheckpoint++;
    const s = vae(['sample', '--run', out, '--n', '4', '--out', `${out}.png`]);
    assert.equal(s.code, 0, `trial ${t} (killed ${delay} ms in): sample failed: ${s.stderr}`);
    assert.equal((await sharp(path.join(work, `${out}.png`)).metadata()).format, 'png');
    const e = vae(['eval', '--run', out, '--samples', '2', '--limit', '50', '--json']);
    assert.equal(e.code, 0, `trial ${t}: eval failed: ${e.stderr}`);
    assert.ok(Number.isFinite(JSON.parse(e.stdout.toString()).elbo));
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8')).meta;
    if (meta.epoch < 2) {
      const r = vae(['train', '--resume', out, '--quiet']);
      assert.equal(r.code, 0, `trial ${t}: resume failed: ${r.stderr}`);
      assert.equal(metrics(out).length, 2);
    }
    // Temporary files from the killed writer may remain, but never a half-written real file.
    for (const f of leftovers) assert.match(path.basename(f), /^\..*\.tmp-\d+-[0-9a-f]+$/);
  }
  assert.ok(withCheckpoint >= (trials * 3) / 4, `only ${withCheckpoint} of ${trials} trials reached a checkpoint`);
});

test('a second Ctrl-C quits at once, and the run is still readable', async () => {
  const out = 'twice';
  const child = spawn(process.execPath, [BIN, 'train', ...SMALL, '--set', 'train.epochs=3', '--out', out], { cwd: work });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  while (!fs.existsSync(path.join(work, out, 'checkpoint.json'))) await new Promise((resolve) => setTimeout(resolve, 10));
  child.kill('SIGINT');
  await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGINT');
  assert.equal(await exited, 130);
  assert.match(stderr, /SIGINT: finishing the current step/);
  assert.match(stderr, /SIGINT again: quitting now; the last checkpoint is intact/);
  assert.equal(vae(['sample', '--run', out, '--out', `${out}.png`]).code, 0);
  const r = vae(['train', '--resume', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});
