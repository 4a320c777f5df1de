/**
 * Training a VAE from a resolved config: data, model, run directory, and the hooks that make
 * the generic loop (loop.ts) write validation metrics, checkpoints and preview PNGs each epoch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tf, type Tensor } from '../tf.js';
import { Rng } from '../random.js';
import type { Config } from '../config/schema.js';
import { dimOf, slice, type ImageSet } from '../data/dataset.js';
import { loadSplits, writeDataCache } from '../data/load.js';
import { EpochBatches, evalRows, type Binarize } from '../data/batches.js';
import { createVae, decodeMean, trainableParams, updateRunningStats, type ForwardContext, type Vae, type VaeSpec } from '../model/vae.js';
import { klWeightAt, OBJECTIVE_STATS, trainingObjective } from '../model/objective.js';
import { learningRateAt } from './schedule.js';
import { clipByGlobalNorm } from './clip.js';
import { countParams } from '../model/params.js';
import { evaluateElbo, type ElboResult } from '../eval/elbo.js';
import { gridPng, pairRows } from '../image/grid.js';
import { lineChartsSvg, PALETTE, svgToPng } from '../image/plot.js';
import { decodeArrays, encodeArrays } from '../model/arrays.js';
import { writeFileAtomic } from '../run/atomic.js';
import { createRunDir, defaultRunDir, loadRun, readRunInfo, saveRunCheckpoint, writeRunJson, type CheckpointMeta } from '../run/run.js';
import { VaeError } from '../errors.js';
import type { BackendReport } from '../backend/index.js';
import { versions } from '../version.js';
import { formatDuration, type Log } from '../ui/log.js';
import { Progress } from '../ui/progress.js';
import { fmt, streamingTable } from '../ui/table.js';
import { Adam } from './adam.js';
import { runLoop, type PartialEpoch, type TrainTask } from './loop.js';

/** Validation and `vae eval` use this fixed seed for binarisation and noise, so numbers repeat. */
export const EVAL_SEED = 0;

export interface EpochMetrics {
  epoch: number;
  step: number;
  /**
   * training means over the epoch (nats per example): elbo = recon - kl with the raw KL;
   * klWeighted is the KL term as the loss used it (beta, warm-up, free bits); objective is what
   * training maximised (recon - klWeighted, or L_k with iwSamples > 1); loss = -objective.
   */
  train: { elbo: number; recon: number; kl: number; klWeighted: number; objective: number; loss: number; gradNorm?: number };
  /** the learning rate and KL weight at the epoch's last step */
  lr: number;
  klWeight: number;
  val: ElboResult | null;
  seconds: number;
  examplesPerSec: number;
  time: string;
}

export function specFromConfig(cfg: Config, data: Pick<ImageSet, 'shape'>): VaeSpec {
  const m = cfg.model;
  return {
    arch: m.arch,
    inputDim: dimOf(data),
    inputShape: data.shape,
    hidden: m.hidden,
    latentDim: m.latentDim,
    activation: m.activation,
    likelihood: m.likelihood,
    ...(m.likelihood === 'gaussian' ? { sigma: m.sigma } : {}),
    ...(m.arch === 'conv' ? { convChannels: m.convChannels, kernelSize: m.kernelSize, batchNorm: m.batchNorm } : {}),
  };
}

/** Per-pixel mean of a set (D values), for the decoder's output-bias initialisation. */
export function pixelMean(set: ImageSet): Float32Array {
  const D = dimOf(set);
  const sums = new Float64Array(D);
  for (let i = 0; i < set.n; i++) for (let d = 0; d < D; d++) sums[d] += set.images[i * D + d];
  return Float32Array.from(sums, (v) => v / Math.max(set.n, 1));
}

/** The model a config describes, freshly initialised from its seed. */
export function createVaeForConfig(cfg: Config, train: ImageSet): Vae {
  const init = Rng.derive(cfg.train.seed, 'init');
  return createVae(specFromConfig(cfg, train), init, { pixelMean: cfg.model.initOutputBias ? pixelMean(train) : null });
}

/** The names of a training step's stats, in order (gradNorm only when clipping). */
export function trainStatNames(cfg: Config): string[] {
  return [...OBJECTIVE_STATS, ...(cfg.train.gradClip !== null ? ['gradNorm'] : [])];
}

export function trainingBinarization(cfg: Config): Binarize {
  return cfg.model.likelihood === 'bernoulli' ? cfg.data.binarize : 'none';
}

/** Whether evaluation binarises inputs for this config (Bernoulli on binarised data). */
export function evalBinarizes(cfg: Config): boolean {
  return cfg.model.likelihood === 'bernoulli' && cfg.data.binarize !== 'none';
}

/** One line describing a model, e.g. 'mlp 784-400-20 (relu, bernoulli)'. */
export function describeModel(spec: VaeSpec): string {
  const lik = spec.likelihood === 'gaussian' ? `gaussian, sigma ${spec.sigma ?? 'learned'}` : spec.likelihood;
  if (spec.arch === 'mlp') return `mlp ${[spec.inputDim, ...spec.hidden, spec.latentDim].join('-')} (${spec.activation}, ${lik})`;
  const shape = spec.inputShape ? spec.inputShape.join('x') : String(spec.inputDim);
  const convs = (spec.convChannels ?? []).join('-');
  return `conv ${shape} -> conv ${convs} (k=${spec.kernelSize ?? 4}, stride 2${spec.batchNorm ? ', batch norm' : ''})${spec.hidden.length ? ` -> ${spec.hidden.join('-')}` : ''} -> ${spec.latentDim} (${spec.activation}, ${lik})`;
}

/** One line saying what the loss is, so nobody confuses the weighted KL with the raw one. */
export function describeObjective(cfg: Config): string {
  const t = cfg.train;
  if (t.iwSamples > 1) {
    return `loss = -L_${t.iwSamples} (importance-weighted bound, ${t.iwSamples} samples${t.beta !== 1 || t.warmupEpochs > 0 ? `, KL weight ${t.beta}${t.warmupEpochs > 0 ? ` after ${t.warmupEpochs} warm-up epochs` : ''}` : ''}), nats per example`;
  }
  const parts: string[] = [];
  if (t.beta !== 1) parts.push(`beta = ${t.beta}`);
  if (t.warmupEpochs > 0) parts.push(`KL weight rising from 0 to ${t.beta} over ${t.warmupEpochs} epochs`);
  if (t.freeBits > 0) parts.push(`free bits ${t.freeBits} nats per latent dim`);
  if (!parts.length) return 'loss = -ELBO summed over pixels and latent dims, averaged over the batch (nats per example)';
  return `loss = -(recon - weighted KL), ${parts.join(', ')}; the tables show the raw KL and the ELBO with it, and the weighted KL beside them`;
}

export type RngSnapshot = ReturnType<Rng['state']>;

export interface VaeTask extends TrainTask {
  /** The random streams' state: reparameterisation noise, and the current epoch's binarisation. */
  rngState(): { eps: RngSnapshot; bin: RngSnapshot | null };
}

/**
 * One optimisation step, as a closure over the model, optimiser and data. `resume.bin` continues
 * the binarisation stream of epoch `resume.epoch` from a checkpoint taken part-way through it;
 * `onSkip` is told of each batch skipped under train.skipNonFinite.
 */
export function makeVaeTask(
  vae: Vae,
  adam: Adam,
  train: ImageSet,
  cfg: Config,
  epsRng: Rng,
  resume?: { epoch: number; bin: RngSnapshot | null },
  onSkip?: (info: { epoch: number; index: number; skipped: number }) => void,
): VaeTask {
  const t = cfg.train;
  const B = t.batchSize;
  const D = dimOf(train);
  const J = vae.spec.latentDim;
  const K = t.iwSamples;
  const mode = trainingBinarization(cfg);
  const trainable = trainableParams(vae);
  const varList = [...trainable.values()];
  const ours = new Map([...trainable].map(([name, v]) => [v.name, name]));
  const epsBuf = new Float32Array(K * Math.min(B, train.n) * J);
  const stepsPerEpoch = Math.ceil(train.n / B);
  const warmupSteps = t.warmupEpochs * stepsPerEpoch;
  const statNames = trainStatNames(cfg);
  let batches: EpochBatches | null = null;
  let batchesEpoch = -1;
  let skipped = 0;
  return {
    statNames,
    stepsInEpoch: () => stepsPerEpoch,
    rngState: () => ({ eps: epsRng.state(), bin: batches ? batches.binState() : null }),
    step(epoch, i) {
      if (!batches || batchesEpoch !== epoch) {
        const bin = resume && resume.epoch === epoch ? resume.bin : null;
        batches = new EpochBatches(train, B, mode, t.seed, epoch, bin);
        batchesEpoch = epoch;
      }
      const { x, n } = batches.batch(i);
      // Schedules are functions of the position in training, so a resumed run follows them exactly.
      const objective = { klWeight: klWeightAt(epoch * stepsPerEpoch + i, t.beta, warmupSteps), freeBits: t.freeBits, iwSamples: K };
      adam.lr = learningRateAt(t, epoch, i, stepsPerEpoch);
      const eps = epsRng.fillNormal(epsBuf.subarray(0, K * n * J));
      const xT = tf.tensor2d(x, [n, D]);
      const eT = K === 1 ? tf.tensor2d(eps, [n, J]) : tf.tensor3d(eps, [K, n, J]);
      const ctx: ForwardContext = { training: true, moments: [] };
      let stats: Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const r = trainingObjective(vae, xT, eT, objective, ctx);
        stats = tf.keep(r.stats);
        return r.loss;
      }, varList);
      const gradList = Object.values(grads);
      const byName = new Map<string, Tensor>();
      if (t.gradClip !== null) {
        const { clipped, norm } = clipByGlobalNorm(gradList, t.gradClip);
        Object.keys(grads).forEach((tfName, k) => byName.set(ours.get(tfName)!, clipped[k]));
        const withNorm = tf.tidy(() => tf.concat([stats!, tf.reshape(norm, [1])]));
        tf.dispose([stats!, norm, ...gradList]);
        stats = withNorm;
      } else {
        for (const [tfName, g] of Object.entries(grads)) byName.set(ours.get(tfName)!, g);
      }
      const stepGrads = [...byName.values()];
      const update = () => {
        adam.apply(trainable, byName);
        updateRunningStats(vae, ctx);
        tf.dispose([value, xT, eT, ...stepGrads]);
        return { stats: stats!, examples: n };
      };
      if (t.skipNonFinite === 0) return update();
      // With train.skipNonFinite, check this step before updating (a read per step, so only then).
      return (async () => {
        const ok = tf.tidy(() => tf.all(tf.stack([value, ...stepGrads].map((g) => tf.all(tf.isFinite(g))))));
        const finite = (await ok.data())[0] === 1;
        ok.dispose();
        if (!finite && skipped < t.skipNonFinite) {
          skipped++;
          onSkip?.({ epoch, index: i, skipped });
          tf.dispose([value, xT, eT, stats!, ...stepGrads, ...ctx.moments.flatMap((m) => [m.mean, m.variance])]);
          return { stats: tf.zeros([statNames.length]), examples: 0 };
        }
        return update();
      })();
    },
  };
}

/** The preview PNGs: decoder means for fixed prior draws, and inputs above reconstructions. */
export async function writePreviews(vae: Vae, dir: string, epoch: number, fixedZ: Float32Array, reconSet: ImageSet, binarize: boolean): Promise<void> {
  const J = vae.spec.latentDim;
  const n = fixedZ.length / J;
  const shape = reconSet.shape;
  const tag = `epoch-${String(epoch + 1).padStart(3, '0')}.png`;
  const means = tf.tidy(() => decodeMean(vae, tf.tensor2d(fixedZ, [n, J])));
  const pixels = (await means.data()) as Float32Array;
  means.dispose();
  fs.mkdirSync(path.join(dir, 'samples'), { recursive: true });
  writeFileAtomic(path.join(dir, 'samples', tag), await gridPng(pixels, n, shape, { cols: Math.ceil(Math.sqrt(n)), scale: 2 }));

  const m = Math.min(16, reconSet.n);
  if (m === 0) return;
  const cols = Math.min(8, m);
  const xs = evalRows(reconSet, 0, m, binarize, EVAL_SEED);
  const { mu } = await encodeArrays(vae, xs, m);
  const { tiles, count } = pairRows(xs, await decodeArrays(vae, mu, m), m, dimOf(reconSet), cols);
  fs.mkdirSync(path.join(dir, 'recon'), { recursive: true });
  writeFileAtomic(path.join(dir, 'recon', tag), await gridPng(tiles, count, shape, { cols, scale: 2 }));
}

/** curves.png: ELBO, reconstruction and KL per epoch, train and validation. */
export async function writeCurves(dir: string, metrics: EpochMetrics[]): Promise<void> {
  const series = (key: 'elbo' | 'recon' | 'kl') => [
    { name: 'train', color: PALETTE[0], points: metrics.map((m) => [m.epoch, m.train[key]] as [number, number]) },
    ...(metrics.some((m) => m.val)
      ? [{ name: 'validation', color: PALETTE[1], dashed: true, points: metrics.filter((m) => m.val).map((m) => [m.epoch, m.val![key]] as [number, number]) }]
      : []),
  ];
  const svg = lineChartsSvg([
    { title: 'ELBO (nats)', xLabel: 'epoch', series: series('elbo') },
    { title: 'reconstruction E[log p(x|z)]', xLabel: 'epoch', series: series('recon') },
    { title: 'KL(q(z|x) || p(z))', xLabel: 'epoch', series: series('kl') },
  ]);
  writeFileAtomic(path.join(dir, 'curves.png'), await svgToPng(svg));
}

/** Where early stopping ended a run: the last epoch, and the best one before it. */
export interface EarlyStop {
  epoch: number;
  best: number;
  bestElbo: number;
  patience: number;
}

/** Early stopping's rule: `patience` epochs have passed since the best validation ELBO. */
export function outOfPatience(epoch: number, best: { epoch: number } | null, patience: number | null): boolean {
  return patience !== null && best !== null && epoch - best.epoch >= patience;
}

export interface TrainResult {
  dir: string;
  metrics: EpochMetrics[];
  /** set when a stop was requested: where the run stopped */
  stopped: { epoch: number; stepInEpoch: number; stepsInEpoch: number } | null;
  /** set when early stopping ended training */
  earlyStop: EarlyStop | null;
}

export interface TrainOptions {
  config: Config;
  /** short name for the default run directory */
  name: string;
  configFile: string | null;
  /** the run directory for a new run (default runs/<name>-<timestamp>) */
  out?: string;
  /** continue this run directory from its checkpoint instead of starting a new run */
  resumeDir?: string;
  backend: BackendReport;
  log: Log;
  argv: string[];
  /** checked before every step; when true, training saves a checkpoint and returns */
  shouldStop?: () => boolean;
}

function readMetrics(dir: string, upToEpoch: number): EpochMetrics[] {
  let text = '';
  try {
    text = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EpochMetrics)
    .filter((m) => m.epoch <= upToEpoch);
}

export async function trainVae(opts: TrainOptions): Promise<TrainResult> {
  const { log, config: cfg } = opts;
  log.status('loading data');
  const onWarn = (m: string) => log.warn(m);
  const splits = await loadSplits(cfg.data, ['train', 'val'], { cacheDir: opts.resumeDir, onWarn });
  const train = splits.train;
  const val = splits.val;
  log.stopStatus();
  log.info(`data: ${cfg.data.dataset}, ${train.n} training / ${val.n} validation examples of ${train.shape.join('x')}`);

  const seed = cfg.train.seed;
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  let vae: Vae;
  let epsRng: Rng;
  let dir: string;
  let startEpoch = 0;
  let startStep = 0;
  let partial: PartialEpoch | null = null;
  let binState: RngSnapshot | null = null;
  let metrics: EpochMetrics[] = [];
  let best: CheckpointMeta['best'] = null;
  const runRecord = { backend: { name: opts.backend.name, tfjs: opts.backend.tfjs, device: opts.backend.device }, argv: opts.argv, at: new Date().toISOString() };

  if (opts.resumeDir) {
    dir = opts.resumeDir;
    const run = loadRun(dir);
    const meta = run.meta;
    vae = run.vae;
    if (!meta.optimizer || !meta.rng) throw new VaeError(`${dir}'s checkpoint has no optimiser state, so it cannot be resumed`);
    adam.restore(meta.optimizer.t, run.optimizer);
    epsRng = Rng.fromState(meta.rng.eps);
    binState = meta.rng.bin ?? null;
    startEpoch = meta.epoch;
    startStep = meta.step;
    partial = meta.partial ?? null;
    best = meta.best;
    metrics = readMetrics(dir, meta.epoch);
    writeRunJson(dir, 'config.json', cfg);
    const info = readRunInfo(dir);
    writeRunJson(dir, 'run.json', { ...info, resumes: [...(info.resumes ?? []), runRecord] });
    log.info(`resuming ${dir} at epoch ${startEpoch + 1}${partial ? `, step ${partial.stepInEpoch}` : ''} (step ${startStep} overall)`);
  } else {
    dir = opts.out ?? defaultRunDir(opts.name);
    createRunDir(dir);
    writeRunJson(dir, 'config.json', cfg);
    writeRunJson(dir, 'run.json', { created: runRecord.at, configFile: opts.configFile, ...runRecord, versions: versions() });
    vae = createVaeForConfig(cfg, train);
    epsRng = Rng.derive(seed, 'eps');
  }
  // Decoded image folders are cached in the run directory, so resume, eval and sample skip decoding.
  writeDataCache(splits, dir, { onWarn });
  const spec = vae.spec;
  const t = cfg.train;
  const task = makeVaeTask(vae, adam, train, cfg, epsRng, { epoch: startEpoch, bin: partial ? binState : null }, ({ epoch, index, skipped }) =>
    log.warn(`skipped a batch with a non-finite loss or gradient (epoch ${epoch + 1}, step ${index + 1}; ${skipped} of ${cfg.train.skipNonFinite} allowed)`),
  );
  const fixedZ = Rng.derive(seed, 'preview-z').fillNormal(new Float32Array(cfg.train.previewSamples * spec.latentDim));
  const previewSet = val.n > 0 ? val : slice(train, 0, 16);
  const binarizeEval = evalBinarizes(cfg);

  log.info(`model: ${describeModel(spec)}, ${countParams(vae.params).toLocaleString('en-US')} parameters`);
  log.info(`training: ${t.epochs} epoch${t.epochs === 1 ? '' : 's'} of ${task.stepsInEpoch(0)} steps (batch ${t.batchSize}, Adam ${t.learningRate}${t.lrSchedule !== 'constant' ? `, ${t.lrSchedule} schedule` : ''}); run directory ${dir}`);
  log.info(describeObjective(cfg));

  const weighted = t.beta !== 1 || t.warmupEpochs > 0 || t.freeBits > 0;
  const iw = t.iwSamples > 1;
  const bpd = spec.likelihood === 'logistic';
  const cols: [string, number][] = [
    ['epoch', 6],
    ['train ELBO', 11],
    ['recon', 10],
    ['KL', 9],
    ...(weighted ? ([['weighted KL', 12]] as [string, number][]) : []),
    ...(iw ? ([[`train L_${t.iwSamples}`, 11]] as [string, number][]) : []),
    ['val ELBO', 10],
    ['val recon', 10],
    ['val KL', 9],
    ...(bpd ? ([['val bits/dim', 13]] as [string, number][]) : []),
    ['ex/s', 7],
    ['time', 7],
  ];
  const table = streamingTable(
    cols.map((c) => c[0]),
    cols.map((c) => c[1]),
  );
  if (!log.quiet) process.stderr.write(`${table.header()}\n`);

  let earlyStop: EarlyStop | null = null;
  // the whole job's ETA: the steps left, at the pace so far (validation and checkpoints included)
  const progress = new Progress(log, cfg.train.epochs * task.stepsInEpoch(0) - startStep);
  const result = await runLoop(
    task,
    { startEpoch, epochs: cfg.train.epochs, startStep, logEvery: cfg.train.logEvery, partial, shouldStop: opts.shouldStop },
    {
      onProgress(p) {
        const kl = weighted ? `KL ${fmt(p.stats.kl)}, weighted ${fmt(p.stats.klWeighted)}` : `KL ${fmt(p.stats.kl)}`;
        const all = p.epochs - p.epoch > 1 ? `, all ${formatDuration(progress.eta(p.globalStep - startStep))}` : '';
        progress.show(
          `epoch ${p.epoch + 1}/${p.epochs}  step ${p.stepInEpoch}/${p.stepsInEpoch}  loss ${fmt(-p.stats.bound)}  (recon ${fmt(p.stats.recon)}, ${kl})  ${Math.round(p.examplesPerSec)} ex/s  ETA epoch ${formatDuration(p.epochEtaSec)}${all}`,
        );
      },
      async onEpochEnd(r) {
        log.status(`epoch ${r.epoch + 1}: validating`);
        const valResult = val.n > 0 ? await evaluateElbo(vae, val, { seed: EVAL_SEED, binarize: binarizeEval }) : null;
        const trainElbo = r.stats.recon - r.stats.kl;
        const steps = task.stepsInEpoch(r.epoch);
        const m: EpochMetrics = {
          epoch: r.epoch + 1,
          step: r.globalStep,
          train: {
            elbo: trainElbo,
            recon: r.stats.recon,
            kl: r.stats.kl,
            klWeighted: r.stats.klWeighted,
            objective: r.stats.bound,
            loss: -r.stats.bound,
            ...(r.stats.gradNorm !== undefined ? { gradNorm: r.stats.gradNorm } : {}),
          },
          lr: learningRateAt(t, r.epoch, steps - 1, steps),
          klWeight: klWeightAt(r.globalStep - 1, t.beta, t.warmupEpochs * steps),
          val: valResult,
          seconds: r.seconds,
          examplesPerSec: r.examples / r.seconds,
          time: new Date().toISOString(),
        };
        metrics.push(m);
        const score = valResult ? valResult.elbo : trainElbo;
        const improved = !best || score > best.valElbo + t.minDelta;
        if (improved) best = { epoch: r.epoch + 1, valElbo: score };
        log.status(`epoch ${r.epoch + 1}: saving`);
        const meta = { epoch: r.epoch + 1, step: r.globalStep, dataShape: train.shape, rng: { eps: epsRng.state(), bin: null }, partial: null, best };
        writeFileAtomic(path.join(dir, 'metrics.jsonl'), metrics.map((x) => JSON.stringify(x)).join('\n') + '\n');
        await saveRunCheckpoint(dir, vae, adam, meta);
        if (improved) await saveRunCheckpoint(path.join(dir, 'best'), vae, null, { ...meta, rng: null });
        await writePreviews(vae, dir, r.epoch, fixedZ, previewSet, binarizeEval);
        await writeCurves(dir, metrics);
        log.stopStatus();
        if (!log.quiet) {
          process.stderr.write(
            `${table.row([
              m.epoch,
              fmt(trainElbo),
              fmt(m.train.recon),
              fmt(m.train.kl),
              ...(weighted ? [fmt(m.train.klWeighted)] : []),
              ...(iw ? [fmt(m.train.objective)] : []),
              valResult ? fmt(valResult.elbo) : '-',
              valResult ? fmt(valResult.recon) : '-',
              valResult ? fmt(valResult.kl) : '-',
              ...(bpd ? [valResult ? (-valResult.elbo / (spec.inputDim * Math.LN2)).toFixed(3) : '-'] : []),
              Math.round(m.examplesPerSec),
              formatDuration(r.seconds),
            ])}\n`,
          );
        }
        if (val.n > 0 && outOfPatience(m.epoch, best, t.patience) && m.epoch < t.epochs) {
          earlyStop = { epoch: m.epoch, best: best!.epoch, bestElbo: best!.valElbo, patience: t.patience! };
          return 'stop';
        }
      },
    },
  );
  log.stopStatus();
  let stopped: TrainResult['stopped'] = null;
  if (earlyStop) {
    const e: EarlyStop = earlyStop;
    log.info(`stopped early after epoch ${e.epoch}: no better validation ELBO for ${e.patience} epochs; the best was epoch ${e.best} (${fmt(e.bestElbo)}), kept in ${path.join(dir, 'best')}`);
  }
  if (result.stopped) {
    stopped = { epoch: result.epoch, stepInEpoch: result.partial?.stepInEpoch ?? 0, stepsInEpoch: task.stepsInEpoch(result.epoch) };
    if (result.partial) {
      // A checkpoint part-way through the epoch: everything needed to continue it exactly.
      log.status('saving a checkpoint');
      const rng = task.rngState();
      await saveRunCheckpoint(dir, vae, adam, { epoch: result.epoch, step: result.globalStep, dataShape: train.shape, rng, partial: result.partial, best });
      log.stopStatus();
    }
  }
  adam.dispose();
  return { dir, metrics, stopped, earlyStop };
}
