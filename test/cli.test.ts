/**
 * End to end through the real `vae` binary (bin/vae.js over dist/, built by `npm test`),
 * in a temporary working directory, as a user would run it.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { BIN, runVae } from './support/bin.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-e2e-'));
const vae = (args: string[], opts: { cwd?: string } = {}) => runVae(args, { cwd: opts.cwd ?? work });

let runDir = '';

before(() => {
  const r = vae(['train', '--config', 'mnist.json', '--set', 'data.limit=512', '--set', 'data.validation=500', '--set', 'train.epochs=1']);
  assert.equal(r.code, 0, r.stderr);
  const runs = fs.readdirSync(path.join(work, 'runs'));
  assert.equal(runs.length, 1);
  runDir = path.join(work, 'runs', runs[0]);
  assert.equal(r.stdout.length, 0, 'train must print nothing on stdout');
  // auto: tensorflow where `vae setup tensorflow` has run (it measured faster), else wasm
  assert.match(r.stderr, /backend: (tensorflow|wasm) - /);
  assert.match(runs[0], /^mnist-\d{8}-\d{6}$/);
});

test('train writes a self-describing run directory', () => {
  for (const f of ['config.json', 'run.json', 'checkpoint.json', 'metrics.jsonl', 'best/checkpoint.json', 'samples/epoch-001.png', 'recon/epoch-001.png']) {
    assert.ok(fs.existsSync(path.join(runDir, f)), `missing ${f}`);
  }
  const lines = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  const m = JSON.parse(lines[0]);
  assert.equal(m.epoch, 1);
  assert.equal(m.step, 4);
  assert.ok(m.train.elbo < 0 && m.train.kl > 0 && Math.abs(m.train.elbo - (m.train.recon - m.train.kl)) < 1e-6);
  assert.equal(m.val.n, 500);
  const run = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
  assert.ok(['tensorflow', 'wasm'].includes(run.backend.name), run.backend.name);
  assert.ok(run.versions['@tensorflow/tfjs-core']);
  const cfg = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
  assert.equal(cfg.data.limit, 512);
  assert.equal(cfg.model.latentDim, 20);
});

test('preview PNGs are valid images of the expected size', async () => {
  const s = await sharp(path.join(runDir, 'samples', 'epoch-001.png')).metadata();
  assert.equal(s.format, 'png');
  assert.equal(s.width, (8 * 28 + 9 * 2) * 2);
  const r = await sharp(path.join(runDir, 'recon', 'epoch-001.png')).metadata();
  assert.equal(r.width, (8 * 28 + 9 * 2) * 2);
  assert.equal(r.height, (4 * 28 + 5 * 2) * 2);
});

test('sample --out writes a PNG grid of the right size', async () => {
  const out = path.join(work, 'grid.png');
  const r = vae(['sample', '--n', '64', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 8 * 28 + 9 * 2);
  assert.equal(meta.height, 8 * 28 + 9 * 2);
  const { data } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  assert.ok(new Set(data).size > 10, 'the grid should not be blank');
});

test('sample to stdout writes PNG bytes only', async () => {
  const r = vae(['sample', '--n', '10', '--cols', '5', '--run', runDir]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...r.stdout.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const meta = await sharp(r.stdout).metadata();
  assert.equal(meta.width, 5 * 28 + 6 * 2);
  assert.equal(meta.height, 2 * 28 + 3 * 2);
  const again = vae(['sample', '--n', '10', '--cols', '5', '--run', runDir]);
  assert.ok(again.stdout.equals(r.stdout), 'same seed, same picture');
});

test('sample refuses to write PNG bytes to a terminal', (t) => {
  let hasScript = true;
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
  } catch {
    hasScript = false;
  }
  if (!hasScript) return t.skip('util-linux `script` is not installed, so no pseudo-terminal can be made');
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} sample --n 4; echo "exit=$?"`;
  const out = execFileSync('script', ['-qec', cmd, '/dev/null'], { cwd: work }).toString();
  assert.match(out, /refusing to write PNG bytes to the terminal/);
  assert.match(out, /vae sample --n 4 > grid.png/);
  assert.match(out, /exit=2/);
  assert.doesNotMatch(out, /PNG\r?\n/);
});

test('eval --json prints every number on stdout, repeatably', () => {
  const args = ['eval', '--json', '--limit', '300', '--samples', '20', '--split', 'test,val'];
  const r = vae(args);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((x) => x.split), ['test', 'val']);
  for (const x of rows) {
    for (const k of ['split', 'n', 'elbo', 'recon', 'kl', 'nll', 'samples', 'nllStdErr', 'activeUnits', 'activeDims', 'bitsPerDim', 'klPerDim', 'muVariance']) {
      assert.ok(k in x, `missing ${k}`);
    }
    assert.equal(x.n, 300);
    assert.equal(x.samples, 20);
    assert.ok(x.elbo < 0 && x.kl > 0 && x.recon < 0);
    assert.ok(Math.abs(x.elbo - (x.recon - x.kl)) < 1e-6);
    assert.ok(x.nll > 0 && x.nll <= -x.elbo + 3 * x.nllStdErr, `NLL ${x.nll} vs -ELBO ${-x.elbo}`);
    assert.ok(Math.abs(x.bitsPerDim - x.nll / (784 * Math.LN2)) < 1e-9);
    assert.equal(x.klPerDim.length, 20);
    assert.equal(x.activeUnits, x.activeDims.length);
  }
  const again = vae(args);
  assert.equal(again.stdout.toString().replace(/"seconds":[\d.e-]+/g, ''), r.stdout.toString().replace(/"seconds":[\d.e-]+/g, ''), 'evaluation is repeatable');
});

test('eval prints tables on stderr and nothing on stdout', () => {
  const r = vae(['eval', '--limit', '200', '--samples', '5', '--per-dim']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.length, 0);
  for (const col of ['split', 'ELBO', 'recon', 'KL', 'L_5', 'NLL', 's.e.', 'active units', 'bits/dim', 'test', 'KL per latent dimension', 'Var_x']) {
    assert.ok(r.stderr.includes(col), `missing '${col}' in\n${r.stderr}`);
  }
});

test('a bare config name works from any folder', () => {
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-elsewhere-'));
  const r = vae(['train', '--config', 'mnist', '--set', 'train.epochs=0'], { cwd: elsewhere });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /mnist\.json: 'train.epochs'|with --set: 'train.epochs'/);
  assert.equal(fs.existsSync(path.join(elsewhere, 'runs')), false, 'a refused run writes nothing');
});

const BAD: [string, string[], RegExp][] = [
  ['missing config file', ['train', '--config', 'nope.json'], /config file 'nope.json' not found/],
  ['unknown key', ['train', '--set', 'model.latentDims=3'], /unknown key 'model.latentDims'.*did you mean 'model.latentDim'/],
  ['--set without =', ['train', '--set', 'train.epochs'], /--set expects section.key=value/],
  ['unknown command', ['trian'], /unknown command 'trian'.*did you mean train/],
  ['unknown option', ['sample', '--seeed', '3'], /unknown option '--seeed'.*did you mean --seed/],
  ['missing run directory', ['sample', '--run', 'no/such/run'], /run directory 'no\/such\/run' does not exist/],
  ['--n 0', ['sample', '--n', '0'], /--n must be between 1 and 4096, got 0/],
  ['--n huge', ['sample', '--n', '100000'], /--n must be between 1 and 4096/],
  ['--n not a number', ['sample', '--n', 'ten'], /--n must be a whole number, got 'ten'/],
  ['output folder missing', ['sample', '--out', 'nowhere/grid.png'], /the folder .*nowhere does not exist/],
  ['backend not installed', ['train', '--backend', 'cuda'], /backend 'cuda' is unavailable: @tensorflow\/tfjs-node-gpu is not installed/],
  ['unknown backend', ['eval', '--backend', 'tpu'], /unknown backend 'tpu'/],
  ['unknown split', ['eval', '--split', 'tset'], /unknown split 'tset'/],
];

for (const [name, args, re] of BAD) {
  test(`bad input: ${name} -> one clear line, exit 2, no stack trace`, () => {
    const r = vae(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('vae:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout.length, 0);
  });
}

test('no run yet: sample and eval say how to get one', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-empty-'));
  for (const cmd of ['sample', 'eval']) {
    const r = vae([cmd, '--out', 'x.png'].slice(0, cmd === 'sample' ? 3 : 1), { cwd: empty });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no trained run found under \.\/runs.*vae train --config mnist.json/);
    assert.equal(fs.existsSync(path.join(empty, 'x.png')), false);
  }
});

test('--verbose shows the stack trace of an error', () => {
  const r = vae(['sample', '--run', 'no/such/run', '--verbose']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\n\s+at /);
});

test('bench runs training steps and reports them (a smoke test, not a timing assertion)', () => {
  const r = vae(['bench', '--backend', 'cpu', '--steps', '2', '--warmup', '1', '--json', '--set', 'model.hidden=[32]']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.toString());
  assert.equal(out.rows.length, 1);
  const row = out.rows[0];
  assert.equal(row.backend, 'cpu');
  assert.equal(row.batch, 128);
  assert.ok(row.msPerStep > 0 && row.examplesPerSec > 0 && row.kernelsPerStep > 10);
  assert.equal(row.netTensorsPerStep, 0, 'a training step leaves no tensors behind');
  assert.equal(out.torch, null);
});

test('--help and --version exit 0', () => {
  const h = vae(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout.toString(), /train/);
  const v = vae(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout.toString(), /^\d+\.\d+\.\d+/);
});
