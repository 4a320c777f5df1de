/**
 * Every decoder likelihood, by name. Adding one: a file beside this one exporting a
 * LikelihoodKind, one line here, and its name in the config schema (a test keeps the two lists
 * equal).
 */
import { VaeError } from '../../errors.js';
import type { Params } from '../params.js';
import type { Likelihood, LikelihoodKind, LikelihoodSpec } from './types.js';
import { bernoulliKind } from './bernoulli.js';
import { gaussianKind } from './gaussian.js';
import { logisticKind } from './logistic.js';

export const LIKELIHOOD_KINDS: readonly LikelihoodKind[] = [bernoulliKind, gaussianKind, logisticKind];

export function likelihoodKind(name: string): LikelihoodKind {
  const kind = LIKELIHOOD_KINDS.find((k) => k.name === name);
  if (!kind) throw new VaeError(`unknown likelihood '${name}'`, { hint: `choose one of ${LIKELIHOOD_KINDS.map((k) => k.name).join(', ')}` });
  return kind;
}

/** The likelihood a model spec names, bound to the model's parameters for learned ones. */
export function makeLikelihood(spec: LikelihoodSpec, params: Params): Likelihood {
  return likelihoodKind(spec.likelihood).create(spec, params);
}
