/**
 * Decoder likelihoods p(x|z). Each takes the decoder's raw output ("params": logits for the
 * Bernoulli) and gives log p(x|z) summed over the D pixels (one number per example, in nats),
 * the mean image for pictures, and a sample.
 */
import { tf, type Tensor } from '../tf.js';

export interface Likelihood {
  name: string;
  /** log p(x|z) per example: x and params are [..., D]; the result drops the last axis. */
  logProb(x: Tensor, params: Tensor): Tensor;
  /** E[x|z], for pictures, in [0, 1]. */
  mean(params: Tensor): Tensor;
  /** A draw x ~ p(x|z) given the mean image (values in [0, 1] for pictures), using `uniform()` and `normal()`. */
  sampleFromMean(mean: Float32Array, rng: { uniform(): number; normal(): number }): Float32Array;
}

/**
 * Bernoulli with logits l: log p(x|l) = x*l - softplus(l), computed stably as
 *   -(max(l, 0) - l*x + log(1 + exp(-|l|)))
 * so that it stays finite for |l| in the thousands (exp never sees a positive argument).
 */
export const bernoulli: Likelihood = {
  name: 'bernoulli',
  logProb(x, logits) {
    return tf.tidy(() => {
      const perPixel = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, x)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
      return tf.neg(tf.sum(perPixel, -1));
    });
  },
  mean(logits) {
    return tf.sigmoid(logits);
  },
  sampleFromMean(mean, rng) {
    return mean.map((p) => (rng.uniform() < p ? 1 : 0));
  },
};

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * Gaussian with fixed standard deviation sigma and mean given by the decoder:
 *   log p(x|mu) = -1/2 * sum_d (log 2 pi + 2 log sigma + (x_d - mu_d)^2 / sigma^2)
 * A density, so values can be positive; pictures clip the mean to [0, 1].
 */
export function gaussianFixed(sigma: number): Likelihood {
  const c = LOG_2PI + 2 * Math.log(sigma);
  const inv = 1 / (sigma * sigma);
  return {
    name: 'gaussian',
    logProb(x, mean) {
      return tf.tidy(() => tf.mul(-0.5, tf.sum(tf.add(c, tf.mul(tf.squaredDifference(x, mean), inv)), -1)));
    },
    mean(params) {
      return tf.clipByValue(params, 0, 1);
    },
    sampleFromMean(mean, rng) {
      return mean.map((m) => Math.min(1, Math.max(0, m + sigma * rng.normal())));
    },
  };
}

export function likelihoodByName(name: string): Likelihood {
  switch (name) {
    case 'bernoulli':
      return bernoulli;
    default:
      throw new Error(`unknown likelihood '${name}'`);
  }
}
