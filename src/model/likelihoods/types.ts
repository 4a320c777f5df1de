/**
 * What a decoder likelihood p(x|z) is. Each takes the decoder's raw output ("out": logits for the
 * Bernoulli, the mean for the Gaussian, location and log-scale for the logistic) and gives
 * log p(x|z) summed over the D pixels (one number per example, in nats), the mean image for
 * pictures, and a sample. x holds intensities in [0, 1].
 *
 * A likelihood may own learned parameters beside the decoder (the Gaussian's log sigma); they
 * live in the model's parameter map under 'likelihood.*', so they are trained, checkpointed and
 * restored with the rest of the model.
 */
import { tf, type Tensor } from '../../tf.js';
import type { Params } from '../params.js';

export interface UniformNormal {
  uniform(): number;
  normal(): number;
}

export interface Likelihood {
  name: string;
  /** decoder outputs per pixel: 1 (logits or mean), or 2 (location then log-scale, each D wide) */
  outputsPerPixel: 1 | 2;
  /** log p(x|z) per example: x is [..., D], out is [..., outputsPerPixel * D]; the result drops the last axis. */
  logProb(x: Tensor, out: Tensor): Tensor;
  /** E[x|z] (or the distribution's centre), for pictures, in [0, 1]: [..., D]. */
  mean(out: Tensor): Tensor;
  /** Draws x ~ p(x|z), in [0, 1], from n rows of raw decoder outputs. */
  sample(out: Float32Array, D: number, rng: UniformNormal): Promise<Float32Array>;
  /** The decoder output bias that makes an untrained decoder predict the data's per-pixel mean. */
  outputBias(pixelMean: Float32Array): Float32Array;
  /** Learned parameters of the likelihood itself: name, shape and initial value. */
  extraParams(D: number): { name: string; shape: number[]; init: number }[];
}

export interface LikelihoodSpec {
  likelihood: string;
  /** for gaussian: fixed sigma, or which learned sigma */
  sigma?: number | 'learned' | 'learned-per-pixel';
}

/**
 * A likelihood as the registry (registry.ts) knows it: everything the rest of the program asks
 * of it, so that nothing compares likelihood names.
 */
export interface LikelihoodKind {
  name: string;
  /** decoder outputs per pixel: 1 (logits or mean), or 2 (location then log-scale) */
  outputsPerPixel: 1 | 2;
  /** the data are 0/1: training and evaluation binarise inputs (as data.binarize says) only then */
  binaryData: boolean;
  /** a discrete likelihood of 8-bit data: reported in bits/dim beside the ELBO */
  bitsPerDim: boolean;
  /**
   * How mean() reads the decoder's first D outputs, for `vae export` (which writes it as a stock
   * tfjs layer): 'sigmoid' of logits, or 'clip' to [0, 1]. Absent: the decoder cannot be exported.
   */
  exportMean?: 'sigmoid' | 'clip';
  /** the spec's likelihood options taken from the model config (e.g. the Gaussian's sigma) */
  options(model: { sigma: LikelihoodSpec['sigma'] }): Omit<LikelihoodSpec, 'likelihood'>;
  /** words for the model's description line, e.g. 'gaussian, sigma 0.1' */
  describe(spec: LikelihoodSpec): string;
  /** the likelihood for a model spec, bound to the model's parameters for learned ones */
  create(spec: LikelihoodSpec, params: Params): Likelihood;
}

/** log(1 + exp(v)) without overflow: max(v, 0) + log1p(exp(-|v|)). */
export function softplus(v: Tensor): Tensor {
  return tf.add(tf.relu(v), tf.log1p(tf.exp(tf.neg(tf.abs(v)))));
}

/** Clip to [0, 1], for pictures and samples. */
export function clipUnit(v: number): number {
  return Math.min(1, Math.max(0, v));
}
