/**
 * What training maximises, per batch (the maths is in docs/config.md, "Objectives"):
 *
 *  - the ELBO, with a weighted KL term: recon - w * KL, where w = beta during training (beta-VAE,
 *    Higgins et al. 2017), ramped linearly from 0 during KL warm-up (Bowman et al. 2016; Sonderby
 *    et al. 2016). With free bits lambda (Kingma et al. 2016) each latent dimension's batch-mean
 *    KL counts as at least lambda nats: w * sum_j max(lambda, mean_b KL_bj).
 *  - the importance-weighted bound L_k (Burda et al. 2015) when k > 1:
 *      L_k = mean_b [ logsumexp_i (log p(x|z_i) + w (log p(z_i) - log q(z_i|x))) - log k ]
 *    With k = 1 this is the ELBO with a one-sample KL estimate in place of the closed form, equal
 *    to the VAE loss in expectation.
 *
 * Reductions follow PyTorch's VAE example: sums over pixels and latent dimensions, means over the
 * batch, so the loss is in nats per example. Besides the loss, one small stats tensor is
 * returned (read back only at log intervals): OBJECTIVE_STATS in order.
 */
import { tf, type Tensor } from '../tf.js';
import { klPerDim, reparameterize } from './gaussian.js';
import { decode, encode, importanceTerms, type ForwardContext, type Vae } from './vae.js';

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

/**
 * The loss (a scalar to minimise) and its stats. x: [B, D]; eps: [k, B, J] standard normal
 * draws ([B, J] is accepted for k = 1).
 */
export function trainingObjective(vae: Vae, x: Tensor, eps: Tensor, opts: ObjectiveOptions, ctx?: ForwardContext): { loss: tf.Scalar; stats: Tensor } {
  return tf.tidy(() => {
    const B = x.shape[0];
    const J = vae.spec.latentDim;
    const { mu, logvar } = encode(vae, x, ctx);
    const klDims = klPerDim(mu, logvar); // [B, J]
    const kl = tf.mean(tf.sum(klDims, 1));
    if (opts.iwSamples === 1) {
      const e = eps.rank === 3 ? tf.reshape(eps, [B, J]) : eps;
      const z = reparameterize(mu, logvar, e);
      const recon = tf.mean(vae.likelihood.logProb(x, decode(vae, z, ctx)));
      const klTerm = opts.freeBits > 0 ? tf.sum(tf.maximum(tf.mean(klDims, 0), opts.freeBits)) : kl;
      const klWeighted = tf.mul(klTerm, opts.klWeight);
      const bound = tf.sub(recon, klWeighted);
      return { loss: tf.neg(bound) as tf.Scalar, stats: tf.stack([recon, kl, klWeighted, bound]) };
    }
    const K = opts.iwSamples;
    const { logPx, logRatio } = importanceTerms(x, mu, logvar, eps, (z) => decode(vae, z, ctx), vae.likelihood);
    const logW = tf.add(logPx, tf.mul(logRatio, opts.klWeight));
    const bound = tf.mean(tf.sub(tf.logSumExp(logW, 0), Math.log(K)));
    return { loss: tf.neg(bound) as tf.Scalar, stats: tf.stack([tf.mean(logPx), kl, tf.mul(kl, opts.klWeight), bound]) };
  });
}
