/**
 * The ELBO over a whole split: mean reconstruction term, KL and ELBO per example (nats), with a
 * fixed seeded binarisation and fixed seeded reparameterisation noise, so the numbers repeat.
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { evalRows } from '../data/batches.js';
import { elboTerms, type Vae } from '../model/vae.js';

export interface ElboResult {
  n: number;
  /** mean E_q[log p(x|z)] (nats) */
  recon: number;
  /** mean KL(q(z|x) || p(z)) (nats) */
  kl: number;
  /** mean ELBO = recon - kl (nats) */
  elbo: number;
}

export interface EvalOptions {
  seed: number;
  batchSize?: number;
  /** Binarise the inputs (Bernoulli likelihood with binarised training data). */
  binarize: boolean;
  onBatch?: (done: number, total: number) => void;
}

export function evaluateElbo(vae: Vae, set: ImageSet, opts: EvalOptions): ElboResult {
  const B = opts.batchSize ?? 1000;
  const D = dimOf(set);
  const J = vae.spec.latentDim;
  const epsRng = Rng.derive(opts.seed, 'eval-eps');
  let recon = 0;
  let kl = 0;
  for (let start = 0; start < set.n; start += B) {
    const end = Math.min(start + B, set.n);
    const n = end - start;
    const xs = evalRows(set, start, end, opts.binarize, opts.seed);
    const epsArr = epsRng.fillNormal(new Float32Array(n * J));
    const sums = tf.tidy(() => {
      const t = elboTerms(vae, tf.tensor2d(xs, [n, D]), tf.tensor2d(epsArr, [n, J]));
      return tf.stack([tf.sum(t.recon), tf.sum(t.kl)]);
    });
    const [r, k] = sums.dataSync();
    sums.dispose();
    recon += r;
    kl += k;
    opts.onBatch?.(end, set.n);
  }
  const n = set.n;
  return { n, recon: recon / n, kl: kl / n, elbo: (recon - kl) / n };
}
