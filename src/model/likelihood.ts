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
};

export function likelihoodByName(name: string): Likelihood {
  switch (name) {
    case 'bernoulli':
      return bernoulli;
    default:
      throw new Error(`unknown likelihood '${name}'`);
  }
}
