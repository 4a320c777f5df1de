/**
 * The pieces the CPU engine's graphs (step-graph.ts, importance-graph.ts) share: activations, as
 * src/model/vae.ts applies them, and the likelihoods' per-pixel terms, as src/model/likelihoods
 * writes them.
 */
import { LOG_SIGMA_RANGE } from '../../model/likelihoods/gaussian.js';
import type { Activation, VaeSpec } from '../../model/vae.js';
import type { Graph } from './graph.js';

/** The hidden layers' leaky ReLU slope (src/model/vae.ts). */
export const LEAKY_ALPHA = 0.2;

export const LOG_2PI = Math.log(2 * Math.PI);

/** act(pre) */
export function activate(g: Graph, pre: string, act: Activation): string {
  switch (act) {
    case 'relu':
      return g.op('Relu', [pre]);
    case 'tanh':
      return g.op('Tanh', [pre]);
    case 'elu':
      return g.op('Elu', [pre], { alpha: { float: 1 } });
    case 'leaky_relu':
      return g.op('LeakyRelu', [pre], { alpha: { float: LEAKY_ALPHA } });
  }
}

/**
 * The Bernoulli's sigmoid s = sigmoid(l) and log sigmoid(|l|) = log max(s, 1 - s), so that
 * log p(x|l) = x l - relu(l) + log sigmoid(|l|) (x l - softplus(l), as bernoulli.logProb):
 * max(s, 1 - s) lies in [1/2, 1], so its log is exact to float32's absolute rounding however wrong
 * a pixel is (onnxruntime's own Softplus is a scalar loop, the costliest node of a step).
 */
export function bernoulliTerms(g: Graph, logits: string): { s: string; logSigmoidAbs: string } {
  const s = g.op('Sigmoid', [logits]);
  return { s, logSigmoidAbs: g.op('Log', [g.op('Max', [s, g.op('Sub', [g.scalar(1), s])])]) };
}

/**
 * The Gaussian's per-pixel terms for x and the decoder's mean (broadcast against each other):
 * log sigma (fixed, or the learned `likelihood.logSigma` clipped to `range`, LOG_SIGMA_RANGE), 1/sigma,
 * zt = (x - mean) / sigma, zt^2 and log p = -1/2 (zt^2 + 2 log sigma + log 2 pi), as gaussianLogProb.
 */
export function gaussianTerms(g: Graph, spec: VaeSpec, param: (name: string) => string, x: string, mean: string) {
  const c = (v: number) => g.scalar(v);
  const learned = typeof spec.sigma !== 'number';
  const range = learned ? (LOG_SIGMA_RANGE.map(c) as [string, string]) : null;
  const logSigma = range ? g.op('Clip', [param('likelihood.logSigma'), ...range]) : c(Math.log(spec.sigma as number));
  const invSigma = g.op('Exp', [g.op('Neg', [logSigma])]);
  const zt = g.op('Mul', [g.op('Sub', [x, mean]), invSigma]);
  const zt2 = g.op('Mul', [zt, zt]);
  const logPx = g.op('Mul', [g.op('Add', [g.op('Add', [zt2, g.op('Mul', [logSigma, c(2)])]), c(LOG_2PI)]), c(-0.5)]);
  /** range: the clip's two bounds, null for a fixed sigma */
  return { range, invSigma, zt, zt2, logPx };
}

/**
 * log p(z) - log q(z|x) summed over the last axis (z's latent dimensions), mu and log sigma^2
 * broadcast against z: -1/2 sum (log 2 pi + z^2) + 1/2 sum (log 2 pi + lv + (z - mu)^2 / e^lv), as
 * logStdNormal and logNormalDiag (src/model/objective.ts) write the two normals.
 */
export function logPriorOverPosterior(g: Graph, z: string, mu: string, logvar: string): string {
  const c = (v: number) => g.scalar(v);
  const sumLast = (t: string) => g.op('ReduceSum', [t, g.ints([-1])], { keepdims: 0 });
  const logStd = g.op('Mul', [sumLast(g.op('Add', [c(LOG_2PI), g.op('Mul', [z, z])])), c(-0.5)]);
  const diff = g.op('Sub', [z, mu]);
  const logQ = g.op('Mul', [sumLast(g.op('Add', [g.op('Add', [c(LOG_2PI), logvar]), g.op('Div', [g.op('Mul', [diff, diff]), g.op('Exp', [logvar])])])), c(-0.5)]);
  return g.op('Sub', [logStd, logQ]);
}
