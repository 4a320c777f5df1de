/** The Gaussian likelihood: fixed sigma, or a learned global or per-pixel sigma. */
import { tf, type Tensor } from '../../tf.js';
import type { Params } from '../params.js';
import { clipUnit, type Likelihood, type LikelihoodKind } from './types.js';

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * The Gaussian's log sigma is kept within [log 1e-3, log 10]: pixels that are always 0 (MNIST's
 * borders) would otherwise let a learned sigma shrink towards 0 and the density grow without
 * bound. 1e-3 is about the standard deviation of 8-bit quantisation noise (1/255/sqrt 12).
 */
export const LOG_SIGMA_RANGE = [Math.log(1e-3), Math.log(10)] as const;

/** Gaussian log density of x given mean and log sigma (broadcast), summed over the last axis. */
function gaussianLogProb(x: Tensor, mean: Tensor, logSigma: Tensor): Tensor {
  return tf.tidy(() => {
    const z = tf.mul(tf.sub(x, mean), tf.exp(tf.neg(logSigma)));
    return tf.mul(-0.5, tf.sum(tf.add(tf.add(tf.square(z), tf.mul(2, logSigma)), LOG_2PI), -1));
  });
}

/**
 * Gaussian with fixed standard deviation sigma and mean given by the decoder:
 *   log p(x|mu) = -1/2 * sum_d (log 2 pi + 2 log sigma + (x_d - mu_d)^2 / sigma^2)
 * A density, so values can be positive; pictures clip the mean to [0, 1].
 */
export function gaussianFixed(sigma: number): Likelihood {
  const logSigma = Math.log(sigma);
  return {
    name: 'gaussian',
    outputsPerPixel: 1,
    logProb(x, mean) {
      return tf.tidy(() => gaussianLogProb(x, mean, tf.scalar(logSigma)));
    },
    mean: (out) => tf.clipByValue(out, 0, 1),
    sample: async (out, _D, rng) => out.map((m) => clipUnit(m + sigma * rng.normal())),
    outputBias: (pixelMean) => Float32Array.from(pixelMean),
    extraParams: () => [],
  };
}

/**
 * Gaussian with a learned log sigma, one for all pixels ('learned') or one per pixel
 * ('learned-per-pixel'), stored as the parameter 'likelihood.logSigma' ([1] or [D]). It starts
 * at log 0.1: about the spread of a decent reconstruction of [0, 1] images, so early training
 * neither ignores the reconstruction term (sigma too large) nor diverges (too small).
 */
export function gaussianLearned(perPixel: boolean, params: Params): Likelihood {
  const logSigma = () => {
    const v = params.get('likelihood.logSigma');
    if (!v) throw new Error('missing parameter likelihood.logSigma');
    return tf.clipByValue(v, LOG_SIGMA_RANGE[0], LOG_SIGMA_RANGE[1]);
  };
  return {
    name: 'gaussian',
    outputsPerPixel: 1,
    logProb(x, mean) {
      return tf.tidy(() => gaussianLogProb(x, mean, logSigma()));
    },
    mean: (out) => tf.clipByValue(out, 0, 1),
    async sample(out, D, rng) {
      const ls = tf.tidy(logSigma);
      const s = (await ls.data()).map(Math.exp);
      ls.dispose();
      return out.map((m, i) => clipUnit(m + s[s.length === 1 ? 0 : i % D] * rng.normal()));
    },
    outputBias: (pixelMean) => Float32Array.from(pixelMean),
    extraParams: (D) => [{ name: 'likelihood.logSigma', shape: [perPixel ? D : 1], init: Math.log(0.1) }],
  };
}

export const gaussianKind: LikelihoodKind = {
  name: 'gaussian',
  outputsPerPixel: 1,
  binaryData: false,
  exportMean: 'clip',
  bitsPerDim: false,
  options: (model) => ({ sigma: model.sigma }),
  describe: (spec) => `gaussian, sigma ${spec.sigma ?? 'learned'}`,
  create(spec, params) {
    const sigma = spec.sigma ?? 'learned';
    return typeof sigma === 'number' ? gaussianFixed(sigma) : gaussianLearned(sigma === 'learned-per-pixel', params);
  },
};
