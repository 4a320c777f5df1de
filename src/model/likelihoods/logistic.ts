/** The discretised logistic likelihood for 8-bit images. */
import { tf } from '../../tf.js';
import { clipUnit, softplus, type Likelihood, type LikelihoodKind } from './types.js';

/** Half the width of one 8-bit intensity bin on the [0, 1] scale. */
export const HALF_BIN = 0.5 / 255;
/** The logistic's log-scale floor (as in PixelCNN++): keeps 1/s finite. */
export const MIN_LOG_SCALE = -7;
/** A bin's mass below which float32 differences lose it: there log p is density x bin width. */
export const WIDE_BIN = 1e-5;

/**
 * Discretised logistic for 8-bit images (Salimans et al. 2017, PixelCNN++, one component):
 * intensity k/255 gets the logistic's mass on [k/255 - 1/510, k/255 + 1/510], with the two end
 * bins stretched to -inf and +inf, so the 256 probabilities sum to 1 and log p(x|z) is a true
 * discrete log-likelihood (reported as bits/dim). The decoder gives location mu and log-scale
 * log s for every pixel: out = [mu (D values), log s (D values)].
 */
export const logistic: Likelihood = {
  name: 'logistic',
  outputsPerPixel: 2,
  logProb(x, out) {
    return tf.tidy(() => {
      const D = x.shape[x.shape.length - 1];
      const [loc, rawLogScale] = tf.split(out, [D, D], -1);
      const logScale = tf.maximum(rawLogScale, MIN_LOG_SCALE);
      const invS = tf.exp(tf.neg(logScale));
      const centred = tf.sub(x, loc);
      const plusIn = tf.mul(invS, tf.add(centred, HALF_BIN));
      const minIn = tf.mul(invS, tf.sub(centred, HALF_BIN));
      // log sigma(a) = a - softplus(a); log(1 - sigma(b)) = -softplus(b)
      const logCdfPlus = tf.sub(plusIn, softplus(plusIn));
      const logOneMinusCdfMin = tf.neg(softplus(minIn));
      // sigma(plusIn) - sigma(minIn), written as sigma(plusIn) sigma(-minIn) (1 - e^-(plusIn - minIn))
      // so that no float32 cancellation costs the far tails their precision (plusIn - minIn = 2 h / s).
      // (tfjs-webgpu computes expm1 as exp(x) - 1: there the last factor is good to about
      // 1e-5 relative at s = 1, more for wider scales; cpu, wasm and tensorflow compute it exactly.)
      const cdfDelta = tf.mul(tf.mul(tf.sigmoid(plusIn), tf.sigmoid(tf.neg(minIn))), tf.neg(tf.expm1(tf.mul(invS, -2 * HALF_BIN))));
      // Where the bin's mass is too small for float32 differences, use density x bin width.
      const midIn = tf.mul(invS, centred);
      const logPdfMid = tf.sub(tf.sub(midIn, logScale), tf.mul(2, softplus(midIn)));
      // (A 0/1 mask from tf.step, which has a zero gradient, rather than tf.where on a condition
      // computed from the parameters: tfjs has no gradient for comparisons.)
      const wide = tf.step(tf.sub(cdfDelta, WIDE_BIN));
      const logMid = tf.add(tf.mul(wide, tf.log(tf.maximum(cdfDelta, 1e-12))), tf.mul(tf.sub(1, wide), tf.sub(logPdfMid, Math.log(255))));
      const perPixel = tf.where(tf.less(x, HALF_BIN), logCdfPlus, tf.where(tf.greater(x, 1 - HALF_BIN), logOneMinusCdfMin, logMid));
      return tf.sum(perPixel, -1);
    });
  },
  mean(out) {
    return tf.tidy(() => {
      const D = out.shape[out.shape.length - 1] / 2;
      return tf.clipByValue(tf.split(out, [D, D], -1)[0], 0, 1);
    });
  },
  async sample(out, D, rng) {
    const n = out.length / (2 * D);
    const x = new Float32Array(n * D);
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < D; d++) {
        const u = Math.min(1 - 1e-7, Math.max(1e-7, rng.uniform()));
        const s = Math.exp(Math.max(out[i * 2 * D + D + d], MIN_LOG_SCALE));
        const v = out[i * 2 * D + d] + s * Math.log(u / (1 - u));
        x[i * D + d] = Math.round(clipUnit(v) * 255) / 255;
      }
    }
    return x;
  },
  /** Location starts at the mean; log-scale at log 0.1 (a width of about 25 intensity levels). */
  outputBias(pixelMean) {
    const D = pixelMean.length;
    const b = new Float32Array(2 * D);
    b.set(pixelMean, 0);
    b.fill(Math.log(0.1), D);
    return b;
  },
  extraParams: () => [],
};

export const logisticKind: LikelihoodKind = {
  name: 'logistic',
  outputsPerPixel: 2,
  binaryData: false,
  exportMean: 'clip',
  bitsPerDim: true,
  options: () => ({}),
  describe: () => 'logistic',
  create: () => logistic,
};
