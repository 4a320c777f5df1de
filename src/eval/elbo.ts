/**
 * Evaluating a trained VAE on a split (docs/eval.md):
 *  - the ELBO, its reconstruction term E_q[log p(x|z)] and KL(q(z|x) || p(z)), per example (nats);
 *  - optionally the importance-weighted bound L_K of Burda et al. (2015) and NLL = -L_K,
 *      log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x),  L_K = logsumexp_k(log w_k) - log K,
 *    with its standard error across examples and bits/dim;
 *  - per-dimension KL and Var_x(E_q[z_j|x]) for the active-unit count (active: > 0.01).
 *
 * The terms come from the objective module (src/model/objective.ts), the bound from the importance
 * sampler (importance.ts). Everything is seeded and drawn example by example (each example has
 * its own random streams), so numbers do not depend on --batch or on the chunking that bounds
 * memory. It yields to the event loop between chunks, so Ctrl-C and the spinner work.
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { evalRows } from '../data/batches.js';
import type { Vae } from '../model/vae.js';
import { elboParts } from '../model/objective.js';
import type { ElboResult } from '../run/metrics.js';
import { yieldToEvents } from '../ui/progress.js';
import { importanceBounds } from './importance.js';
import type { WorkerTask } from './sampler-worker.js';

/** Where the importance bounds come from when not from this thread's tfjs: worker threads (sampler-pool.ts) or the CPU engine (onnx-sampler.ts). */
export interface BoundsSampler {
  bounds(task: Omit<WorkerTask, 'type' | 'id'>, onRows?: (rows: number) => void): Promise<Float64Array>;
}

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
  /** the fused Bernoulli log-likelihood where it applies (default true) */
  fused?: boolean;
  /** the importance sampler: worker threads or the CPU engine (default: tfjs on this thread) */
  pool?: BoundsSampler | null;
  /** examples done (fractional while an example's K samples are under way) of total */
  onProgress?: (done: number, total: number) => void;
}

export async function evaluateSplit(vae: Vae, set: ImageSet, opts: EvalOptions): Promise<SplitResult> {
  const B = opts.batchSize ?? 1000;
  const K = opts.samples ?? 0;
  const J = vae.spec.latentDim;
  const epsRng = Rng.derive(opts.seed, 'eval-eps');
  let recon = 0;
  let kl = 0;
  const klDim = new Float64Array(J);
  const muSum = new Float64Array(J);
  const muSq = new Float64Array(J);
  const lk = new Float64Array(K > 0 ? set.n : 0);
  let rowsDone = 0;

  for (let start = 0; start < set.n; start += B) {
    const end = Math.min(start + B, set.n);
    const n = end - start;
    const xs = evalRows(set, start, end, opts.binarize, opts.seed);
    const epsArr = epsRng.fillNormal(new Float32Array(n * J));
    const x = tf.tensor2d(xs, [n, dimOf(set)]);
    const parts = tf.tidy(() => elboParts(vae, x, tf.tensor2d(epsArr, [n, J])));
    const sums = tf.tidy(() => tf.concat([tf.reshape(tf.sum(parts.recon), [1]), tf.sum(parts.klDims, 0)]));
    try {
      const s = await sums.data();
      recon += s[0];
      for (let j = 0; j < J; j++) {
        klDim[j] += s[1 + j];
        kl += s[1 + j];
      }
      const muArr = await parts.mu.data();
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < J; j++) {
          const m = muArr[i * J + j];
          muSum[j] += m;
          muSq[j] += m * m;
        }
      }
      if (K > 0) {
        const sampler = { seed: opts.seed, samples: K, chunkRows: opts.chunkRows ?? 8192, fused: opts.fused };
        const onRows = (rows: number) => {
          rowsDone += rows;
          opts.onProgress?.(rowsDone / K, set.n);
        };
        const bounds = opts.pool
          ? await opts.pool.bounds({ ...sampler, x: xs, mu: muArr as Float32Array, logvar: (await parts.logvar.data()) as Float32Array, n, first: start }, onRows)
          : await importanceBounds(vae, x, xs, parts.mu, parts.logvar, start, { ...sampler, onRows });
        lk.set(bounds, start);
      }
    } finally {
      tf.dispose([x, sums, parts.mu, parts.logvar, parts.recon, parts.klDims]);
    }
    opts.onProgress?.(end, set.n);
    await yieldToEvents();
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
    result.iw = { samples: K, lk: mean, nll: -mean, nllStdErr: se, bitsPerDim: -mean / (dimOf(set) * Math.LN2), perExample: lk };
  }
  return result;
}

/** The ELBO terms alone (used for validation during training). */
export async function evaluateElbo(vae: Vae, set: ImageSet, opts: Omit<EvalOptions, 'samples'>): Promise<ElboResult> {
  const r = await evaluateSplit(vae, set, { ...opts, samples: 0 });
  return { n: r.n, recon: r.recon, kl: r.kl, elbo: r.elbo };
}
