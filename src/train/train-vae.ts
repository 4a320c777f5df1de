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
import { loadSplits } from '../data/load.js';
import { EpochBatches, evalRows, type Binarize } from '../data/batches.js';
import { createVae, decodeMean, vaeLoss, type Vae, type VaeSpec } from '../model/vae.js';
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
import { fmt, streamingTable } from '../ui/table.js';
import { Adam } from './adam.js';
import { runLoop, type PartialEpoch, type TrainTask } from './loop.js';

/** Validation and `vae eval` use this fixed seed for binarisation and noise, so numbers repeat. */
export const EVAL_SEED = 0;

export interface EpochMetrics {
  epoch: number;
  step: number;
  /** training means over the epoch (nats per example); loss = kl - recon = -elbo */
  train: { elbo: number; recon: number; kl: number; loss: number };
  val: ElboResult | null;
  seconds: number;
  examplesPerSec: number;
  time: string;
}

export function specFromConfig(cfg: Config, data: Pick<ImageSet, 'shape'>): VaeSpec {
  return {
    arch: cfg.model.arch,
    inputDim: dimOf(data),
    hidden: cfg.model.hidden,
    latentDim: cfg.model.latentDim,
    activation: cfg.model.activation,
    likelihood: cfg.model.likelihood,
  };
}

export function trainingBinarization(cfg: Config): Binarize {
  return cfg.model.likelihood === 'bernoulli' ? cfg.data.binarize : 'none';
}

/** Whether evaluation binarises inputs for this config (Bernoulli on binarised data). */
export function evalBinarizes(cfg: Config): boolean {
  return cfg.model.likelihood === 'bernoulli' && cfg.data.binarize !== 'none';
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
  const B = cfg.train.batchSize;
  const D = dimOf(train);
  const J = vae.spec.latentDim;
  const mode = trainingBinarization(cfg);
  const varList = [...vae.params.values()];
  const ours = new Map([...vae.params].map(([name, v]) => [v.name, name]));
  const epsBuf = new Float32Array(Math.min(B, train.n) * J);
  let batches: EpochBatches | null = null;
  let batchesEpoch = -1;
  let skipped = 0;
  return {
    statNames: ['recon', 'kl'],
    stepsInEpoch: () => Math.ceil(train.n / B),
    rngState: () => ({ eps: epsRng.state(), bin: batches ? batches.binState() : null }),
    step(epoch, i) {
      if (!batches || batchesEpoch !== epoch) {
        const bin = resume && resume.epoch === epoch ? resume.bin : null;
        batches = new EpochBatches(train, B, mode, cfg.train.seed, epoch, bin);
        batchesEpoch = epoch;
      }
      const { x, n } = batches.batch(i);
      const eps = epsRng.fillNormal(epsBuf.subarray(0, n * J));
      const xT = tf.tensor2d(x, [n, D]);
      const eT = tf.tensor2d(eps, [n, J]);
      let stats: Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const r = vaeLoss(vae, xT, eT);
        stats = tf.keep(r.stats);
        return r.loss;
      }, varList);
      const byName = new Map<string, Tensor>();
      for (const [tfName, g] of Object.entries(grads)) byName.set(ours.get(tfName)!, g);
      // With train.skipNonFinite, check this step before updating (a sync per step, so only then).
      if (cfg.train.skipNonFinite > 0) {
        const ok = tf.tidy(() => tf.all(tf.stack([value, ...Object.values(grads)].map((t) => tf.all(tf.isFinite(t))))));
        const finite = ok.dataSync()[0] === 1;
        ok.dispose();
        if (!finite && skipped < cfg.train.skipNonFinite) {
          skipped++;
          onSkip?.({ epoch, index: i, skipped });
          tf.dispose([value, xT, eT, stats!, ...Object.values(grads)]);
          return { stats: tf.zeros([2]), examples: 0 };
        }
      }
      adam.apply(vae.params, byName);
      tf.dispose([value, xT, eT, ...Object.values(grads)]);
      return { stats: stats!, examples: n };
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
  const { mu } = encodeArrays(vae, xs, m);
  const { tiles, count } = pairRows(xs, decodeArrays(vae, mu, m), m, dimOf(reconSet), cols);
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

export interface TrainResult {
  dir: string;
  metrics: EpochMetrics[];
  /** set when a stop was requested: where the run stopped */
  stopped: { epoch: number; stepInEpoch: number; stepsInEpoch: number } | null;
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
  const splits = await loadSplits(cfg.data, ['train', 'val']);
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
    const spec = specFromConfig(cfg, train);
    dir = opts.out ?? defaultRunDir(opts.name);
    createRunDir(dir);
    writeRunJson(dir, 'config.json', cfg);
    writeRunJson(dir, 'run.json', { created: runRecord.at, configFile: opts.configFile, ...runRecord, versions: versions() });
    vae = createVae(spec, Rng.derive(seed, 'init'));
    epsRng = Rng.derive(seed, 'eps');
  }
  const spec = vae.spec;
  const task = makeVaeTask(vae, adam, train, cfg, epsRng, { epoch: startEpoch, bin: partial ? binState : null }, ({ epoch, index, skipped }) =>
    log.warn(`skipped a batch with a non-finite loss or gradient (epoch ${epoch + 1}, step ${index + 1}; ${skipped} of ${cfg.train.skipNonFinite} allowed)`),
  );
  const fixedZ = Rng.derive(seed, 'preview-z').fillNormal(new Float32Array(cfg.train.previewSamples * spec.latentDim));
  const previewSet = val.n > 0 ? val : slice(train, 0, 16);
  const binarizeEval = evalBinarizes(cfg);

  log.info(
    `model: ${spec.arch} ${[spec.inputDim, ...spec.hidden, spec.latentDim].join('-')} (${spec.activation}, ${spec.likelihood}), ${countParams(vae.params).toLocaleString('en-US')} parameters`,
  );
  log.info(`training: ${cfg.train.epochs} epochs of ${task.stepsInEpoch(0)} steps (batch ${cfg.train.batchSize}, Adam ${cfg.train.learningRate}); run directory ${dir}`);
  log.info('loss = -ELBO summed over pixels and latent dims, averaged over the batch (nats per example)');

  const table = streamingTable(['epoch', 'train ELBO', 'recon', 'KL', 'val ELBO', 'val recon', 'val KL', 'ex/s', 'time'], [6, 11, 10, 9, 10, 10, 9, 7, 7]);
  if (!log.quiet) process.stderr.write(`${table.header()}\n`);

  const result = await runLoop(
    task,
    { startEpoch, epochs: cfg.train.epochs, startStep, logEvery: cfg.train.logEvery, partial, shouldStop: opts.shouldStop },
    {
      onProgress(p) {
        const loss = p.stats.kl - p.stats.recon;
        log.status(
          `epoch ${p.epoch + 1}/${p.epochs}  step ${p.stepInEpoch}/${p.stepsInEpoch}  loss ${fmt(loss)}  (recon ${fmt(p.stats.recon)}, KL ${fmt(p.stats.kl)})  ${Math.round(p.examplesPerSec)} ex/s  ETA ${formatDuration(p.epochEtaSec)}`,
        );
      },
      async onEpochEnd(r) {
        log.status(`epoch ${r.epoch + 1}: validating`);
        const valResult = val.n > 0 ? evaluateElbo(vae, val, { seed: EVAL_SEED, binarize: binarizeEval }) : null;
        const trainElbo = r.stats.recon - r.stats.kl;
        const m: EpochMetrics = {
          epoch: r.epoch + 1,
          step: r.globalStep,
          train: { elbo: trainElbo, recon: r.stats.recon, kl: r.stats.kl, loss: -trainElbo },
          val: valResult,
          seconds: r.seconds,
          examplesPerSec: r.examples / r.seconds,
          time: new Date().toISOString(),
        };
        metrics.push(m);
        const score = valResult ? valResult.elbo : trainElbo;
        const improved = !best || score > best.valElbo;
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
              valResult ? fmt(valResult.elbo) : '-',
              valResult ? fmt(valResult.recon) : '-',
              valResult ? fmt(valResult.kl) : '-',
              Math.round(m.examplesPerSec),
              formatDuration(r.seconds),
            ])}\n`,
          );
        }
      },
    },
  );
  log.stopStatus();
  let stopped: TrainResult['stopped'] = null;
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
  return { dir, metrics, stopped };
}
