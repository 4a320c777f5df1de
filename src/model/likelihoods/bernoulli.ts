/** The Bernoulli likelihood on logits, for binary (or binarised) pixels. */
import { tf } from '../../tf.js';
import { softplus, type Likelihood, type LikelihoodKind } from './types.js';

/**
 * Bernoulli with logits l: log p(x|l) = x*l - softplus(l), computed stably as
 *   -(max(l, 0) - l*x + log(1 + exp(-|l|)))
 * so that it stays finite for |l| in the thousands (exp never sees a positive argument).
 */
export const bernoulli: Likelihood = {
  name: 'bernoulli',
  outputsPerPixel: 1,
  logProb(x, logits) {
    return tf.tidy(() => tf.neg(tf.sum(tf.sub(softplus(logits), tf.mul(logits, x)), -1)));
  },
  mean(logits) {
    return tf.sigmoid(logits);
  },
  async sample(out, _D, rng) {
    return out.map((l) => (rng.uniform() < 1 / (1 + Math.exp(-l)) ? 1 : 0));
  },
  /**
   * logit of the mean, clipped to [1e-3, 1 - 1e-3] so that always-black pixels (MNIST's
   * borders) start at -6.9 rather than -inf. Starting here rather than at 0 saves the decoder
   * from spending its first steps learning the average digit (worth about 0.4 nats on MNIST).
   */
  outputBias(pixelMean) {
    return pixelMean.map((p) => {
      const q = Math.min(1 - 1e-3, Math.max(1e-3, p));
      return Math.log(q / (1 - q));
    });
  },
  extraParams: () => [],
};

export const bernoulliKind: LikelihoodKind = {
  name: 'bernoulli',
  outputsPerPixel: 1,
  binaryData: true,
  exportMean: 'sigmoid',
  bitsPerDim: false,
  options: () => ({}),
  describe: () => 'bernoulli',
  create: () => bernoulli,
};
