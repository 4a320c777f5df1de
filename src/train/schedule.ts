/**
 * Learning-rate schedules, as pure functions of where training is (epoch, step within it), so
 * that a resumed run follows the same schedule without storing any schedule state.
 * docs/config.md gives the formulas with their defaults.
 */
import type { TrainConfig } from '../config/schema.js';

/** Burda et al. (2015): stage i = 0..7 lasts 3^i epochs at lr * 10^(-i/7) (3,280 epochs in all). */
export const BURDA_STAGES = 8;

export function burdaStage(epoch: number): number {
  let end = 0;
  for (let i = 0; i < BURDA_STAGES; i++) {
    end += 3 ** i;
    if (epoch < end) return i;
  }
  return BURDA_STAGES - 1;
}

/**
 * The learning rate for step `stepInEpoch` (0-based) of epoch `epoch` (0-based), with
 * `stepsPerEpoch` steps in an epoch:
 *   constant     lr
 *   step         lr * lrDecay^floor(epoch / lrStepEpochs)
 *   exponential  lr * lrDecay^(t / lrStepEpochs), t = epoch + stepInEpoch / stepsPerEpoch (smooth)
 *   cosine       lrMin + (lr - lrMin) * (1 + cos(pi * s / S)) / 2, s = steps done, S = epochs * stepsPerEpoch
 *   burda        lr * 10^(-i/7) in stage i (see burdaStage)
 */
export function learningRateAt(t: TrainConfig, epoch: number, stepInEpoch: number, stepsPerEpoch: number): number {
  const lr = t.learningRate;
  switch (t.lrSchedule) {
    case 'constant':
      return lr;
    case 'step':
      return lr * t.lrDecay ** Math.floor(epoch / t.lrStepEpochs);
    case 'exponential':
      return lr * t.lrDecay ** ((epoch + stepInEpoch / stepsPerEpoch) / t.lrStepEpochs);
    case 'cosine': {
      const total = t.epochs * stepsPerEpoch;
      const done = Math.min(epoch * stepsPerEpoch + stepInEpoch, total);
      return t.lrMin + ((lr - t.lrMin) * (1 + Math.cos((Math.PI * done) / total))) / 2;
    }
    case 'burda':
      return lr * 10 ** (-burdaStage(epoch) / 7);
  }
}
