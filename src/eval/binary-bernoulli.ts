/**
 * log p(x|z) of a Bernoulli decoder for binary images, fused for the importance sampler: many
 * samples z_k of the same example share one x, so the targets are never tiled.
 *
 * For x in {0, 1} with sign s = 2x - 1, each pixel's log-likelihood x l - softplus(l) equals
 * log sigmoid(s l), the probability of the observed bit, so
 *     log p(x|z) = sum_d log sigmoid(s_d l_d) = sum_groups log prod_{d in group} sigmoid(s_d l_d)
 * The products over groups of 8 pixels cut the logarithms eightfold: multiply, sigmoid, a product
 * and a log on an eighth of the values, where the general formula (likelihoods/bernoulli.ts: relu, abs, exp,
 * log1p, multiply by x, ...) takes nine full passes and needs x repeated for every sample.
 *
 * A group's product is exact to float32 rounding while it stays a normal float (>= 2^-126, i.e.
 * the group's 8 pixels together less than 87 nats wrong). Rows with a smaller product come out
 * as NaN, and the sampler recomputes their chunk with the general formula.
 */
import { tf, type Tensor } from '../tf.js';

const GROUP = 8;
/** The smallest normal float32, 2^-126. */
const FLT_MIN = 1.1754943508222875e-38;

/** Whether every value is exactly 0 or 1. */
export function isBinary(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (values[i] !== 0 && values[i] !== 1) return false;
  return true;
}

/** The signs s = 2x - 1 of binary images x [n, D], shaped [n, 1, D] to broadcast over samples. */
export function pixelSigns(x: Tensor): Tensor {
  return tf.tidy(() => tf.expandDims(tf.sub(tf.mul(x, 2), 1), 1));
}

/** log p(x|z) for logits [n, K, D] and signs [n, 1, D] of binary x: [n, K] (NaN where a group underflowed). */
export function binaryBernoulliLogPx(logits: Tensor, signs: Tensor): Tensor {
  return tf.tidy(() => {
    const [n, K, D] = logits.shape;
    const p = tf.sigmoid(tf.mul(logits, signs));
    if (D % GROUP !== 0) return tf.sum(tf.log(p), -1);
    const prods = tf.prod(tf.reshape(p, [n, K, D / GROUP, GROUP]), -1);
    const logPx = tf.sum(tf.log(prods), -1);
    return tf.where(tf.less(tf.min(prods, -1), FLT_MIN), tf.fill([n, K], NaN), logPx);
  });
}
