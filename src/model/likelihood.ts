/**
 * Decoder likelihoods p(x|z). Each takes the decoder's raw output ("out": logits for the
 * Bernoulli, the mean for the Gaussian, location and log-scale for the logistic) and gives
 * log p(x|z) summed over the D pixels (one number per example, in nats), the mean image for
 * pictures, and a sample. x holds intensities in [0, 1].
 *
 * A likelihood may own learned parameters beside the decoder (the Gaussian's log sigma); they
 * live in the model's parameter map under 'likelihood.*', so they are trained, checkpointed and
 * restored with the rest of the model.
 */
import { tf, type Tensor } from '../tf.js';
import type { Params } from './params.js';

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

/** log(1 + exp(v)) without overflow: max(v, 0) + log1p(exp(-|v|)). */
function softplus(v: Tensor): Tensor {
  return tf.add(tf.relu(v), tf.log1p(tf.exp(tf.neg(tf.abs(v)))));
}

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

function clipUnit(v: number): number {
  return Math.min(1, Math.max(0, v));
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

/** Half the width of one 8-bit intensity bin on the [0, 1] scale. */
const HALF_BIN = 0.5 / 255;
/** The logistic's log-scale floor (as in PixelCNN++): keeps 1/s finite. */
const MIN_LOG_SCALE = -7;

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
      const cdfDelta = tf.sub(tf.sigmoid(plusIn), tf.sigmoid(minIn));
      // Where the bin's mass is too small for float32 differences, use density x bin width.
      const midIn = tf.mul(invS, centred);
      const logPdfMid = tf.sub(tf.sub(midIn, logScale), tf.mul(2, softplus(midIn)));
      // (A 0/1 mask from tf.step, which has a zero gradient, rather than tf.where on a condition
      // computed from the parameters: tfjs has no gradient for comparisons.)
      const wide = tf.step(tf.sub(cdfDelta, 1e-5));
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

export interface LikelihoodSpec {
  likelihood: string;
  /** for gaussian: fixed sigma, or which learned sigma */
  sigma?: number | 'learned' | 'learned-per-pixel';
}

/** The likelihood a model spec names, bound to the model's parameters for learned ones. */
export function makeLikelihood(spec: LikelihoodSpec, params: Params): Likelihood {
  switch (spec.likelihood) {
    case 'bernoulli':
      return bernoulli;
    case 'logistic':
      return logistic;
    case 'gaussian': {
      const sigma = spec.sigma ?? 'learned';
      return typeof sigma === 'number' ? gaussianFixed(sigma) : gaussianLearned(sigma === 'learned-per-pixel', params);
    }
    default:
      throw new Error(`unknown likelihood '${spec.likelihood}'`);
  }
}
