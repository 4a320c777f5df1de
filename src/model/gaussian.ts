/**
 * Diagonal Gaussian maths for the encoder q(z|x) = N(mu, diag exp(logvar)) and the prior
 * p(z) = N(0, I). All results are per example, summed over the J latent dimensions, in nats.
 */
import { tf, type Tensor } from '../tf.js';

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * KL(q(z|x) || p(z)) in closed form (Kingma & Welling 2014, appendix B):
 *   KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)
 * written as 1/2 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2), which is the same number
 * but exactly +0 (not -0) when mu = 0 and logvar = 0. mu, logvar: [..., J] -> [...].
 */
export function klStdNormal(mu: Tensor, logvar: Tensor): Tensor {
  return tf.tidy(() => tf.sum(klPerDim(mu, logvar), -1));
}

/** Per-dimension KL terms, [..., J] (not summed). */
export function klPerDim(mu: Tensor, logvar: Tensor): Tensor {
  return tf.tidy(() => tf.mul(0.5, tf.sub(tf.add(tf.square(mu), tf.exp(logvar)), tf.add(1, logvar))));
}

/** log N(z; mu, diag exp(logvar)) summed over the last axis. Shapes broadcast. */
export function logNormalDiag(z: Tensor, mu: Tensor, logvar: Tensor): Tensor {
  return tf.tidy(() =>
    tf.mul(-0.5, tf.sum(tf.add(tf.add(LOG_2PI, logvar), tf.div(tf.square(tf.sub(z, mu)), tf.exp(logvar))), -1)),
  );
}

/** log N(z; 0, I) summed over the last axis. */
export function logStdNormal(z: Tensor): Tensor {
  return tf.tidy(() => tf.mul(-0.5, tf.sum(tf.add(LOG_2PI, tf.square(z)), -1)));
}

/** The reparameterisation z = mu + sigma * eps with sigma = exp(logvar / 2), eps ~ N(0, I). */
export function reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor): Tensor {
  return tf.tidy(() => tf.add(mu, tf.mul(tf.exp(tf.mul(0.5, logvar)), eps)));
}
