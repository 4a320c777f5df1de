/**
 * The webgpu backend, on a software Vulkan driver (SwiftShader) when the machine has no GPU:
 * scripts/software-vulkan.sh fetches it (`.ci/run` does). Without it these tests skip, saying why.
 * Correctness: the same training steps from the same weights, batches and noise give the same
 * statistics and weights on webgpu as on cpu, to float32 rounding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { softwareVulkan } from '../support/webgpu-env.js';
import { runVae, runMetrics } from '../support/bin.js';

const vk = softwareVulkan();
const skip = 'skip' in vk ? vk.skip : false;
const env = 'env' in vk ? vk.env : {};
const STEPS = fileURLToPath(new URL('../support/webgpu-steps.ts', import.meta.url));

interface Side {
  stats: number[][];
  params: Record<string, number[]>;
}

function steps(overrides: object): { adapter: { name: string; fallback: boolean }; backend: string; leaked: { cpu: number; webgpu: number }; cpu: Side; webgpu: Side; many: { cpu: number[]; webgpu: number[] } } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', STEPS, JSON.stringify(overrides)], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function maxRelDiff(a: number[], b: number[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
  return m;
}

const cases: [string, object][] = [
  ['mlp, bernoulli', {}],
  ['conv with batch norm', { model: { arch: 'conv', convChannels: [4, 8], batchNorm: true } }],
  // k=8 with clipping sums one gradient from more than 8 uses: tfjs's AddN needs chunking there
  ['IWAE k=8 with gradient clipping, logistic', { model: { likelihood: 'logistic' }, train: { iwSamples: 8, gradClip: 1 } }],
  ['gaussian with learned per-pixel sigma, free bits, beta', { model: { likelihood: 'gaussian', sigma: 'learned-per-pixel' }, train: { freeBits: 0.5, beta: 2 } }],
];

for (const [name, overrides] of cases) {
  test(`webgpu trains like cpu: ${name}`, { skip }, () => {
    const r = steps(overrides);
    assert.equal(r.backend, 'webgpu');
    assert.equal(r.webgpu.stats.length, 4);
    for (let s = 0; s < r.cpu.stats.length; s++) {
      assert.ok(r.webgpu.stats[s].every(Number.isFinite), `step ${s}: ${r.webgpu.stats[s]}`);
      const d = maxRelDiff(r.cpu.stats[s], r.webgpu.stats[s]);
      assert.ok(d < 1e-4, `step ${s} statistics differ by ${d}: cpu ${r.cpu.stats[s]} webgpu ${r.webgpu.stats[s]}`);
    }
    for (const [p, values] of Object.entries(r.cpu.params)) {
      const d = maxRelDiff(values, r.webgpu.params[p]);
      assert.ok(d < 1e-4, `${p} differs by ${d} after 4 steps`);
    }
    assert.equal(r.leaked.webgpu, 0, 'no tensors left behind across webgpu steps');
    // more inputs than a shader may bind: summed in chunks (465 = 1 + 2 + ... + 30)
    assert.deepEqual(r.many.webgpu, r.many.cpu);
    assert.deepEqual(r.many.cpu, Array(6).fill(465));
  });
}

test('vae train --backend webgpu: trains, reports the adapter as software, and eval/sample read the run', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-webgpu-'));
  const run = path.join(dir, 'run');
  const common = ['--config', 'folder-example.json', '--set', 'train.epochs=2', '--quiet'];
  const t = runVae(['train', ...common, '--backend', 'webgpu', '--out', run], { cwd: dir, env });
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stderr, '', 'nothing on stderr with --quiet (no Vulkan or Dawn chatter)');
  const c = runVae(['train', ...common, '--backend', 'cpu', '--out', path.join(dir, 'cpu')], { cwd: dir });
  assert.equal(c.code, 0, c.stderr);
  const [g, p] = [runMetrics(run), runMetrics(path.join(dir, 'cpu'))];
  assert.equal(g.length, 2);
  for (let e = 0; e < 2; e++) {
    assert.ok(Math.abs(g[e].val.elbo - p[e].val.elbo) < 1e-3 * Math.abs(p[e].val.elbo), `epoch ${e + 1}: webgpu ${g[e].val.elbo} cpu ${p[e].val.elbo}`);
  }
  const b = runVae(['backends', '--json'], { cwd: dir, env });
  const row = JSON.parse(b.stdout.toString()).find((x: { name: string }) => x.name === 'webgpu');
  assert.ok(row.ok && /software adapter/.test(row.device), JSON.stringify(row));
  const s = runVae(['sample', '--run', run, '--n', '4', '--backend', 'webgpu'], { cwd: dir, env });
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual([...s.stdout.subarray(1, 4)].map((x) => String.fromCharCode(x)).join(''), 'PNG', 'stdout holds only the PNG');
  const evals = ['webgpu', 'cpu'].map((backend) => {
    const ev = runVae(['eval', '--run', run, '--backend', backend, '--samples', '5', '--json'], { cwd: dir, env });
    assert.equal(ev.code, 0, ev.stderr);
    return JSON.parse(ev.stdout.toString().trim().split('\n')[0]);
  });
  for (const key of ['elbo', 'lk']) {
    assert.ok(Math.abs(evals[0][key] - evals[1][key]) < 1e-3 * Math.abs(evals[1][key]), `eval ${key}: webgpu ${evals[0][key]} cpu ${evals[1][key]}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('webgpu with no usable Vulkan driver: one clear line, exit 2', { skip: skip && !skip.includes('driver') ? skip : false }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-webgpu-'));
  const missing = path.join(dir, 'no-such-icd.json');
  const r = runVae(['train', '--config', 'folder-example.json', '--backend', 'webgpu', '--out', path.join(dir, 'run')], { cwd: dir, env: { ...env, VK_ICD_FILENAMES: missing, VK_DRIVER_FILES: missing } });
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('vae:'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /backend 'webgpu' is unavailable: Dawn found no WebGPU adapter/);
  assert.ok(!/\bat .*\.[jt]s:\d+/.test(r.stderr), 'no JavaScript stack trace (Dawn may print its own warnings)');
  assert.ok(!fs.existsSync(path.join(dir, 'run')), 'no run directory left behind');
  fs.rmSync(dir, { recursive: true, force: true });
});
