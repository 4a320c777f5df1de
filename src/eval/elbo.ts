/**
 * Evaluating a trained VAE on a split (docs/eval.md):
 *  - the ELBO, its reconstruction term E_q[log p(x|z)] and KL(q(z|x) || p(z)), per example (nats);
 *  - optionally the importance-weighted bound L_K of Burda et al. (2015) and NLL = -L_K,
 *      log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x),  L_K = logsumexp_k(log w_k) - log K,
 *    with its standard error across examples and bits/dim;
 *  - per-dimension KL and Var_x(E_q[z_j|x]) for the active-unit count (active: > 0.01).
 *
 * Everything is seeded and drawn example by example (each example has its own random streams),
 * so numbers do not depend on --batch or on the chunking that bounds memory.
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { evalRows } from '../data/batches.js';
import { decode, encode, importanceWeights, type Vae } from '../model/vae.js';
import { klPerDim, reparameterize } from '../model/gaussian.js';
import type { ElboResult } from '../run/metrics.js';

export const ACTIVE_UNIT_THRESHOLD = 0.01;

export interface SplitResult extends ElboResult {
  /** mean KL per latent dimension, indexed by dimension (nats) */
  klPerDim: number[];
  /** Var over examples of E_q[z_j|x] = mu_j(x), per dimension */
  muVariance: number[];
  /** dimensions with muVariance > 0.01, ascending */
  activeDims: number[];
  activeUnits: number;
  /** present when samples > 0 */
  iw?: {
    samples: number;
    /** mean L_K (nats, a lower bound on log p(x)) */
    lk: number;
    /** -lk: the importance-sampled negative log-likelihood estimate (nats) */
    nll: number;
    /** standard error of nll across examples */
    nllStdErr: number;
    /** nll / (D ln 2) */
    bitsPerDim: number;
    /** per-example L_K */
    perExample: Float64Array;
  };
}

export interface EvalOptions {
  seed: number;
  /** Binarise the inputs (Bernoulli likelihood with binarised training data). */
  binarize: boolean;
  /** examples per ELBO batch */
  batchSize?: number;
  /** importance samples K per example; 0 skips the importance-weighted bound */
  samples?: number;
  /** decoder rows per importance-sampling chunk: bounds memory (rows x D floats, several times) */
  chunkRows?: number;
  onProgress?: (done: number, total: number) => void;
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

export async function evaluateSplit(vae: Vae, set: ImageSet, opts: EvalOptions): Promise<SplitResult> {
  const B = opts.batchSize ?? 1000;
  const K = opts.samples ?? 0;
  const rows = opts.chunkRows ?? 8192;
  const D = dimOf(set);
  const J = vae.spec.latentDim;
  const epsRng = Rng.derive(opts.seed, 'eval-eps');
  let recon = 0;
  let kl = 0;
  const klDim = new Float64Array(J);
  const muSum = new Float64Array(J);
  const muSq = new Float64Array(J);
  const lk = new Float64Array(K > 0 ? set.n : 0);
  const kc = Math.max(1, Math.min(K, rows)); // samples per chunk
  const group = Math.max(1, Math.floor(rows / kc)); // examples per chunk

  for (let start = 0; start < set.n; start += B) {
    const end = Math.min(start + B, set.n);
    const n = end - start;
    const xs = evalRows(set, start, end, opts.binarize, opts.seed);
    const epsArr = epsRng.fillNormal(new Float32Array(n * J));
    const x = tf.tensor2d(xs, [n, D]);
    const { mu, logvar } = encode(vae, x);
    const sums = tf.tidy(() => {
      const z = reparameterize(mu, logvar, tf.tensor2d(epsArr, [n, J]));
      const r = tf.sum(vae.likelihood.logProb(x, decode(vae, z)));
      return tf.concat([tf.reshape(r, [1]), tf.sum(klPerDim(mu, logvar), 0)]);
    });
    const s = await sums.data();
    recon += s[0];
    for (let j = 0; j < J; j++) {
      klDim[j] += s[1 + j];
      kl += s[1 + j];
    }
    const muArr = await mu.data();
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < J; j++) {
        const m = muArr[i * J + j];
        muSum[j] += m;
        muSq[j] += m * m;
      }
    }

    for (let g0 = 0; K > 0 && g0 < n; g0 += group) {
      const g = Math.min(group, n - g0);
      const streams = Array.from({ length: g }, (_, b) => Rng.derive(opts.seed, 'iw', start + g0 + b));
      const total = new Float64Array(g).fill(-Infinity);
      const xg = tf.slice(x, [g0, 0], [g, D]);
      const mug = tf.slice(mu, [g0, 0], [g, J]);
      const lvg = tf.slice(logvar, [g0, 0], [g, J]);
      for (let k0 = 0; k0 < K; k0 += kc) {
        const kk = Math.min(kc, K - k0);
        const eps = new Float32Array(kk * g * J);
        for (let k = 0; k < kk; k++) {
          for (let b = 0; b < g; b++) {
            const o = (k * g + b) * J;
            for (let j = 0; j < J; j++) eps[o + j] = streams[b].normal();
          }
        }
        const lse = tf.tidy(() =>
          tf.logSumExp(importanceWeights(xg, mug, lvg, tf.tensor3d(eps, [kk, g, J]), (z) => decode(vae, z), vae.likelihood), 0),
        );
        const v = await lse.data();
        lse.dispose();
        for (let b = 0; b < g; b++) total[b] = logAddExp(total[b], v[b]);
      }
      tf.dispose([xg, mug, lvg]);
      for (let b = 0; b < g; b++) lk[start + g0 + b] = total[b] - Math.log(K);
      opts.onProgress?.(start + g0 + g, set.n);
    }
    tf.dispose([x, mu, logvar, sums]);
    if (K === 0) opts.onProgress?.(end, set.n);
  }

  const n = set.n;
  const muVariance = Array.from(muSum, (sum, j) => Math.max(0, muSq[j] / n - (sum / n) ** 2));
  const activeDims = muVariance.flatMap((v, j) => (v > ACTIVE_UNIT_THRESHOLD ? [j] : []));
  const result: SplitResult = {
    n,
    recon: recon / n,
    kl: kl / n,
    elbo: (recon - kl) / n,
    klPerDim: Array.from(klDim, (v) => v / n),
    muVariance,
    activeDims,
    activeUnits: activeDims.length,
  };
  if (K > 0) {
    let sum = 0;
    for (const v of lk) sum += v;
    const mean = sum / n;
    let sq = 0;
    for (const v of lk) sq += (v - mean) ** 2;
    const se = n > 1 ? Math.sqrt(sq / (n - 1) / n) : NaN;
    result.iw = { samples: K, lk: mean, nll: -mean, nllStdErr: se, bitsPerDim: -mean / (D * Math.LN2), perExample: lk };
  }
  return result;
}

/** The ELBO terms alone (used for validation during training). */
export async function evaluateElbo(vae: Vae, set: ImageSet, opts: Omit<EvalOptions, 'samples'>): Promise<ElboResult> {
  const r = await evaluateSplit(vae, set, { ...opts, samples: 0 });
  return { n: r.n, recon: r.recon, kl: r.kl, elbo: r.elbo };
}
