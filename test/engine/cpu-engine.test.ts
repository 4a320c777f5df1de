/**
 * The CPU engine (src/engine/onnx, one onnxruntime call per training step) against the tfjs cpu
 * backend's step (makeVaeTask), from the same weights with the same batches and noise:
 *  - several steps give the same statistics and the same weights and Adam moments after them,
 *    for each activation, likelihood and objective option the engine runs (short last batch,
 *    schedules, warm-up, beta, free bits, clipping, skipped non-finite batches, batch norm's
 *    running averages included);
 *  - its gradients agree with finite differences of its own loss, for coordinates of every
 *    parameter;
 *  - configs it does not run are named with a reason; nothing grows across many steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { Adam } from '../../src/train/adam.js';
import { defaultConfig, type Config } from '../../src/config/schema.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { createVaeForConfig } from '../../src/train/model-from-config.js';
import { makeVaeTask } from '../../src/train/vae-step.js';
import { makeCpuEngineTask, type CpuEngineTask } from '../../src/train/cpu-engine-task.js';
import { engineUnsupported } from '../../src/engine/onnx/network.js';
import { CpuEngine, EngineUnavailable } from '../../src/engine/onnx/engine.js';
import { directSessionUnavailable } from '../../src/engine/onnx/direct-session.js';
import { skipWithoutOrt } from '../support/ort.js';

const skip = await skipWithoutOrt();

interface Case {
  model?: Partial<Config['model']>;
  train?: Partial<Config['train']>;
  data?: Partial<Config['data']>;
  greyscale?: boolean;
  /** [H, W, C] of an image, H W C = D (default [6, 6, 1]) */
  shape?: [number, number, number];
  /** a NaN pixel in this image: its batches have a non-finite loss */
  nanImage?: number;
  steps?: number;
}

const D = 36;
const N = 40;

function setup(c: Case): { cfg: Config; set: ImageSet; clean: ImageSet } {
  const images = new Float32Array(N * D);
  const rng = Rng.derive(3, 'images');
  for (let i = 0; i < images.length; i++) images[i] = c.greyscale === false ? rng.uniform() : Math.round(rng.uniform() * 255 * ((i % D) / D)) / 255;
  const shape = c.shape ?? [6, 6, 1];
  const clean: ImageSet = { images: Float32Array.from(images), labels: null, n: N, shape };
  if (c.nanImage !== undefined) images[c.nanImage * D + 5] = NaN;
  const base = defaultConfig();
  const cfg: Config = {
    ...base,
    data: { ...base.data, ...c.data },
    model: { ...base.model, hidden: [16], latentDim: 4, ...c.model },
    train: { ...base.train, batchSize: 16, learningRate: 1e-2, ...c.train },
  };
  return { cfg, set: { images, labels: null, n: N, shape }, clean };
}

interface Steps {
  stats: number[][];
  skipped: number[];
  params: Record<string, number[]>;
  moments: Record<string, number[]>;
  adamT: number;
  /** how the engine called its step graph ('direct' or 'onnxruntime-node'; cpu: undefined) */
  calls?: string;
}

/** `steps` steps (over epoch boundaries) of either task, from the same model and noise. */
async function runSteps(c: Case, which: 'cpu' | 'engine'): Promise<Steps> {
  const { cfg, set, clean } = setup(c);
  const vae = createVaeForConfig(cfg, clean);
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const skipped: number[] = [];
  const per = Math.ceil(N / cfg.train.batchSize);
  const onSkip = ({ epoch, index }: { epoch: number; index: number }) => skipped.push(epoch * per + index);
  const task = which === 'cpu' ? makeVaeTask(vae, adam, set, cfg, Rng.derive(1, 'eps'), undefined, onSkip) : await makeCpuEngineTask(vae, adam, set, cfg, Rng.derive(1, 'eps'), undefined, onSkip);
  const calls = which === 'engine' ? (task as CpuEngineTask).engine.calls : undefined;
  const stats: number[][] = [];
  for (let s = 0; s < (c.steps ?? 7); s++) {
    const r = await task.step(Math.floor(s / per), s % per);
    stats.push(Array.from(await r.stats!.data()));
    r.stats!.dispose();
  }
  await task.syncModel?.();
  const params: Record<string, number[]> = {};
  for (const [name, v] of vae.params) params[name] = Array.from(await v.data());
  const moments: Record<string, number[]> = {};
  for (const a of (await adam.state()).arrays) moments[a.name] = Array.from(a.data);
  task.dispose?.();
  return { stats, skipped, params, moments, adamT: adam.t, calls };
}

/** The largest difference, relative to max(1, |a|). */
function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
  return m;
}

const cases: [string, Case][] = [
  ['relu, bernoulli, dynamic binarisation, a short last batch', {}],
  ['tanh, two hidden layers, gradient clipping, cosine schedule, KL warm-up', { model: { activation: 'tanh', hidden: [16, 8] }, train: { gradClip: 0.5, lrSchedule: 'cosine', epochs: 2, warmupEpochs: 1 } }],
  ['elu, static binarisation, beta, free bits', { model: { activation: 'elu' }, data: { binarize: 'static' }, train: { beta: 2, freeBits: 0.02 } }],
  ['leaky_relu, gaussian with fixed sigma, float32 images', { model: { activation: 'leaky_relu', likelihood: 'gaussian', sigma: 0.3 }, greyscale: false }],
  ['gaussian with a learned sigma, step schedule', { model: { likelihood: 'gaussian', sigma: 'learned' }, train: { lrSchedule: 'step', lrStepEpochs: 1, lrDecay: 0.5 } }],
  ['gaussian with learned per-pixel sigma, no hidden layer', { model: { likelihood: 'gaussian', sigma: 'learned-per-pixel', hidden: [] } }],
  ['IWAE, k = 3, relu, bernoulli, a short last batch', { train: { iwSamples: 3 } }],
  ['IWAE, k = 2, tanh, two hidden layers, gaussian with a learned sigma, beta, clipping', { model: { activation: 'tanh', hidden: [16, 8], likelihood: 'gaussian', sigma: 'learned' }, greyscale: false, train: { iwSamples: 2, beta: 0.5, gradClip: 0.5 } }],
  ['IWAE, k = 4, elu, gaussian with learned per-pixel sigma, KL warm-up', { model: { activation: 'elu', likelihood: 'gaussian', sigma: 'learned-per-pixel' }, greyscale: false, train: { iwSamples: 4, epochs: 2, warmupEpochs: 1 } }],
  ['conv, relu, bernoulli, 4x4 kernels (asymmetric SAME padding 6 -> 3 -> 2)', { model: { arch: 'conv', convChannels: [4, 3], hidden: [8] } }],
  ['conv, tanh, 3x3 kernels, no dense hidden layer, gaussian with a learned sigma, clipping', { model: { arch: 'conv', convChannels: [3, 5], kernelSize: 3, hidden: [], activation: 'tanh', likelihood: 'gaussian', sigma: 'learned' }, greyscale: false, train: { gradClip: 0.5 } }],
  ['conv, elu, three channels on a 4x3 image, gaussian with learned per-pixel sigma', { model: { arch: 'conv', convChannels: [4], hidden: [6], activation: 'elu', likelihood: 'gaussian', sigma: 'learned-per-pixel' }, shape: [4, 3, 3], greyscale: false }],
  ['conv, IWAE, k = 3, leaky_relu, bernoulli, free bits off, beta', { model: { arch: 'conv', convChannels: [3, 4], hidden: [8], activation: 'leaky_relu' }, train: { iwSamples: 3, beta: 0.5 } }],
  ['conv, batch norm, relu, bernoulli (the running averages too)', { model: { arch: 'conv', convChannels: [4, 3], hidden: [8], batchNorm: true } }],
  ['conv, batch norm, IWAE, k = 2, tanh, three channels on a 4x3 image, gaussian with a learned sigma, clipping', { model: { arch: 'conv', convChannels: [3, 4], kernelSize: 3, hidden: [], activation: 'tanh', likelihood: 'gaussian', sigma: 'learned', batchNorm: true }, shape: [4, 3, 3], greyscale: false, train: { iwSamples: 2, gradClip: 0.5 } }],
  ['conv, batch norm, skipNonFinite: a skipped batch leaves the running averages as they were', { model: { arch: 'conv', convChannels: [4, 3], hidden: [8], batchNorm: true, likelihood: 'gaussian', sigma: 0.5 }, greyscale: false, nanImage: 7, train: { skipNonFinite: 5 } }],
  ['logistic, relu, 8-bit images', { model: { likelihood: 'logistic' } }],
  ['logistic, tanh, two hidden layers, float images (narrow bins and both ends), IWAE, k = 2, clipping', { model: { likelihood: 'logistic', activation: 'tanh', hidden: [16, 8] }, greyscale: false, train: { iwSamples: 2, gradClip: 0.5 } }],
  ['conv, logistic, elu, three channels on a 4x3 image, batch norm', { model: { arch: 'conv', convChannels: [4], hidden: [6], activation: 'elu', likelihood: 'logistic', batchNorm: true }, shape: [4, 3, 3] }],
  ['skipNonFinite: the batches holding a NaN pixel are skipped, Adam counts only the others', { model: { likelihood: 'gaussian', sigma: 0.5 }, greyscale: false, nanImage: 7, train: { skipNonFinite: 5, gradClip: 1 } }],
];

await tf.setBackend('cpu');

for (const [name, c] of cases) {
  test(`CPU engine trains like the cpu backend: ${name}`, { skip }, async () => {
    const cpu = await runSteps(c, 'cpu');
    const engine = await runSteps(c, 'engine');
    assert.deepEqual(engine.skipped, cpu.skipped, 'the same batches skipped');
    if (c.nanImage !== undefined) assert.ok(cpu.skipped.length >= 2, `the NaN image's batches were skipped: ${cpu.skipped}`);
    assert.equal(engine.adamT, cpu.adamT);
    for (let s = 0; s < cpu.stats.length; s++) {
      const d = maxDiff(cpu.stats[s], engine.stats[s]);
      assert.ok(d < 2e-4, `step ${s}: cpu ${cpu.stats[s]} engine ${engine.stats[s]} (${d})`);
    }
    assert.deepEqual(Object.keys(engine.params).sort(), Object.keys(cpu.params).sort());
    for (const k of Object.keys(cpu.params)) {
      const d = maxDiff(cpu.params[k], engine.params[k]);
      assert.ok(d < 2e-4, `${k}: ${d}`);
      if (/\.running(Mean|Var)$/.test(k)) {
        // batch norm's running averages move by a tenth of a small moment a step: each to 1e-5 of its own size
        cpu.params[k].forEach((a, i) => assert.ok(Math.abs(a - engine.params[k][i]) <= 1e-5 * Math.abs(a) + 1e-7, `${k}[${i}]: cpu ${a}, engine ${engine.params[k][i]}`));
      }
    }
    assert.deepEqual(Object.keys(engine.moments).sort(), Object.keys(cpu.moments).sort());
    for (const k of Object.keys(cpu.moments)) {
      const d = maxDiff(cpu.moments[k], engine.moments[k]);
      assert.ok(d < 2e-4, `${k}: ${d}`);
    }
  });
}

const fdCases: [string, Case][] = [
  ['tanh, two hidden layers, bernoulli', { model: { activation: 'tanh', hidden: [12, 8] } }],
  ['elu, gaussian with learned per-pixel sigma', { model: { activation: 'elu', likelihood: 'gaussian', sigma: 'learned-per-pixel' }, greyscale: false }],
  ['tanh, gaussian with a learned sigma, beta', { model: { activation: 'tanh', likelihood: 'gaussian', sigma: 'learned' }, greyscale: false, train: { beta: 3 } }],
  ['IWAE, k = 3, tanh, bernoulli, beta', { model: { activation: 'tanh' }, train: { iwSamples: 3, beta: 0.7 } }],
  ['IWAE, k = 2, elu, gaussian with learned per-pixel sigma', { model: { activation: 'elu', likelihood: 'gaussian', sigma: 'learned-per-pixel' }, greyscale: false, train: { iwSamples: 2 } }],
  ['conv, tanh, 4x4 kernels, bernoulli', { model: { arch: 'conv', convChannels: [3, 4], hidden: [8], activation: 'tanh' } }],
  ['conv, elu, 3x3 kernels, three channels on a 4x3 image, gaussian with a learned sigma', { model: { arch: 'conv', convChannels: [4], kernelSize: 3, hidden: [], activation: 'elu', likelihood: 'gaussian', sigma: 'learned' }, shape: [4, 3, 3], greyscale: false }],
  ['logistic, tanh, 0/1 images (both end bins; the wide/narrow switch is a step, no place for finite differences)', { model: { likelihood: 'logistic', activation: 'tanh' } }],
  ['conv, logistic, IWAE, k = 2, elu, three channels on a 4x3 image', { model: { arch: 'conv', convChannels: [4], kernelSize: 3, hidden: [], activation: 'elu', likelihood: 'logistic' }, shape: [4, 3, 3], train: { iwSamples: 2 } }],
  ['conv, batch norm, tanh, bernoulli', { model: { arch: 'conv', convChannels: [3, 4], hidden: [8], activation: 'tanh', batchNorm: true } }],
  ['conv, batch norm, IWAE, k = 2, elu, gaussian with learned per-pixel sigma', { model: { arch: 'conv', convChannels: [3, 4], kernelSize: 3, hidden: [6], activation: 'elu', batchNorm: true, likelihood: 'gaussian', sigma: 'learned-per-pixel' }, greyscale: false, train: { iwSamples: 2 } }],
];

for (const [name, c] of fdCases) {
  test(`CPU engine gradients agree with finite differences of its loss: ${name}`, { skip }, async () => {
    const { cfg, set, clean } = setup(c);
    const vae = createVaeForConfig(cfg, clean);
    const rows = 8;
    const x = set.images.slice(0, rows * D).map((v) => (c.greyscale === false ? v : v > 0.5 ? 1 : 0));
    const K = cfg.train.iwSamples;
    const eps = Rng.derive(5, 'eps').fillNormal(new Float32Array(K * rows * vae.spec.latentDim));
    const engine = await CpuEngine.create({ spec: vae.spec, freeBits: 0, gradClip: null, checkFinite: false, iwSamples: K, adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } });
    try {
      const params: Float32Array[] = [];
      for (const p of engine.graph.params) params.push(Float32Array.from(await vae.params.get(p.name)!.data()));
      const zeros = params.map(() => null);
      engine.writeState(params, zeros, zeros);
      // the loss is the negative bound with the step's KL weight; the step leaves the parameters as they are
      const scalars = { invB: 1 / rows, klWeight: cfg.train.beta };
      const stats = await engine.step(x, eps, rows, scalars);
      const grads = engine.gradients().map((gr) => gr.slice());
      engine.drop();
      const loss = async () => {
        const s = await engine.step(x, eps, rows, scalars);
        engine.drop();
        return -s[engine.graph.stats.indexOf('bound')];
      };
      assert.ok(Math.abs((await loss()) + stats[engine.graph.stats.indexOf('bound')]) < 1e-4, "the loss is the step's");
      const pick = Rng.derive(9, 'coordinates');
      const h = 1e-2;
      let checked = 0;
      for (let i = 0; i < params.length; i++) {
        for (let k = 0; k < 4; k++) {
          const j = Math.floor(pick.uniform() * params[i].length);
          const at = (delta: number) => {
            const moved = params.map((p) => p.slice());
            moved[i][j] += delta;
            engine.writeState(moved, zeros, zeros);
            return loss();
          };
          const fd = ((await at(h)) - (await at(-h))) / (2 * h);
          const g = grads[i][j];
          assert.ok(Math.abs(fd - g) < 2e-3 + 2e-2 * Math.abs(g), `${engine.graph.params[i].name}[${j}]: engine ${g}, finite differences ${fd}`);
          checked++;
        }
      }
      assert.equal(checked, params.length * 4);
      assert.ok(grads.some((gr) => gr.some((v) => Math.abs(v) > 1e-3)), 'some gradient is not tiny');
    } finally {
      await engine.dispose();
    }
  });
}

const directSkip = skip || (await directSessionUnavailable()) || false;

for (const [name, c] of [cases[1], cases[7], cases[14]]) {
  test(`the step through onnxruntime's C API and through onnxruntime-node agree exactly: ${name}`, { skip: directSkip }, async () => {
    const direct = await runSteps(c, 'engine');
    process.env.VAE_ORT_DIRECT = '0';
    let node: Steps;
    try {
      node = await runSteps(c, 'engine');
    } finally {
      delete process.env.VAE_ORT_DIRECT;
    }
    assert.equal(direct.calls, 'direct');
    assert.equal(node.calls, 'onnxruntime-node');
    assert.deepEqual(direct.stats, node.stats);
    assert.deepEqual(direct.params, node.params);
    assert.deepEqual(direct.moments, node.moments);
  });
}

test('the CPU engine names what it does not run', () => {
  const spec = (model: Partial<Config['model']>) => createVaeForConfig(setup({ model }).cfg, setup({}).clean).spec;
  assert.equal(engineUnsupported(spec({ arch: 'conv', convChannels: [4], hidden: [8], batchNorm: true })), null);
  assert.equal(engineUnsupported(spec({ arch: 'conv', convChannels: [4], hidden: [8] })), null);
  assert.equal(engineUnsupported(spec({ likelihood: 'logistic' })), null);
  assert.match(engineUnsupported({ ...spec({}), likelihood: 'poisson' })!, /^the poisson likelihood is not in it$/);
  assert.equal(engineUnsupported(spec({ likelihood: 'gaussian', sigma: 'learned' })), null);
});

test('a model too large for the engine\'s memory is refused with a reason (training falls back)', { skip }, async () => {
  const spec = { arch: 'mlp', inputDim: 784, inputShape: [28, 28, 1], hidden: [90_000], latentDim: 20, activation: 'relu', likelihood: 'bernoulli' } as const;
  await assert.rejects(
    CpuEngine.create({ spec: { ...spec, hidden: [...spec.hidden], inputShape: [28, 28, 1] }, freeBits: 0, gradClip: null, checkFinite: false, adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } }),
    (err: unknown) => err instanceof EngineUnavailable && /parameters are more than its 2 GiB of WebAssembly memory holds/.test(err.message),
  );
});

test('CPU engine: 1,000 steps leave no tensors behind and do not grow the process', { skip }, async () => {
  const { cfg, set, clean } = setup({ model: { hidden: [512] } });
  const vae = createVaeForConfig(cfg, clean);
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const task = await makeCpuEngineTask(vae, adam, set, cfg, Rng.derive(1, 'eps'));
  const per = task.stepsInEpoch(0);
  const run = async (from: number, n: number) => {
    for (let s = from; s < from + n; s++) {
      const r = await task.step(Math.floor(s / per), s % per);
      await r.stats!.data();
      r.stats!.dispose();
    }
  };
  try {
    await run(0, 200);
    const tensors = tf.memory().numTensors;
    const rss = process.memoryUsage().rss;
    await run(200, 800);
    assert.equal(tf.memory().numTensors, tensors, 'no tfjs tensors left behind');
    // one step's state (parameters and both moments, ~150 KB here) kept per step would be ~120 MB
    const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
    assert.ok(grown < 40, `the process grew ${grown.toFixed(1)} MiB over 800 steps`);
    await task.syncModel();
  } finally {
    task.dispose();
  }
});
