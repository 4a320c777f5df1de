/**
 * The training loop. It does not know it trains a VAE: a task supplies steps that return a
 * small tensor of statistics (batch means), and hooks do the logging, validation, previews and
 * checkpoints. Statistics stay on the device and are read back only every `logEvery` steps
 * and at the end of an epoch (each read is a sync point), where they are also checked for
 * NaN/Inf before anything is saved.
 */
import { tf, type Tensor } from '../tf.js';
import { RuntimeFailure } from '../errors.js';
import type { PartialEpoch } from '../run/run.js';
import { yieldToEvents } from '../ui/progress.js';

export interface StepResult {
  /** batch-mean stats, 1-D and kept; null when the task keeps them itself (readStats) */
  stats: Tensor | null;
  examples: number;
}

export interface TrainTask {
  /** Names of the entries of each step's stats tensor, e.g. ['recon', 'kl']. */
  statNames: string[];
  stepsInEpoch(epoch: number): number;
  /** Run optimisation step `index` of `epoch`; returns batch-mean stats (kept, 1-D) and the batch size. */
  step(epoch: number, index: number): StepResult | Promise<StepResult>;
  /**
   * For tasks whose steps return stats: null (the fused GPU engine keeps them on the device):
   * the stats of the last `count` steps, in order, statNames.length values per step, and which
   * of those steps (0-based among them) were skipped under train.skipNonFinite.
   */
  readStats?(count: number): Promise<{ values: ArrayLike<number>; skipped?: ReadonlySet<number> }>;
}

export interface Progress {
  epoch: number;
  epochs: number;
  stepInEpoch: number;
  stepsInEpoch: number;
  globalStep: number;
  /** Mean of each stat over the steps since the last report. */
  stats: Record<string, number>;
  examplesPerSec: number;
  /** Seconds left in this epoch, estimated from its pace so far. */
  epochEtaSec: number;
}

export interface EpochResult {
  epoch: number;
  globalStep: number;
  /** Example-weighted mean of each stat over the epoch. */
  stats: Record<string, number>;
  examples: number;
  seconds: number;
}

export interface LoopOptions {
  startEpoch: number;
  epochs: number;
  /** optimisation steps already done */
  startStep: number;
  logEvery: number;
  /** continue startEpoch from here instead of from its first step */
  partial?: PartialEpoch | null;
  /** Checked before each step: when it returns true, the loop stops there. */
  shouldStop?: () => boolean;
  /**
   * Checked between steps (never inside one, so an engine that runs many steps per submit
   * answers at its submit boundaries): when it returns true, onCheckpoint saves the epoch so far.
   */
  checkpointDue?: () => boolean;
}

export interface LoopResult {
  /** stopped on request (shouldStop), part-way or between epochs */
  stopped: boolean;
  /** onEpochEnd asked to stop (early stopping) */
  finishedEarly: boolean;
  globalStep: number;
  /** the epoch in progress when stopped (0-based) and how far it got */
  epoch: number;
  partial: PartialEpoch | null;
}

export interface LoopHooks {
  onProgress?(p: Progress): void;
  /** Save a checkpoint part-way through `epoch`, `globalStep` steps in overall. */
  onCheckpoint?(at: { epoch: number; globalStep: number; partial: PartialEpoch }): Promise<void>;
  /** Return 'stop' to end training after this epoch (early stopping). */
  onEpochEnd?(r: EpochResult): Promise<void | 'stop'> | void | 'stop';
}

export class NonFiniteError extends RuntimeFailure {
  constructor(
    readonly step: number,
    readonly term: string,
  ) {
    super(`training diverged: the ${term} term became NaN or infinite near step ${step}`, {
      hint: 'lower train.learningRate (e.g. --set train.learningRate=3e-4); the last good checkpoint is kept',
    });
  }
}

export async function runLoop(task: TrainTask, opts: LoopOptions, hooks: LoopHooks = {}): Promise<LoopResult> {
  let globalStep = opts.startStep;
  const names = task.statNames;
  for (let epoch = opts.startEpoch; epoch < opts.epochs; epoch++) {
    const steps = task.stepsInEpoch(epoch);
    const resumed = epoch === opts.startEpoch ? opts.partial : null;
    const first = resumed?.stepInEpoch ?? 0;
    const sums = Float64Array.from(resumed?.sums ?? names.map(() => 0));
    let examples = resumed?.examples ?? 0;
    let pending: StepResult[] = [];
    const t0 = performance.now() - (resumed?.seconds ?? 0) * 1000;
    let lastReport = t0;
    let examplesSinceReport = 0;

    // one asynchronous read for all pending steps (webgpu in Node has no synchronous reads)
    const drain = async (stepInEpoch: number) => {
      if (pending.length === 0) return;
      let values: ArrayLike<number>;
      let skipped: ReadonlySet<number> | undefined;
      if (task.readStats) {
        ({ values, skipped } = await task.readStats(pending.length));
      } else {
        const all = tf.tidy(() => tf.stack(pending.map((p) => p.stats!)));
        values = await all.data();
        all.dispose();
      }
      const interval = new Float64Array(names.length);
      let intervalN = 0;
      pending.forEach((p, i) => {
        if (p.examples === 0 || skipped?.has(i)) {
          // a skipped step (train.skipNonFinite): no statistics or examples to count (the fused
          // engine reports its skips only now, after the step was counted for the rate)
          examplesSinceReport -= p.examples;
          p.stats?.dispose();
          return;
        }
        for (let k = 0; k < names.length; k++) {
          const v = values[i * names.length + k];
          if (!Number.isFinite(v)) throw new NonFiniteError(globalStep - pending.length + i + 1, names[k]);
          sums[k] += v * p.examples;
          interval[k] += v * p.examples;
        }
        intervalN += p.examples;
        p.stats?.dispose();
      });
      examples += intervalN;
      pending = [];
      const now = performance.now();
      const rate = (examplesSinceReport / Math.max(now - lastReport, 1e-3)) * 1000;
      const done = stepInEpoch / steps;
      hooks.onProgress?.({
        epoch,
        epochs: opts.epochs,
        stepInEpoch,
        stepsInEpoch: steps,
        globalStep,
        stats: Object.fromEntries(names.map((n, k) => [n, intervalN > 0 ? interval[k] / intervalN : NaN])),
        examplesPerSec: rate,
        epochEtaSec: done > 0 ? ((now - t0) / 1000) * (1 / done - 1) : NaN,
      });
      lastReport = now;
      examplesSinceReport = 0;
    };

    /** The epoch so far, before step i (call after drain(i)): enough to continue it exactly. */
    const partialAt = (i: number): PartialEpoch => ({ stepInEpoch: i, sums: [...sums], examples, seconds: (performance.now() - t0) / 1000 });

    try {
      for (let i = first; i < steps; i++) {
        // the steps themselves are synchronous: let signal handlers and spinners run between them
        await yieldToEvents();
        if (opts.shouldStop?.()) {
          await drain(i);
          return { stopped: true, finishedEarly: false, globalStep, epoch, partial: i === 0 ? null : partialAt(i) };
        }
        if (i > first && hooks.onCheckpoint && opts.checkpointDue?.()) {
          await drain(i);
          await hooks.onCheckpoint({ epoch, globalStep, partial: partialAt(i) });
        }
        const r = await task.step(epoch, i);
        pending.push(r);
        examplesSinceReport += r.examples;
        globalStep++;
        if ((i + 1) % opts.logEvery === 0 || i + 1 === steps) await drain(i + 1);
      }
    } finally {
      for (const p of pending) p.stats?.dispose();
    }
    const verdict = await hooks.onEpochEnd?.({
      epoch,
      globalStep,
      stats: Object.fromEntries(names.map((n, k) => [n, sums[k] / examples])),
      examples,
      seconds: (performance.now() - t0) / 1000,
    });
    if (verdict === 'stop') return { stopped: false, finishedEarly: true, globalStep, epoch: epoch + 1, partial: null };
  }
  return { stopped: false, finishedEarly: false, globalStep, epoch: opts.epochs, partial: null };
}
