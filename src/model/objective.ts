/**
 * The objective, written once: the ELBO and the importance-weighted bound L_K, per example and
 * as training's loss, for training, evaluation and tests alike, on every tfjs backend. The maths
 * is in docs/config.md ("Objectives") and docs/eval.md.
 *
 *  - ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)): a one-sample reparameterised estimate of the
 *    reconstruction term (z = mu + sigma * eps) and the closed-form KL, per latent dimension.
 *  - log importance weights log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k ~ q(z|x), and
 *    L_K = logsumexp_k(log w_k) - log K (Burda et al. 2015). L_1 is a one-sample ELBO estimate.
 *  - training maximises the ELBO with a weighted KL term: recon - w * KL, where w = beta (beta-VAE,
 *    Higgins et al. 2017), ramped linearly from 0 during KL warm-up (Bowman et al. 2016; Sonderby
 *    et al. 2016). With free bits lambda (Kingma et al. 2016) each latent dimension's batch-mean
 *    KL counts as at least lambda nats: w * sum_j max(lambda, mean_b KL_bj). With k > 1 it
 *    maximises L_k with the weight on the prior/posterior ratio:
 *      L_k = mean_b [ logsumexp_i (log p(x|z_i) + w (log p(z_i) - log q(z_i|x))) - log k ]
 *
 * Reductions follow PyTorch's VAE example: sums over pixels and latent dimensions, means over the
 * batch, so the loss is in nats per example. Besides the loss, one small stats tensor is
 * returned (read back only at log intervals): OBJECTIVE_STATS in order.
 */
import { tf, type Tensor } from '../tf.js';
import type { Likelihood } from './likelihoods/types.js';
import { klPerDim, logNormalDiag, logStdNormal, reparameterize } from './gaussian.js';
import { decode, encode, type ForwardContext, type Vae } from './vae.js';

export interface ObjectiveOptions {
  /** the KL weight for this step: beta times the warm-up factor */
  klWeight: number;
  /** nats per latent dimension (0: off) */
  freeBits: number;
  /** importance samples k (1: the ELBO) */
  iwSamples: number;
}

/**
 * recon: mean E_q[log p(x|z)]; kl: mean closed-form KL (the raw KL); klWeighted: the KL term as
 * it enters the loss (after weight and free bits); bound: the objective's value (recon -
 * klWeighted for the ELBO, L_k for k > 1); elbo: recon - kl.
 */
export const OBJECTIVE_STATS = ['recon', 'kl', 'klWeighted', 'bound'] as const;

export const PLAIN_ELBO: ObjectiveOptions = { klWeight: 1, freeBits: 0, iwSamples: 1 };

/** The KL weight at a step: beta, ramped linearly from 0 over the first warmupSteps steps. */
export function klWeightAt(step: number, beta: number, warmupSteps: number): number {
  return warmupSteps > 0 ? beta * Math.min(1, step / warmupSteps) : beta;
}

type ElboParts = {
  /** q(z|x)'s mean and log variance, [B, J] */
  mu: Tensor;
  logvar: Tensor;
  /** one-sample estimate of E_q[log p(x|z)] per example, [B] (nats, <= 0 for binary data) */
  recon: Tensor;
  /** closed-form KL(q(z|x) || p(z)) per example and latent dimension, [B, J] (nats, >= 0) */
  klDims: Tensor;
};

/**
 * The ELBO's terms per example: ELBO(x) = recon - sum_j klDims. x: [B, D]; eps: [B, J] standard
 * normal draws for z = mu + sigma * eps.
 */
export function elboParts(vae: Vae, x: Tensor, eps: Tensor, ctx?: ForwardContext): ElboParts {
  return tf.tidy(() => {
    const { mu, logvar } = encode(vae, x, ctx);
    // (the KL before the reconstruction: backpropagation sums mu's and logvar's gradients in
    // the reverse order of their uses, so this order keeps training's numbers bit for bit)
    const klDims = klPerDim(mu, logvar);
    const z = reparameterize(mu, logvar, eps);
    const recon = vae.likelihood.logProb(x, decode(vae, z, ctx));
    return { mu, logvar, recon, klDims };
  });
}

/** log p(z) - log q(z|x) for z [..., J] and q's (mu, logvar), broadcast against z: [...]. */
export function logPriorRatio(z: Tensor, mu: Tensor, logvar: Tensor): Tensor {
  return tf.tidy(() => tf.sub(logStdNormal(z), logNormalDiag(z, mu, logvar)));
}

/**
 * The two parts of the log importance weights, each [K, B]: log p(x|z_k), and log p(z_k) -
 * log q(z_k|x) (training may weight the second). Any diagonal Gaussian q given as (mu, logvar)
 * [B, J], any decoder (z [N, J] -> likelihood outputs [N, D']) and likelihood. x: [B, D];
 * eps: [K, B, J].
 */
function importanceTerms(
  x: Tensor,
  mu: Tensor,
  logvar: Tensor,
  eps: Tensor,
  decoder: (z: Tensor) => Tensor,
  likelihood: Likelihood,
): { logPx: Tensor; logRatio: Tensor } {
  return tf.tidy(() => {
    const [K, B, J] = eps.shape;
    const z = reparameterize(mu, logvar, eps); // [K, B, J] by broadcasting
    const params = decoder(tf.reshape(z, [K * B, J]));
    const xs = tf.tile(x, [K, 1]); // [K*B, D]: row k*B + b is x[b], matching the reshape of z
    const logPx = tf.reshape(likelihood.logProb(xs, params), [K, B]);
    return { logPx, logRatio: logPriorRatio(z, mu, logvar) };
  });
}

/** log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), [K, B]; arguments as for importanceTerms. */
export function importanceWeights(
  x: Tensor,
  mu: Tensor,
  logvar: Tensor,
  eps: Tensor,
  decoder: (z: Tensor) => Tensor,
  likelihood: Likelihood,
): Tensor {
  return tf.tidy(() => {
    const { logPx, logRatio } = importanceTerms(x, mu, logvar, eps, decoder, likelihood);
    return tf.add(logPx, logRatio);
  });
}

/** The VAE's own log importance weights: encoder as q, decoder and likelihood as p. x: [B, D]; eps: [K, B, J] -> [K, B]. */
export function logImportanceWeights(vae: Vae, x: Tensor, eps: Tensor): Tensor {
  return tf.tidy(() => {
    const { mu, logvar } = encode(vae, x);
    return importanceWeights(x, mu, logvar, eps, (z) => decode(vae, z), vae.likelihood);
  });
}

/** L_K = logsumexp_k(log w_k) - log K per example, [B], from log w [K, B]. */
export function iwaeBound(logW: Tensor): Tensor {
  return tf.tidy(() => tf.sub(tf.logSumExp(logW, 0), Math.log(logW.shape[0])));
}

/**
 * The loss (a scalar to minimise) and its stats. x: [B, D]; eps: [k, B, J] standard normal
 * draws ([B, J] is accepted for k = 1).
 */
export function trainingObjective(vae: Vae, x: Tensor, eps: Tensor, opts: ObjectiveOptions, ctx?: ForwardContext): { loss: tf.Scalar; stats: Tensor } {
  return tf.tidy(() => {
    const B = x.shape[0];
    const J = vae.spec.latentDim;
    if (opts.iwSamples === 1) {
      const parts = elboParts(vae, x, eps.rank === 3 ? tf.reshape(eps, [B, J]) : eps, ctx);
      const kl = tf.mean(tf.sum(parts.klDims, 1));
      const recon = tf.mean(parts.recon);
      const klTerm = opts.freeBits > 0 ? tf.sum(tf.maximum(tf.mean(parts.klDims, 0), opts.freeBits)) : kl;
      const klWeighted = tf.mul(klTerm, opts.klWeight);
      const bound = tf.sub(recon, klWeighted);
      return { loss: tf.neg(bound) as tf.Scalar, stats: tf.stack([recon, kl, klWeighted, bound]) };
    }
    const K = opts.iwSamples;
    const { mu, logvar } = encode(vae, x, ctx);
    const kl = tf.mean(tf.sum(klPerDim(mu, logvar), 1));
    const { logPx, logRatio } = importanceTerms(x, mu, logvar, eps, (z) => decode(vae, z, ctx), vae.likelihood);
    const logW = tf.add(logPx, tf.mul(logRatio, opts.klWeight));
    const bound = tf.mean(tf.sub(tf.logSumExp(logW, 0), Math.log(K)));
    return { loss: tf.neg(bound) as tf.Scalar, stats: tf.stack([tf.mean(logPx), kl, tf.mul(kl, opts.klWeight), bound]) };
  });
}
