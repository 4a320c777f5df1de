/**
 * How data is shown to a model outside the training steps, so that validation, `vae eval`,
 * previews and the reading commands all see the same inputs: a fixed seed for binarisation and
 * noise, and binarisation only where the likelihood is Bernoulli on binarised data.
 */
import type { Config } from '../config/schema.js';
import type { Binarize } from './batches.js';

/** Validation and `vae eval` use this fixed seed for binarisation and noise, so numbers repeat. */
export const EVAL_SEED = 0;

/** Whether evaluation binarises inputs for this config (Bernoulli on binarised data). */
export function evalBinarizes(cfg: Config): boolean {
  return cfg.model.likelihood === 'bernoulli' && cfg.data.binarize !== 'none';
}

/** How training binarises its batches (only a Bernoulli likelihood binarises). */
export function trainingBinarization(cfg: Config): Binarize {
  return cfg.model.likelihood === 'bernoulli' ? cfg.data.binarize : 'none';
}
