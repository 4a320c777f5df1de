/**
 * Training steps on the fused WebGPU engine (src/engine/webgpu), as a task for the generic loop:
 * the same data order, schedules, KL weights and Adam step count as makeVaeTask, with the
 * batch, noise, forward, backward and update all on the GPU. The model's tf.Variables and the
 * Adam object stay the run's record: the engine starts from them and `syncModel` writes the
 * engine's state back into them before anything reads the model (validation, previews,
 * checkpoints), so checkpoints, eval, sample and --resume on any backend are unchanged.
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import type { Config } from '../config/schema.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { fillRows, staticRng, type Binarize } from '../data/batches.js';
import type { Vae } from '../model/vae.js';
import { klWeightAt } from '../model/objective.js';
import { engineSupport, EngineUnsupported, WebgpuEngine, type StepValues } from '../engine/webgpu/index.js';
import { webgpuDevice, webgpuDeviceError } from '../backend/webgpu/loader.js';
import type { BackendReport } from '../backend/index.js';
import { trainingBinarization } from '../model/eval-protocol.js';
import { learningRateAt } from './schedule.js';
import type { Adam } from './adam.js';
import type { TrainTask } from './loop.js';
import { trainStatNames } from './vae-step.js';

export interface FusedTask extends TrainTask {
  engine: WebgpuEngine;
  rngState(): { eps: ReturnType<Rng['state']>; bin: null };
  readStats(count: number): Promise<{ values: Float32Array; skipped: ReadonlySet<number> }>;
  /** GPU microseconds per kernel over `steps` steps like step `index` of `epoch` (vae bench --profile); null without timestamp queries. */
  profile(epoch: number, index: number, steps: number): Promise<{ label: string; us: number }[] | null>;
  syncModel(): Promise<void>;
  dispose(): void;
}

/** The training images as the engine takes them: statically binarised ones drawn here, as on every backend. */
function engineImages(train: ImageSet, cfg: Config, mode: Binarize): { images: Float32Array; binarize: 'dynamic' | 'none' } {
  if (mode !== 'static') return { images: train.images, binarize: mode };
  const D = dimOf(train);
  const out = new Float32Array(train.n * D);
  for (let i = 0; i < train.n; i++) fillRows(out.subarray(i * D, (i + 1) * D), train, [i], staticRng(cfg.train.seed, i));
  return { images: out, binarize: 'none' };
}

/** The engine's flat state from the model's variables and Adam's moments (zeros where Adam has none yet). */
async function flatState(engine: WebgpuEngine, vae: Vae, adam: Adam): Promise<{ params: Float32Array; m: Float32Array; v: Float32Array }> {
  const plan = engine.plan;
  const params = new Float32Array(plan.P);
  const m = new Float32Array(plan.P);
  const v = new Float32Array(plan.P);
  const moments = new Map((await adam.state()).arrays.map((a) => [a.name, a.data]));
  for (const p of plan.params) {
    const variable = vae.params.get(p.name);
    if (!variable) throw new Error(`the model has no ${p.name}`);
    params.set((await variable.data()) as Float32Array, p.offset);
    const mm = moments.get(`${p.name}/m`);
    const vv = moments.get(`${p.name}/v`);
    if (mm) m.set(mm, p.offset);
    if (vv) v.set(vv, p.offset);
  }
  return { params, m, v };
}

export interface FusedOptions {
  /** steps recorded per submit (reads submit earlier) */
  stepsPerSubmit?: number;
  /** the most steps between two reads of the statistics (default train.logEvery) */
  statsCapacity?: number;
  /** told of each step skipped under train.skipNonFinite (when its statistics are read) */
  onSkip?: (info: { epoch: number; index: number; skipped: number }) => void;
}

export async function makeFusedTask(vae: Vae, adam: Adam, train: ImageSet, cfg: Config, epsRng: Rng, device: GPUDevice, opts: FusedOptions = {}): Promise<FusedTask> {
  const t = cfg.train;
  const B = Math.min(t.batchSize, train.n);
  const stepsPerEpoch = Math.ceil(train.n / t.batchSize);
  const warmupSteps = t.warmupEpochs * stepsPerEpoch;
  const { images, binarize } = engineImages(train, cfg, trainingBinarization(cfg));
  const engine = await WebgpuEngine.create(
    device,
    {
      spec: vae.spec,
      batch: B,
      images,
      n: train.n,
      binarize,
      seed: t.seed,
      freeBits: t.freeBits,
      gradClip: t.gradClip,
      iwSamples: t.iwSamples,
      skipNonFinite: t.skipNonFinite,
      adam: { beta1: adam.beta1, beta2: adam.beta2, epsilon: adam.epsilon },
      stepsPerSubmit: opts.stepsPerSubmit ?? 64,
      statsCapacity: opts.statsCapacity ?? Math.max(t.logEvery, 1),
    },
    webgpuDeviceError,
  );
  const s = await flatState(engine, vae, adam);
  engine.writeState(s.params, s.m, s.v);
  let orderEpoch = -1;
  // steps whose statistics are unread (to name a skipped one), and the skips read so far
  let unread: { epoch: number; index: number }[] = [];
  let skips = 0;
  const width = trainStatNames(cfg).length;
  /** What step i of epoch needs from the CPU, with Adam's step count as it is now. */
  const valuesAt = (epoch: number, i: number): StepValues => {
    if (orderEpoch !== epoch) {
      // the same seeded order as EpochBatches
      engine.setOrder(Rng.derive(t.seed, 'order', epoch).permutation(train.n));
      orderEpoch = epoch;
    }
    const start = i * t.batchSize;
    const globalStep = epoch * stepsPerEpoch + i;
    const lr = learningRateAt(t, epoch, i, stepsPerEpoch);
    adam.lr = lr;
    return {
      rows: Math.min(t.batchSize, train.n - start),
      start,
      epoch,
      globalStep,
      klWeight: klWeightAt(globalStep, t.beta, warmupSteps),
      stepSize: adam.t > 0 ? lr / (1 - adam.beta1 ** adam.t) : 0,
      invSqrtBc2: adam.t > 0 ? 1 / Math.sqrt(1 - adam.beta2 ** adam.t) : 1,
      adamT: adam.t,
      lr,
      knownSkips: skips,
    };
  };
  return {
    engine,
    statNames: trainStatNames(cfg),
    stepsInEpoch: () => stepsPerEpoch,
    rngState: () => ({ eps: epsRng.state(), bin: null }),
    step(epoch, i) {
      // Adam's step count and bias corrections exactly as Adam.apply computes them
      adam.t += 1;
      const values = valuesAt(epoch, i);
      engine.step(values);
      unread.push({ epoch, index: i });
      return { stats: null, examples: values.rows };
    },
    profile: (epoch, i, steps) => engine.profile(valuesAt(epoch, i), steps),
    async readStats(count) {
      const raw = await engine.readStats();
      const w = engine.statsWidth;
      const flag = engine.columns.skipped;
      if (raw.length !== count * w || unread.length !== count) throw new Error(`expected statistics of ${count} steps, got ${raw.length / w}`);
      const values = new Float32Array(count * width);
      const skipped = new Set<number>();
      for (let k = 0; k < count; k++) {
        values.set(raw.subarray(k * w, k * w + width), k * width);
        // with train.skipNonFinite: 1 where the engine left the update out
        if (flag !== null && raw[k * w + flag] !== 0) {
          skipped.add(k);
          skips++;
          adam.t -= 1; // a skipped step is not one of Adam's steps (as on every backend)
          opts.onSkip?.({ ...unread[k], skipped: skips });
        }
      }
      unread = [];
      return { values, skipped };
    },
    async syncModel() {
      const state = await engine.readState();
      const moments = new Map<string, { shape: number[]; data: Float32Array }>();
      tf.tidy(() => {
        for (const p of engine.plan.params) {
          vae.params.get(p.name)!.assign(tf.tensor(state.params.subarray(p.offset, p.offset + p.size), p.shape));
          moments.set(`${p.name}/m`, { shape: p.shape, data: state.m.slice(p.offset, p.offset + p.size) });
          moments.set(`${p.name}/v`, { shape: p.shape, data: state.v.slice(p.offset, p.offset + p.size) });
        }
      });
      if (adam.t > 0) adam.restore(adam.t, moments);
    },
    dispose: () => engine.destroy(),
  };
}

/**
 * The fused engine's task when the backend is webgpu and the engine runs this config; otherwise
 * null, with the reason (for the start line).
 */
export async function fusedTaskFor(
  backend: BackendReport,
  vae: Vae,
  adam: Adam,
  train: ImageSet,
  cfg: Config,
  epsRng: Rng,
  onSkip?: FusedOptions['onSkip'],
): Promise<{ task: FusedTask | null; line: string }> {
  if (backend.name !== 'webgpu') return { task: null, line: '' };
  const support = engineSupport({ spec: vae.spec });
  const fallback = (reason: string) => ({ task: null, line: `engine: tfjs-webgpu, op by op (the fused WebGPU engine does not run this config: ${reason})` });
  if (!support.ok) return fallback(support.reason);
  if (process.env.VAE_WEBGPU_ENGINE === 'tfjs') return fallback('VAE_WEBGPU_ENGINE=tfjs');
  try {
    const task = await makeFusedTask(vae, adam, train, cfg, epsRng, webgpuDevice() as GPUDevice, { onSkip });
    return { task, line: `engine: fused WebGPU kernels (${task.engine.dispatchesPerStep} dispatches per step, up to 64 steps per submit)` };
  } catch (err) {
    if (err instanceof EngineUnsupported) return fallback(err.message);
    throw err;
  }
}
