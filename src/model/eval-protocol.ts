/**
 * How data is shown to a model outside the training steps, so that validation, `vae eval`,
 * previews and the reading commands all see the same inputs: a fixed seed for binarisation and
 * noise, and binarisation only where the likelihood is Bernoulli on binarised data.
 */
import type { Config } from '../config/schema.js';
import type { Binarize } from '../data/batches.js';
import { likelihoodKind } from './likelihoods/registry.js';

/** Validation and `vae eval` use this fixed seed for binarisation and noise, so numbers repeat. */
export const EVAL_SEED = 0;

/** Whether evaluation binarises inputs for this config (a binary likelihood on binarised data). */
export function evalBinarizes(cfg: Config): boolean {
  return likelihoodKind(cfg.model.likelihood).binaryData && cfg.data.binarize !== 'none';
}

/** How training binarises its batches (only for a likelihood of binary data). */
export function trainingBinarization(cfg: Config): Binarize {
  return likelihoodKind(cfg.model.likelihood).binaryData ? cfg.data.binarize : 'none';
}
