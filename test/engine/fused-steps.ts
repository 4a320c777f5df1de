/**
 * Child process of test/engine/fused.test.ts (it needs the Vulkan environment from its start):
 * runs the same training steps through the fused WebGPU engine and through the tfjs cpu
 * backend, from the same initial weights, with the same batches and noise (the engine's own
 * counter-based draws, reproduced in JavaScript by src/engine/webgpu/rng.ts), and prints both
 * results as JSON on stdout.
 *   node --import tsx test/engine/fused-steps.ts '<config overrides as JSON>'
 */
import { tf } from '../../src/tf.js';
import { loadWebgpu, webgpuDevice } from '../../src/backend/webgpu/loader.js';
import { enableGpuCounters, gpuCounters } from '../../src/backend/webgpu/counters.js';
import { Rng } from '../../src/random.js';
import { Adam } from '../../src/train/adam.js';
import { clipByGlobalNorm } from '../../src/train/clip.js';
import { learningRateAt } from '../../src/train/schedule.js';
import { defaultConfig, type Config } from '../../src/config/schema.js';
import { createVaeForConfig } from '../../src/train/model-from-config.js';
import { trainingBinarization } from '../../src/model/eval-protocol.js';
import { makeFusedTask } from '../../src/train/fused-task.js';
import { fillRows, staticRng } from '../../src/data/batches.js';
import { klWeightAt, trainingObjective } from '../../src/model/objective.js';
import { trainableParams } from '../../src/model/vae.js';
import { hash3, normalAt, STREAM, streamKey, uniform01 } from '../../src/engine/webgpu/rng.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { loadConfig } from '../../src/config/load.js';
import { loadSplits } from '../../src/data/load.js';

interface Over {
  model?: Partial<Config['model']>;
  train?: Partial<Config['train']>;
  data?: Partial<Config['data']>;
  n?: number;
  steps?: number;
  greyscale?: boolean;
  /** every image's pixel 0 white and pixel 1 black, and pixel 2 almost white in image 0 only (the logistic's end bins and its far tail) */
  edges?: boolean;
  /** a NaN pixel in this image (its batches have a non-finite loss; the model is made from the clean images) */
  nanImage?: number;
}
const over = JSON.parse(process.argv[2] ?? '{}') as Over;
const shape: [number, number, number] = [6, 6, 1];
const D = 36;
const n = over.n ?? 40;
// greyscale intensities k/255 (the engine stores them as bytes), or arbitrary floats
const images = new Float32Array(n * D);
const rng = Rng.derive(3, 'images');
for (let i = 0; i < images.length; i++) images[i] = over.greyscale === false ? rng.uniform() : Math.round(rng.uniform() * 255 * ((i % D) / D)) / 255;
if (over.edges) {
  for (let ex = 0; ex < n; ex++) images.set([1, 0, ex === 0 ? 254 / 255 : 0], ex * D);
}
/** the images the model is made from (its output bias starts at their mean) */
const clean: ImageSet = { images: Float32Array.from(images), labels: null, n, shape };
if (over.nanImage !== undefined) images[over.nanImage * D + 5] = NaN;
const set: ImageSet = { images, labels: null, n, shape };
const base = defaultConfig();
const cfg: Config = {
  ...base,
  data: { ...base.data, ...over.data },
  model: { ...base.model, hidden: [16], latentDim: 4, ...over.model },
  train: { ...base.train, batchSize: 16, logEvery: 3, ...over.train },
};
const STEPS = over.steps ?? 6;
const stepsPerEpoch = Math.ceil(n / cfg.train.batchSize);

/** The batch the engine gathers for step i of an epoch, and the noise it draws. */
function batchAt(epoch: number, i: number): { x: Float32Array; eps: Float32Array; rows: number } {
  const order = Rng.derive(cfg.train.seed, 'order', epoch).permutation(n);
  const start = i * cfg.train.batchSize;
  const rows = Math.min(cfg.train.batchSize, n - start);
  const x = new Float32Array(rows * D);
  const mode = trainingBinarization(cfg);
  const key = streamKey(cfg.train.seed, STREAM.binarize);
  for (let r = 0; r < rows; r++) {
    const ex = order[start + r];
    if (mode === 'static') fillRows(x.subarray(r * D, (r + 1) * D), set, [ex], staticRng(cfg.train.seed, ex));
    else for (let d = 0; d < D; d++) {
      const p = images[ex * D + d];
      x[r * D + d] = mode === 'dynamic' ? (uniform01(hash3(key, epoch, ex * D + d)) < p ? 1 : 0) : p;
    }
  }
  const J = cfg.model.latentDim;
  const ekey = streamKey(cfg.train.seed, STREAM.eps);
  const g = epoch * stepsPerEpoch + i;
  // [K, rows, J], as the engine draws them
  const eps = Float32Array.from({ length: cfg.train.iwSamples * rows * J }, (_, k) => normalAt(ekey, g, k));
  return { x, eps, rows };
}

const position = (s: number) => ({ epoch: Math.floor(s / stepsPerEpoch), i: s % stepsPerEpoch });

/** The cpu reference: makeVaeTask's step, on the engine's batches and noise. */
async function cpu() {
  await tf.setBackend('cpu');
  const vae = createVaeForConfig(cfg, clean);
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const trainable = trainableParams(vae);
  const names = [...trainable.keys()];
  const stats: number[][] = [];
  const skipped: number[] = [];
  const grads: Record<string, number[]> = {};
  const t = cfg.train;
  for (let s = 0; s < STEPS; s++) {
    const { epoch, i } = position(s);
    const { x, eps, rows } = batchAt(epoch, i);
    const J = cfg.model.latentDim;
    const K = t.iwSamples;
    const xT = tf.tensor2d(x, [rows, D]);
    const eT = K === 1 ? tf.tensor2d(eps, [rows, J]) : tf.tensor3d(eps, [K, rows, J]);
    const objective = { klWeight: klWeightAt(epoch * stepsPerEpoch + i, t.beta, t.warmupEpochs * stepsPerEpoch), freeBits: t.freeBits, iwSamples: K };
    adam.lr = learningRateAt(t, epoch, i, stepsPerEpoch);
    let st: tf.Tensor | undefined;
    const { value, grads: g } = tf.variableGrads(() => {
      const r = trainingObjective(vae, xT, eT, objective);
      st = tf.keep(r.stats);
      return r.loss;
    }, [...trainable.values()]);
    const gl = names.map((nm) => g[trainable.get(nm)!.name]);
    if (s === 0) for (let k = 0; k < names.length; k++) grads[names[k]] = Array.from(await gl[k].data());
    let use = gl;
    const row = Array.from(await st!.data());
    if (t.gradClip !== null) {
      const c = clipByGlobalNorm(gl, t.gradClip);
      use = c.clipped;
      row.push((await c.norm.data())[0]);
      c.norm.dispose();
    }
    stats.push(row);
    // train.skipNonFinite as makeVaeTask does it: no update, and not one of Adam's steps
    const finite = [value, ...gl].every((v) => v.dataSync().every(Number.isFinite));
    if (!finite && skipped.length < t.skipNonFinite) skipped.push(s);
    else adam.apply(trainable, new Map(names.map((nm, k) => [nm, use[k]])));
    tf.dispose([value, xT, eT, st!, ...gl, ...(use === gl ? [] : use)]);
  }
  const params: Record<string, number[]> = {};
  for (const [name, v] of vae.params) params[name] = Array.from(await v.data());
  return { stats, params, grads, skipped, adamT: adam.t };
}

/** The fused engine, through the same task `vae train` uses. */
async function engine() {
  await loadWebgpu({ requireHardware: false });
  const vae = createVaeForConfig(cfg, clean);
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const told: number[] = [];
  const task = await makeFusedTask(vae, adam, set, cfg, Rng.derive(1, 'eps'), webgpuDevice() as GPUDevice, {
    stepsPerSubmit: over.train?.logEvery ?? 4,
    onSkip: ({ epoch, index }) => told.push(epoch * stepsPerEpoch + index),
  });
  const skipped: number[] = [];
  const c0 = gpuCounters();
  const stats: number[][] = [];
  let unread = 0;
  const plan = task.engine.plan;
  const grads: Record<string, number[]> = {};
  for (let s = 0; s < STEPS; s++) {
    const { epoch, i } = position(s);
    task.step(epoch, i);
    unread++;
    if (unread === cfg.train.logEvery || s === STEPS - 1 || s === 0) {
      const { values: v, skipped: sk } = await task.readStats(unread);
      const w = task.statNames.length;
      for (let k = 0; k < unread; k++) {
        if (sk.has(k)) skipped.push(stats.length);
        stats.push(Array.from(v.subarray(k * w, (k + 1) * w)));
      }
      unread = 0;
    }
    if (s === 0) {
      // the first step's gradient, from the same weights as cpu's
      const g = await task.engine.readBuffer('grads', 0, plan.P);
      for (const p of plan.params) grads[p.name] = Array.from(g.subarray(p.offset, p.offset + p.size));
    }
  }
  const c1 = gpuCounters();
  await task.syncModel();
  const params: Record<string, number[]> = {};
  for (const [name, v] of vae.params) params[name] = Array.from(await v.data());
  const adamState = await adam.state();
  task.dispose();
  return {
    stats,
    params,
    grads,
    skipped,
    told,
    adamT: adam.t,
    moments: adamState.arrays.length,
    counts: { ...task.engine.counts, dawnDispatches: c1.dispatches - c0.dispatches, dawnSubmits: c1.submits - c0.submits },
    kernels: task.engine.kernelLabels,
  };
}

/**
 * A finite-difference check of the engine's own gradient: the loss of one step (learning rate 0,
 * so nothing moves) at w + h e_k and w - h e_k, for a few coordinates k of every parameter. The
 * noise and binarisation are functions of the step counter, so both evaluations see the same draws.
 */
async function finiteDifferences() {
  await loadWebgpu({ requireHardware: false });
  const vae = createVaeForConfig(cfg, clean);
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const task = await makeFusedTask(vae, adam, set, cfg, Rng.derive(1, 'eps'), webgpuDevice() as GPUDevice);
  const e = task.engine;
  const plan = e.plan;
  const w0 = (await e.readState()).params;
  e.setOrder(Rng.derive(cfg.train.seed, 'order', 0).permutation(n));
  const rows = Math.min(cfg.train.batchSize, n);
  const values = { rows, start: 0, epoch: 0, globalStep: 0, klWeight: cfg.train.beta, stepSize: 0, invSqrtBc2: 1 };
  const lossAt = async (w: Float32Array) => {
    e.writeState(w);
    e.step(values);
    return -(await e.readStats())[3];
  };
  await lossAt(w0);
  const g = await e.readBuffer('grads', 0, plan.P);
  const h = 1e-2;
  const checks: { name: string; index: number; analytic: number; numeric: number }[] = [];
  const pick = Rng.derive(5, 'fd');
  for (const p of plan.params) {
    for (let c = 0; c < Math.min(4, p.size); c++) {
      const k = p.offset + Math.floor(pick.uniform() * p.size);
      const w = Float32Array.from(w0);
      w[k] = w0[k] + h;
      const up = await lossAt(w);
      w[k] = w0[k] - h;
      const down = await lossAt(w);
      checks.push({ name: p.name, index: k - p.offset, analytic: g[k], numeric: (up - down) / (2 * h) });
    }
  }
  task.dispose();
  return checks;
}

/**
 * Dispatches and submits per step as `vae train` runs the engine: the reference config's kernel
 * count at batch 128, and Dawn's own submit count over 40 steps read every train.logEvery (20).
 */
async function counts() {
  await loadWebgpu({ requireHardware: false });
  const ref = loadConfig({ config: 'mnist.json', set: ['data.limit=256'] }).config;
  const train = (await loadSplits(ref.data, ['train'])).train;
  const vae = createVaeForConfig(ref, train);
  const adam = new Adam({ learningRate: ref.train.learningRate });
  const big = await makeFusedTask(vae, adam, train, ref, Rng.derive(1, 'eps'), webgpuDevice() as GPUDevice);
  const reference = { batch: big.engine.plan.B, dispatchesPerStep: big.engine.dispatchesPerStep, kernels: big.engine.kernelLabels };
  big.dispose();
  // 40 steps inside one epoch (an epoch's start submits what is recorded before the new order)
  const small = { ...cfg, train: { ...cfg.train, logEvery: 20 } };
  const many: ImageSet = { ...set, images: new Float32Array(41 * 16 * D).map((_, k) => images[k % images.length]), n: 41 * 16 };
  const task = await makeFusedTask(createVaeForConfig(small, many), new Adam({ learningRate: 1e-3 }), many, small, Rng.derive(1, 'eps'), webgpuDevice() as GPUDevice);
  task.step(0, 0);
  await task.readStats(1);
  const c0 = gpuCounters();
  const steps = 40;
  for (let s = 1; s <= steps; s++) {
    task.step(0, s);
    if (s % 20 === 0) await task.readStats(20);
  }
  const c1 = gpuCounters();
  task.dispose();
  return { reference, loop: { steps, dispatches: c1.dispatches - c0.dispatches, submits: c1.submits - c0.submits, readbacks: c1.readbacks - c0.readbacks, writes: c1.writes - c0.writes, buffersCreated: c1.buffersCreated - c0.buffersCreated } };
}

/** Profiling times every kernel and leaves the weights, Adam's moments and the skip count as they were. */
async function profile() {
  await loadWebgpu({ requireHardware: false });
  const vae = createVaeForConfig(cfg, clean);
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const task = await makeFusedTask(vae, adam, set, cfg, Rng.derive(1, 'eps'), webgpuDevice() as GPUDevice);
  task.step(0, 0);
  await task.readStats(1);
  const before = await task.engine.readState();
  const norm = task.engine.plan.arena.norm;
  const slotsBefore = await task.engine.readBuffer('act', norm, 4);
  const kernels = await task.profile(0, 1, 3);
  const after = await task.engine.readState();
  const slotsAfter = await task.engine.readBuffer('act', norm, 4);
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  const unchanged = same(before.params, after.params) && same(before.m, after.m) && same(before.v, after.v) && same(slotsBefore, slotsAfter);
  task.dispose();
  return { kernels, labels: task.engine.kernelLabels, unchanged, skips: slotsAfter[2] };
}

enableGpuCounters();
if (process.argv[3] === 'profile') {
  const r = await profile();
  process.stdout.write(JSON.stringify(r), () => process.exit(0));
} else if (process.argv[3] === 'counts') {
  const r = await counts();
  process.stdout.write(JSON.stringify(r), () => process.exit(0));
} else if (process.argv[3] === 'fd') {
  const checks = await finiteDifferences();
  process.stdout.write(JSON.stringify({ checks }), () => process.exit(0));
} else {
  const ref = await cpu();
  const gpu = await engine();
  process.stdout.write(JSON.stringify({ cpu: ref, engine: gpu }), () => process.exit(0));
}
