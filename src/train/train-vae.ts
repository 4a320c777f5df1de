/**
 * Training a VAE from a resolved config: data, model, run directory, and the hooks that make
 * the generic loop (loop.ts) write validation metrics, checkpoints and preview PNGs each epoch.
 * The pieces live beside it: model-from-config.ts (config -> model), vae-step.ts (one step),
 * previews.ts (pictures), early-stop.ts; the loss is src/model/objective.ts, the checkpoint
 * format src/run/checkpoint.ts.
 */
import path from 'node:path';
import { Rng } from '../random.js';
import type { Config } from '../config/schema.js';
import { slice } from '../data/dataset.js';
import { loadSplits, writeDataCache } from '../data/load.js';
import { EVAL_SEED, evalBinarizes } from '../model/eval-protocol.js';
import type { Vae } from '../model/vae.js';
import { klWeightAt } from '../model/objective.js';
import { likelihoodKind } from '../model/likelihoods/registry.js';
import { countParams } from '../model/params.js';
import { evaluateElbo } from '../eval/elbo.js';
import { checkNewRunDir, createRunDir, defaultRunDir, loadRun, readRunInfo, readRunMeta, saveRunCheckpoint, writeRunJson, type CheckpointMeta, type PartialEpoch } from '../run/run.js';
import { readMetrics, writeMetrics, type EpochMetrics } from '../run/metrics.js';
import { recipeForDataset } from '../image/prepare.js';
import { hasCheckpoint } from '../run/checkpoint.js';
import { lockRun, type RunLock } from '../run/lock.js';
import { VaeError } from '../errors.js';
import type { BackendReport } from '../backend/index.js';
import { versions } from '../version.js';
import { formatDuration, type Log } from '../ui/log.js';
import { Progress } from '../ui/progress.js';
import { fmt, streamingTable } from '../ui/table.js';
import { Adam } from './adam.js';
import { runLoop } from './loop.js';
import { learningRateAt } from './schedule.js';
import { checkFitsInMemory, createVaeForConfig, outOfMemory } from './model-from-config.js';
import { describeModel, describeObjective } from './describe.js';
import { makeVaeTask, type RngSnapshot, type VaeTask } from './vae-step.js';
import { fusedTaskFor } from './fused-task.js';
import { cpuEngineTaskFor } from './cpu-engine-task.js';
import { writeCurves, writePreviews } from './previews.js';
import { outOfPatience, type EarlyStop } from './early-stop.js';

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

/**
 * Train, holding the run's training lock (src/run/lock.ts) from before anything in the run is
 * read for training until the end, whatever the end: a second trainer on the run is refused.
 */
export async function trainVae(opts: TrainOptions): Promise<TrainResult> {
  const locks: RunLock[] = [];
  const hold = (lock: RunLock) => {
    locks.push(lock);
    if (lock.tookOverFrom !== null) opts.log.info(`took over the lock that an earlier vae train (pid ${lock.tookOverFrom}, no longer running) left in the run`);
  };
  try {
    return await train(opts, hold);
  } catch (err) {
    throw outOfMemory(err, opts.backend.name) ?? err;
  } finally {
    for (const lock of locks) lock.release();
  }
}

async function train(opts: TrainOptions, hold: (lock: RunLock) => void): Promise<TrainResult> {
  const { log, config: cfg } = opts;
  if (opts.resumeDir) hold(lockRun(opts.resumeDir));
  // A new run's folder is checked now (a run or a trainer already there is refused at once) and
  // created, with its lock, once the data have loaded.
  const newDir = opts.resumeDir ? null : (opts.out ?? defaultRunDir(opts.name));
  if (newDir) checkNewRunDir(newDir);
  log.status('loading data');
  const onWarn = (m: string) => log.warn(m);
  const splits = await loadSplits(cfg.data, ['train', 'val'], { cacheDir: opts.resumeDir, onWarn });
  const train = splits.train;
  const val = splits.val;
  log.stopStatus();
  log.info(`data: ${cfg.data.dataset}, ${train.n} training / ${val.n} validation examples of ${train.shape.join('x')}`);
  // Before the model is built or anything is written: a model or batch that cannot fit is refused.
  checkFitsInMemory(cfg, train, opts.backend.name);

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

  if (opts.resumeDir && hasCheckpoint(opts.resumeDir)) {
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
    // Everything is read and checked before anything is written: a damaged file is refused with the run as it was.
    metrics = readMetrics(dir, meta.epoch);
    const info = readRunInfo(dir);
    // best/ is replaced when an epoch improves on it: a damaged one is said now, not overwritten
    if (hasCheckpoint(path.join(dir, 'best'))) readRunMeta(path.join(dir, 'best'));
    writeRunJson(dir, 'config.json', cfg);
    writeRunJson(dir, 'run.json', { ...info, resumes: [...(info.resumes ?? []), runRecord] });
    log.info(`resuming ${dir} at epoch ${startEpoch + 1}${partial ? `, step ${partial.stepInEpoch}` : ''} (step ${startStep} overall)`);
  } else if (opts.resumeDir) {
    // Stopped before its first checkpoint: nothing to continue, so it starts again from the beginning.
    dir = opts.resumeDir;
    const info = readRunInfo(dir);
    writeRunJson(dir, 'config.json', cfg);
    writeRunJson(dir, 'run.json', { ...info, prepare: info.prepare ?? recipeForDataset(cfg.data.dataset), resumes: [...(info.resumes ?? []), runRecord] });
    vae = createVaeForConfig(cfg, train);
    epsRng = Rng.derive(seed, 'eps');
    log.info(`${dir} stopped before its first checkpoint: starting it again from the beginning`);
  } else {
    dir = newDir!;
    hold(createRunDir(dir));
    writeRunJson(dir, 'config.json', cfg);
    writeRunJson(dir, 'run.json', { created: runRecord.at, configFile: opts.configFile, ...runRecord, prepare: recipeForDataset(cfg.data.dataset), versions: versions() });
    vae = createVaeForConfig(cfg, train);
    epsRng = Rng.derive(seed, 'eps');
  }
  // Decoded image folders are cached in the run directory, so resume, eval and sample skip decoding.
  writeDataCache(splits, dir, { onWarn });
  const spec = vae.spec;
  const t = cfg.train;
  // An engine for every config it runs: on webgpu the fused WebGPU engine (src/engine/webgpu), on
  // wasm and tensorflow the CPU engine (src/engine/onnx); the start line says which runs, or why not.
  const onSkip = ({ epoch, index, skipped }: { epoch: number; index: number; skipped: number }) =>
    log.warn(`skipped a batch with a non-finite loss or gradient (epoch ${epoch + 1}, step ${index + 1}; ${skipped} of ${cfg.train.skipNonFinite} allowed)`);
  const resumeBin = { epoch: startEpoch, bin: partial ? binState : null };
  const fused = await fusedTaskFor(opts.backend, vae, adam, train, cfg, epsRng, onSkip);
  const engine = fused.task ? fused : await cpuEngineTaskFor(opts.backend, vae, adam, train, cfg, epsRng, resumeBin, onSkip);
  if (fused.line) log.info(fused.line);
  if (engine !== fused && engine.line) log.info(engine.line);
  const task: VaeTask = engine.task ?? makeVaeTask(vae, adam, train, cfg, epsRng, resumeBin, onSkip);
  const fixedZ = Rng.derive(seed, 'preview-z').fillNormal(new Float32Array(cfg.train.previewSamples * spec.latentDim));
  const previewSet = val.n > 0 ? val : slice(train, 0, 16);
  const binarizeEval = evalBinarizes(cfg);

  log.info(`model: ${describeModel(spec)}, ${countParams(vae.params).toLocaleString('en-US')} parameters`);
  log.info(`training: ${t.epochs} epoch${t.epochs === 1 ? '' : 's'} of ${task.stepsInEpoch(0)} steps (batch ${t.batchSize}, Adam ${t.learningRate}${t.lrSchedule !== 'constant' ? `, ${t.lrSchedule} schedule` : ''}); run directory ${dir}`);
  log.info(describeObjective(cfg));

  const weighted = t.beta !== 1 || t.warmupEpochs > 0 || t.freeBits > 0;
  const iw = t.iwSamples > 1;
  const bpd = likelihoodKind(spec.likelihood).bitsPerDim;
  // Each column's width is what its values need (e.g. -1234.56); headers wrap to fit the terminal.
  const cols: [string, number][] = [
    ['epoch', 5],
    ['train ELBO', 8],
    ['recon', 8],
    ['KL', 7],
    ...(weighted ? ([['weighted KL', 7]] as [string, number][]) : []),
    ...(iw ? ([[`train L_${t.iwSamples}`, 8]] as [string, number][]) : []),
    ['val ELBO', 8],
    ['val recon', 8],
    ['val KL', 7],
    ...(bpd ? ([['val bits/dim', 6]] as [string, number][]) : []),
    ['ex/s', 6],
    ['time', 6],
  ];
  const table = streamingTable(
    cols.map((c) => c[0]),
    cols.map((c) => c[1]),
  );
  if (!log.quiet) process.stderr.write(`${table.header()}\n`);

  let earlyStop: EarlyStop | null = null;
  // the whole job's ETA: the steps left, at the pace so far (validation and checkpoints included)
  const progress = new Progress(log, cfg.train.epochs * task.stepsInEpoch(0) - startStep);
  // Mid-epoch checkpoints on a time budget: at most train.checkpointMinutes of work is ever lost.
  let lastSave = performance.now();
  const checkpointDue = () => performance.now() - lastSave >= t.checkpointMinutes * 60_000;
  const savePartial = async (epoch: number, globalStep: number, at: PartialEpoch) => {
    await task.syncModel?.();
    await saveRunCheckpoint(dir, vae, adam, { epoch, step: globalStep, dataShape: train.shape, rng: task.rngState(), partial: at, best });
    lastSave = performance.now();
  };
  try {
    const result = await runLoop(
      task,
      { startEpoch, epochs: cfg.train.epochs, startStep, logEvery: cfg.train.logEvery, partial, shouldStop: opts.shouldStop, checkpointDue },
      {
        async onCheckpoint({ epoch, globalStep, partial: at }) {
          log.status(`epoch ${epoch + 1}: saving a checkpoint at step ${at.stepInEpoch}`);
          await savePartial(epoch, globalStep, at);
          log.debug(`saved a checkpoint at epoch ${epoch + 1}, step ${at.stepInEpoch}`);
        },
        onProgress(p) {
          const kl = weighted ? `KL ${fmt(p.stats.kl)}, weighted ${fmt(p.stats.klWeighted)}` : `KL ${fmt(p.stats.kl)}`;
          // Ranked: on a narrow terminal the terms go first, then the speed, the run's ETA, ...
          progress.show([
            { text: `epoch ${p.epoch + 1}/${p.epochs}`, rank: 0 },
            { text: `step ${p.stepInEpoch}/${p.stepsInEpoch}`, rank: 1 },
            { text: `loss ${fmt(-p.stats.bound)}`, rank: 2 },
            { text: `(recon ${fmt(p.stats.recon)}, ${kl})`, rank: 6 },
            { text: `${Math.round(p.examplesPerSec)} ex/s`, rank: 5 },
            { text: `ETA epoch ${formatDuration(p.epochEtaSec)}`, rank: 3 },
            ...(p.epochs - p.epoch > 1 ? [{ text: `all ${formatDuration(progress.eta(p.globalStep - startStep))}`, rank: 4, join: ', ' }] : []),
          ]);
        },
        async onEpochEnd(r) {
          await task.syncModel?.();
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
          writeMetrics(dir, metrics);
          await saveRunCheckpoint(dir, vae, adam, meta);
          if (improved) await saveRunCheckpoint(path.join(dir, 'best'), vae, null, { ...meta, rng: null });
          lastSave = performance.now();
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
        await savePartial(result.epoch, result.globalStep, result.partial);
        log.stopStatus();
      }
    }
    return { dir, metrics, stopped, earlyStop };
  } finally {
    task.dispose?.();
    adam.dispose();
  }
}
