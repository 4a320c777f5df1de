/**
 * Training steps on the CPU engine (src/engine/onnx): each step is one onnxruntime call for the
 * forward and backward pass (onnxruntime's thread pool and GEMMs), then one WebAssembly pass of
 * Adam's update. The batches, their binarisation, the noise, the schedules and Adam's step
 * count come from exactly where makeVaeTask takes them (TrainingBatches, the eps stream,
 * klWeightAt, learningRateAt), so a run draws what it would on any tfjs backend, checkpoints
 * record the same random streams, and --resume continues exactly. The model's tf.Variables and the Adam object stay the run's
 * record: `syncModel` writes the engine's state into them before anything reads the model
 * (validation, previews, checkpoints).
 */
import { tf } from '../tf.js';
import type { Rng } from '../random.js';
import type { Config } from '../config/schema.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { TrainingBatches } from '../data/batches.js';
import type { Vae } from '../model/vae.js';
import { klWeightAt } from '../model/objective.js';
import { trainingBinarization } from '../model/eval-protocol.js';
import { CPU_ENGINE_BACKENDS, CpuEngine, cpuEngineTurnedOff, EngineUnavailable, probeCpuEngine } from '../engine/onnx/engine.js';
import { engineUnsupported } from '../engine/onnx/network.js';
import type { BackendReport } from '../backend/index.js';
import { learningRateAt } from './schedule.js';
import type { Adam } from './adam.js';
import { trainStatNames, type RngSnapshot, type TensorVaeTask } from './vae-step.js';

export interface CpuEngineTask extends TensorVaeTask {
  engine: CpuEngine;
  syncModel(): Promise<void>;
  dispose(): void;
}

export async function makeCpuEngineTask(
  vae: Vae,
  adam: Adam,
  train: ImageSet,
  cfg: Config,
  epsRng: Rng,
  resume?: { epoch: number; bin: RngSnapshot | null },
  onSkip?: (info: { epoch: number; index: number; skipped: number }) => void,
): Promise<CpuEngineTask> {
  const t = cfg.train;
  const B = t.batchSize;
  const J = vae.spec.latentDim;
  const mode = trainingBinarization(cfg);
  const engine = await CpuEngine.create({
    spec: vae.spec,
    freeBits: t.freeBits,
    gradClip: t.gradClip,
    checkFinite: t.skipNonFinite > 0,
    iwSamples: t.iwSamples,
    adam: { beta1: adam.beta1, beta2: adam.beta2, epsilon: adam.epsilon },
  });
  if (dimOf(train) !== vae.spec.inputDim) throw new Error(`the data has ${dimOf(train)} values per example, the model ${vae.spec.inputDim}`);
  // the engine starts from the model's variables and Adam's moments (zeros where Adam has none yet)
  const moments = new Map((await adam.state()).arrays.map((a) => [a.name, a.data]));
  const params: Float32Array[] = [];
  for (const p of engine.graph.params) {
    const variable = vae.params.get(p.name);
    if (!variable) throw new Error(`the model has no ${p.name}`);
    params.push((await variable.data()) as Float32Array);
  }
  engine.writeState(
    params,
    engine.graph.params.map((p) => moments.get(`${p.name}/m`) ?? null),
    engine.graph.params.map((p) => moments.get(`${p.name}/v`) ?? null),
  );
  for (const { name, values } of engine.runningStats()) {
    const variable = vae.params.get(name);
    if (!variable) throw new Error(`the model has no ${name}`);
    values.set((await variable.data()) as Float32Array);
  }
  const K = t.iwSamples;
  const epsBuf = new Float32Array(K * Math.min(B, train.n) * J);
  const stepsPerEpoch = Math.ceil(train.n / B);
  const warmupSteps = t.warmupEpochs * stepsPerEpoch;
  const statNames = trainStatNames(cfg);
  const flagColumn = engine.graph.stats.indexOf('nonFinite');
  const batches = new TrainingBatches(train, B, mode, t.seed, resume);
  let skipped = 0;
  return {
    engine,
    statNames,
    stepsInEpoch: () => stepsPerEpoch,
    rngState: () => ({ eps: epsRng.state(), bin: batches.binState() }),
    async step(epoch, i) {
      const { x, n } = batches.batch(epoch, i);
      const lr = learningRateAt(t, epoch, i, stepsPerEpoch);
      adam.lr = lr;
      const eps = epsRng.fillNormal(epsBuf.subarray(0, K * n * J)); // [K, n, J], as makeVaeTask draws it
      // Adam's step count and bias corrections exactly as Adam.apply computes them
      const step = adam.t + 1;
      const stats = await engine.step(x, eps, n, { invB: 1 / n, klWeight: klWeightAt(epoch * stepsPerEpoch + i, t.beta, warmupSteps) });
      if (flagColumn >= 0 && stats[flagColumn] !== 0 && skipped < t.skipNonFinite) {
        // a NaN or infinite loss or gradient: this batch is left out, as on every backend
        engine.drop();
        skipped++;
        onSkip?.({ epoch, index: i, skipped });
        return { stats: tf.zeros([statNames.length]), examples: 0 };
      }
      engine.commit({ stepSize: (lr * Math.sqrt(1 - adam.beta2 ** step)) / (1 - adam.beta1 ** step), epsHat: adam.epsilon * Math.sqrt(1 - adam.beta2 ** step) });
      adam.t = step;
      return { stats: tf.tensor1d(stats.subarray(0, statNames.length)), examples: n };
    },
    async syncModel() {
      const state = engine.state();
      const moments = new Map<string, { shape: number[]; data: Float32Array }>();
      tf.tidy(() => {
        engine.graph.params.forEach((p, i) => {
          vae.params.get(p.name)!.assign(tf.tensor(state.params[i].slice(), p.shape)); // a copy: tfjs-cpu would keep the view
          moments.set(`${p.name}/m`, { shape: p.shape, data: state.m[i].slice() });
          moments.set(`${p.name}/v`, { shape: p.shape, data: state.v[i].slice() });
        });
        for (const { name, values } of engine.runningStats()) vae.params.get(name)!.assign(tf.tensor(values.slice(), [values.length]));
      });
      if (adam.t > 0) adam.restore(adam.t, moments);
    },
    dispose: () => void engine.dispose(),
  };
}

/** For `vae backends`: whether the CPU engine loads here and what it runs (lines within 80 columns). */
export async function cpuEngineLine(): Promise<string> {
  const probe = await probeCpuEngine();
  const on = CPU_ENGINE_BACKENDS.join(' and ');
  if (!probe.ok) return `CPU engine: does not load here; ${on} run op by op\n  (${probe.reason})`;
  return [
    `CPU engine: ${probe.device}`,
    `  on ${on}, one call per training step (MLP and conv models, every`,
    "  likelihood, the ELBO or IWAE) and for vae eval's importance sampler",
    '  (VAE_CPU_ENGINE=tfjs: everything op by op in tfjs)',
  ].join('\n');
}

/**
 * The CPU engine's task when the backend is a CPU one it serves and the engine runs this
 * config; otherwise null, with the reason for the start line ('' where it does not apply).
 */
export async function cpuEngineTaskFor(
  backend: BackendReport,
  vae: Vae,
  adam: Adam,
  train: ImageSet,
  cfg: Config,
  epsRng: Rng,
  resume?: { epoch: number; bin: RngSnapshot | null },
  onSkip?: (info: { epoch: number; index: number; skipped: number }) => void,
): Promise<{ task: CpuEngineTask | null; line: string }> {
  if (!CPU_ENGINE_BACKENDS.includes(backend.name)) return { task: null, line: '' };
  const fallback = (reason: string) => ({ task: null, line: `engine: tfjs-${backend.name}, op by op (the CPU engine does not run this config: ${reason})` });
  const why = engineUnsupported(vae.spec);
  if (why) return fallback(why);
  if (cpuEngineTurnedOff()) return fallback('VAE_CPU_ENGINE=tfjs');
  try {
    const task = await makeCpuEngineTask(vae, adam, train, cfg, epsRng, resume, onSkip);
    return { task, line: `engine: onnxruntime on ${task.engine.threads} CPU thread${task.engine.threads === 1 ? '' : 's'}, one ${task.engine.graph.nodes}-node graph per step (${task.engine.calls === 'direct' ? "onnxruntime's C API" : 'through onnxruntime-node'}), Adam in wasm` };
  } catch (err) {
    if (err instanceof EngineUnavailable) return fallback(err.message);
    throw err;
  }
}
