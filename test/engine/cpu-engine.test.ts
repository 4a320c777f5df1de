/**
 * The CPU engine (src/engine/onnx, one onnxruntime call per training step) against the tfjs cpu
 * backend's step (makeVaeTask), from the same weights with the same batches and noise:
 *  - several steps give the same statistics and the same weights and Adam moments after them,
 *    for each activation, likelihood and objective option the engine runs (short last batch,
 *    schedules, warm-up, beta, free bits, clipping, skipped non-finite batches included);
 *  - its gradient (read from Adam's first moment after one step) agrees with finite differences
 *    of its own loss, for coordinates of every parameter;
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
import { cpuEngineUnsupported, makeCpuEngineTask } from '../../src/train/cpu-engine-task.js';
import { loadOrt } from '../../src/engine/onnx/engine.js';

let skip: string | false = false;
try {
  await loadOrt();
} catch (err) {
  skip = (err as Error).message;
}

interface Case {
  model?: Partial<Config['model']>;
  train?: Partial<Config['train']>;
  data?: Partial<Config['data']>;
  greyscale?: boolean;
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
  const clean: ImageSet = { images: Float32Array.from(images), labels: null, n: N, shape: [6, 6, 1] };
  if (c.nanImage !== undefined) images[c.nanImage * D + 5] = NaN;
  const base = defaultConfig();
  const cfg: Config = {
    ...base,
    data: { ...base.data, ...c.data },
    model: { ...base.model, hidden: [16], latentDim: 4, ...c.model },
    train: { ...base.train, batchSize: 16, learningRate: 1e-2, ...c.train },
  };
  return { cfg, set: { images, labels: null, n: N, shape: [6, 6, 1] }, clean };
}

interface Steps {
  stats: number[][];
  skipped: number[];
  params: Record<string, number[]>;
  moments: Record<string, number[]>;
  adamT: number;
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
  return { stats, skipped, params, moments, adamT: adam.t };
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
    }
    assert.deepEqual(Object.keys(engine.moments).sort(), Object.keys(cpu.moments).sort());
    for (const k of Object.keys(cpu.moments)) {
      const d = maxDiff(cpu.moments[k], engine.moments[k]);
      assert.ok(d < 2e-4, `${k}: ${d}`);
    }
  });
}
