/**
 * The CPU engine (wasm backend, MLP unless said) through the real binary: it says it runs, a run resumes
 * exactly on it (at an epoch boundary, after Ctrl-C part-way through an epoch, after kill -9
 * following a timed mid-epoch checkpoint; a conv model with batch norm at an epoch boundary),
 * and its runs read on the cpu backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, runMetrics, runVae } from '../support/bin.js';
import { skipWithoutOrt } from '../support/ort.js';

const skip = await skipWithoutOrt();

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-engine-resume-'));
const SMALL = ['--backend', 'wasm', '--set', 'data.limit=2048', '--set', 'data.validation=200', '--set', 'model.hidden=[64]', '--set', 'model.latentDim=4', '--set', 'train.batchSize=16'];
const vae = (args: string[]) => runVae(args, { cwd: work });
const metrics = (dir: string) => runMetrics(path.join(work, dir));
const weightsSha = (dir: string) => JSON.parse(fs.readFileSync(path.join(work, dir, 'checkpoint.json'), 'utf8')).sha256 as string;
const meta = (dir: string) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(work, dir, 'checkpoint.json'), 'utf8')).meta;
  } catch {
    return null;
  }
};

/** Starts training; `act(child)` once `ready()` holds; resolves with the exit code and stderr. */
function trainUntil(out: string, extra: string[], ready: () => boolean, act: (child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'train', ...SMALL, '--set', 'train.epochs=3', ...extra, '--out', out], { cwd: work });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      if (ready()) {
        clearInterval(poll);
        act(child);
      }
    }, 5);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, stderr });
    });
  });
}

let reference: ReturnType<typeof metrics>;

test('the engine trains and says so; the run reads on cpu', { skip }, () => {
  const r = vae(['train', ...SMALL, '--set', 'train.epochs=3', '--out', 'ref']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^engine: onnxruntime on \d+ CPU threads?, one \d+-node graph per step \(onnxruntime's C API\), Adam in wasm$/m);
  reference = metrics('ref');
  assert.equal(reference.length, 3);
  // a second run from the same seed is the same run
  assert.equal(vae(['train', ...SMALL, '--set', 'train.epochs=3', '--quiet', '--out', 'again']).code, 0);
  assert.deepEqual(metrics('again'), reference);
  assert.equal(weightsSha('again'), weightsSha('ref'));
  const e = vae(['eval', '--run', 'ref', '--backend', 'cpu', '--samples', '0', '--json']);
  assert.equal(e.code, 0, e.stderr);
});

test('engine: resume at an epoch boundary continues exactly', { skip }, () => {
  assert.equal(vae(['train', ...SMALL, '--quiet', '--set', 'train.epochs=1', '--out', 'boundary']).code, 0);
  const r = vae(['train', '--resume', 'boundary', '--backend', 'wasm', '--set', 'train.epochs=3', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(metrics('boundary'), reference);
  assert.equal(weightsSha('boundary'), weightsSha('ref'));
});

test('engine: Ctrl-C part-way through an epoch saves a checkpoint, exits 130, and resumes exactly', { skip }, async () => {
  const r = await trainUntil('interrupted', [], () => meta('interrupted') !== null, (child) => setTimeout(() => child.kill('SIGINT'), 300));
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /stopped by SIGINT in epoch \d+, step \d+ of 128; checkpoint saved in interrupted/);
  const resumed = vae(['train', '--resume', 'interrupted', '--backend', 'wasm', '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(metrics('interrupted'), reference);
  assert.equal(weightsSha('interrupted'), weightsSha('ref'));
});

test('engine: kill -9 after a timed mid-epoch checkpoint; the run resumes exactly', { skip }, async () => {
  await trainUntil('timed', ['--quiet', '--set', 'train.checkpointMinutes=0.0017'], () => meta('timed')?.partial != null, (child) => child.kill('SIGKILL'));
  const m = meta('timed');
  assert.ok(Number.isInteger(m.epoch) && m.epoch >= 0 && m.epoch < 3, `killed in epoch ${m.epoch}`); // a fast machine may finish epoch 0 first
  assert.ok(m.partial.stepInEpoch > 0 && m.partial.stepInEpoch < 128);
  const r = vae(['train', '--resume', 'timed', '--backend', 'wasm', '--set', 'train.checkpointMinutes=5', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(metrics('timed'), reference);
  assert.equal(weightsSha('timed'), weightsSha('ref'));
});

test('engine: a conv model with batch norm trains on it, resumes exactly (its running averages in the checkpoint) and evaluates on it', { skip }, () => {
  const conv = [...SMALL, '--set', 'data.limit=512', '--set', 'model.arch=conv', '--set', 'model.convChannels=[4,8]', '--set', 'model.hidden=[16]', '--set', 'model.batchNorm=true'];
  const whole = vae(['train', ...conv, '--set', 'train.epochs=2', '--out', 'bn']);
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stderr, /^engine: onnxruntime on /m);
  assert.doesNotMatch(whole.stderr, /W:onnxruntime/, "onnxruntime's own warnings stay off the user's terminal");
  assert.equal(vae(['train', ...conv, '--set', 'train.epochs=1', '--quiet', '--out', 'bn-resumed']).code, 0);
  const r = vae(['train', '--resume', 'bn-resumed', '--backend', 'wasm', '--set', 'train.epochs=2', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(metrics('bn-resumed'), metrics('bn'));
  assert.equal(weightsSha('bn-resumed'), weightsSha('bn'));
  const e = vae(['eval', '--run', 'bn', '--backend', 'wasm', '--samples', '5', '--limit', '20']);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /^sampler: onnxruntime .*\(the CPU engine\)$/m);
  assert.doesNotMatch(e.stderr, /W:onnxruntime/, "onnxruntime's own warnings stay off the user's terminal");
});

test('VAE_CPU_ENGINE=tfjs trains op by op, saying why; the logistic likelihood and IWAE run on the engine', { skip }, () => {
  const off = runVae(['train', ...SMALL, '--set', 'train.epochs=1', '--set', 'data.limit=256', '--out', 'off'], { cwd: work, env: { ...process.env, VAE_CPU_ENGINE: 'tfjs' } });
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stderr, /^engine: tfjs-wasm, op by op \(the CPU engine does not run this config: VAE_CPU_ENGINE=tfjs\)$/m);
  const logistic = vae(['train', ...SMALL, '--set', 'train.epochs=1', '--set', 'data.limit=256', '--set', 'model.likelihood=logistic', '--out', 'logistic']);
  assert.equal(logistic.code, 0, logistic.stderr);
  assert.match(logistic.stderr, /^engine: onnxruntime on /m, 'the logistic likelihood runs on the engine');
  const iw = vae(['train', ...SMALL, '--set', 'train.epochs=1', '--set', 'data.limit=256', '--set', 'train.iwSamples=2', '--out', 'iw']);
  assert.equal(iw.code, 0, iw.stderr);
  assert.match(iw.stderr, /^engine: onnxruntime on /m, 'IWAE runs on the engine');
  const cpu = vae(['train', ...SMALL.map((a) => (a === 'wasm' ? 'cpu' : a)), '--set', 'train.epochs=1', '--set', 'data.limit=256', '--out', 'cpu']);
  assert.equal(cpu.code, 0, cpu.stderr);
  assert.doesNotMatch(cpu.stderr, /engine:/);
});

test('vae backends names the CPU engine; vae bench times it and says what it runs on', { skip }, () => {
  const b = vae(['backends']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /^CPU engine: onnxruntime \d+\.\d+\.\d+, \d+ threads?\n  on wasm and tensorflow, one call per training step \(MLP and conv models, every\n  likelihood/m);
  const bench = vae(['bench', ...SMALL, '--steps', '3', '--warmup', '1', '--json']);
  assert.equal(bench.code, 0, bench.stderr);
  const row = JSON.parse(bench.stdout.toString()).rows[0];
  assert.equal(row.backend, 'wasm (engine)', JSON.stringify(row));
  assert.match(row.device, /^onnxruntime \d+\.\d+\.\d+, \d+ threads?$/);
  assert.equal(row.kernelsPerStep, 1);
});

test('vae eval samples on the engine and gives the tfjs sampler\'s NLL', { skip }, () => {
  const args = ['eval', '--run', 'ref', '--backend', 'wasm', '--samples', '30', '--limit', '60', '--json'];
  const on = vae(args);
  assert.equal(on.code, 0, on.stderr);
  assert.match(on.stderr, /^sampler: onnxruntime \d+\.\d+\.\d+, \d+ threads? \(the CPU engine\)$/m);
  const off = runVae(args, { cwd: work, env: { ...process.env, VAE_CPU_ENGINE: 'tfjs' } });
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stderr, /^sampler: tfjs-wasm \(the CPU engine does not run this model's weights: VAE_CPU_ENGINE=tfjs\)$/m);
  const [a, b] = [on, off].map((r) => JSON.parse(r.stdout.toString().trim().split('\n')[0]));
  assert.equal(a.samples, 30);
  assert.ok(Math.abs(a.nll - b.nll) < 1e-4, `engine ${a.nll}, tfjs ${b.nll}`);
  assert.equal(a.elbo, b.elbo, 'the ELBO pass is the same tfjs pass');
});
