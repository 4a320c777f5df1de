/**
 * The fused WebGPU engine (src/engine/webgpu) against the tfjs cpu backend, on SwiftShader when
 * the machine has no GPU (scripts/software-vulkan.sh; without it these tests skip and say why):
 *  - several training steps from the same weights with the same batches and noise (the engine's
 *    own counter-based draws, reproduced in JavaScript) give the same statistics, gradients and
 *    weights, for each likelihood, activation and objective the engine runs;
 *  - the engine's gradient agrees with finite differences of its own loss, for every parameter
 *    (so every backward kernel is checked on its own);
 *  - the reference config runs at most 25 dispatches per step and 1/16 submits per step;
 *  - `vae train --backend webgpu` runs the engine (and says so), falls back with a reason, and
 *    `vae sample` / `vae eval` / `--resume` on cpu read what it wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { softwareVulkan } from '../webgpu-env.js';
import { runMetrics, runVae } from '../bin.js';

const vk = softwareVulkan();
const skip = 'skip' in vk ? vk.skip : false;
const env = 'env' in vk ? vk.env : {};
const STEPS = fileURLToPath(new URL('./fused-steps.ts', import.meta.url));

function child(overrides: object, mode = 'compare') {
  const r = spawnSync(process.execPath, ['--import', 'tsx', STEPS, JSON.stringify(overrides), mode], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** The largest difference, relative to max(1, |a|). */
function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
  return m;
}

const cases: [string, object][] = [
  ['relu, bernoulli, dynamic binarisation', {}],
  ['tanh, two hidden layers, gradient clipping, cosine schedule, KL warm-up', { model: { activation: 'tanh', hidden: [16, 8] }, train: { gradClip: 0.5, lrSchedule: 'cosine', epochs: 2, warmupEpochs: 1 } }],
  ['elu, static binarisation, beta, free bits', { model: { activation: 'elu' }, data: { binarize: 'static' }, train: { beta: 2, freeBits: 0.02 } }],
  ['leaky_relu, gaussian with fixed sigma, float32 images', { model: { activation: 'leaky_relu', likelihood: 'gaussian', sigma: 0.3 }, greyscale: false }],
  ['gaussian with a learned sigma, step schedule', { model: { likelihood: 'gaussian', sigma: 'learned' }, train: { lrSchedule: 'step', lrStepEpochs: 1, lrDecay: 0.5 } }],
  ['gaussian with learned per-pixel sigma, no hidden layer, exponential schedule', { model: { likelihood: 'gaussian', sigma: 'learned-per-pixel', hidden: [] }, train: { lrSchedule: 'exponential', lrStepEpochs: 1, lrDecay: 0.5 } }],
];

for (const [name, overrides] of cases) {
  test(`fused engine trains like cpu: ${name}`, { skip }, () => {
    const r = child(overrides);
    const { cpu, engine } = r;
    assert.equal(engine.stats.length, cpu.stats.length);
    for (let s = 0; s < cpu.stats.length; s++) {
      assert.ok(engine.stats[s].every(Number.isFinite), `step ${s}: ${engine.stats[s]}`);
      const d = maxDiff(cpu.stats[s], engine.stats[s]);
      assert.ok(d < 2e-5, `step ${s} statistics differ by ${d}: cpu ${cpu.stats[s]} engine ${engine.stats[s]}`);
    }
    for (const [p, g] of Object.entries(cpu.grads as Record<string, number[]>)) {
      const d = maxDiff(g, engine.grads[p]);
      assert.ok(d < 1e-4, `the first step's gradient of ${p} differs by ${d}`);
    }
    for (const [p, values] of Object.entries(cpu.params as Record<string, number[]>)) {
      const d = maxDiff(values, engine.params[p]);
      assert.ok(d < 1e-4, `${p} differs by ${d} after ${cpu.stats.length} steps`);
    }
    assert.equal(engine.adamT, cpu.stats.length, "Adam's step count travels back");
    assert.equal(engine.moments, 2 * Object.keys(cpu.params).length, "Adam's moments travel back for every parameter");
    assert.equal(engine.counts.dispatches, engine.counts.steps * engine.kernels.length, 'one dispatch per kernel per step');
    assert.equal(engine.counts.dawnDispatches, engine.counts.dispatches, "Dawn's own count agrees");
  });
}

for (const [name, overrides] of [
  ['tanh, bernoulli, clipping', { model: { activation: 'tanh', hidden: [12, 8] }, train: { gradClip: 100 } }],
  ['elu, gaussian with learned per-pixel sigma, free bits', { model: { activation: 'elu', likelihood: 'gaussian', sigma: 'learned-per-pixel' }, train: { freeBits: 0.01, beta: 0.5 } }],
  ['tanh, gaussian with a learned global sigma, two hidden layers', { model: { activation: 'tanh', likelihood: 'gaussian', sigma: 'learned', hidden: [12, 10] } }],
] as [string, object][]) {
  test(`fused engine gradient = finite differences of its own loss: ${name}`, { skip }, () => {
    const { checks } = child(overrides, 'fd');
    const names = new Set<string>();
    for (const c of checks as { name: string; index: number; analytic: number; numeric: number }[]) {
      names.add(c.name);
      const tol = 2e-3 + 2e-2 * Math.abs(c.numeric);
      assert.ok(Math.abs(c.analytic - c.numeric) < tol, `${c.name}[${c.index}]: engine ${c.analytic}, finite differences ${c.numeric}`);
    }
    assert.ok(names.size >= 10, `every parameter checked: ${[...names].join(', ')}`);
  });
}
