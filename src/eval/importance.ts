/**
 * The importance sampler behind `vae eval`'s L_K (docs/eval.md): for each example, K draws
 * z_k = mu + sigma * eps_k from the example's own seeded stream, the log weights
 * log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), and L_K = logsumexp_k(log w_k) - log K.
 *
 * The weights are computed in chunks of at most `chunkRows` decoder rows (several examples' samples
 * in one large matrix product), read back, and reduced per example in double precision once all K
 * are in, so the result depends neither on the chunking nor on the batch size. For a Bernoulli
 * decoder on binary images the log-likelihood is fused (binary-bernoulli.ts); otherwise, and for
 * any chunk where the fused form underflows, the weights come from the objective module itself
 * (src/model/objective.ts), which the fused form is tested against.
 */
import { tf, type Tensor } from '../tf.js';
import { Rng } from '../random.js';
import { decode, type Vae } from '../model/vae.js';
import { importanceWeights, logPriorRatio } from '../model/objective.js';
import { reparameterize } from '../model/gaussian.js';
import { yieldToEvents } from '../ui/progress.js';
import { binaryBernoulliLogPx, isBinary, pixelSigns } from './binary-bernoulli.js';

interface ImportanceOptions {
  seed: number;
  /** K, importance samples per example */
  samples: number;
  /** decoder rows per chunk: bounds memory (rows x D floats, a few times over) */
  chunkRows: number;
  /** the fused Bernoulli log-likelihood where it applies (default true; false forces the objective's) */
  fused?: boolean;
  /** after each chunk, with the decoder rows it computed */
  onRows?: (rows: number) => void | Promise<void>;
}

/** log(sum exp(v[i])) over v, in double precision. */
export function logSumExp(v: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] > m) m = v[i];
  if (m === -Infinity || !Number.isFinite(m)) return m;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.exp(v[i] - m);
  return m + Math.log(s);
}

/** The objective's log weights for g examples' draws eps [g, k, J]: [g, k]. */
function generalLogWeights(vae: Vae, x: Tensor, mu: Tensor, logvar: Tensor, eps: Tensor): Tensor {
  return tf.tidy(() => {
    const w = importanceWeights(x, mu, logvar, tf.transpose(eps, [1, 0, 2]), (z) => decode(vae, z), vae.likelihood);
    return tf.transpose(w); // [k, g] -> [g, k]
  });
}

/** The same with the fused Bernoulli log-likelihood; signs [g, 1, D] of binary x. */
function fusedLogWeights(vae: Vae, signs: Tensor, mu: Tensor, logvar: Tensor, eps: Tensor): Tensor {
  return tf.tidy(() => {
    const [g, k, J] = eps.shape;
    const mu3 = tf.expandDims(mu, 1);
    const lv3 = tf.expandDims(logvar, 1);
    const z = reparameterize(mu3, lv3, eps); // [g, k, J]
    const logits = tf.reshape(decode(vae, tf.reshape(z, [g * k, J])), [g, k, -1]);
    return tf.add(binaryBernoulliLogPx(logits, signs), logPriorRatio(z, mu3, lv3));
  });
}

/**
 * Per-example L_K for n examples: x [n, D] (xValues: the same numbers, to test them for
 * binary), q's mu and logvar [n, J], and `first`, the index of x's first example in its split
 * (which names the random streams). Yields to the event loop after every chunk.
 */
export async function importanceBounds(vae: Vae, x: Tensor, xValues: Float32Array, mu: Tensor, logvar: Tensor, first: number, opts: ImportanceOptions): Promise<Float64Array> {
  const [n, D] = x.shape;
  const J = vae.spec.latentDim;
  const K = opts.samples;
  const kc = Math.max(1, Math.min(K, opts.chunkRows)); // samples per chunk
  const group = Math.max(1, Math.floor(opts.chunkRows / kc)); // examples per chunk
  const fused = opts.fused !== false && vae.likelihood.name === 'bernoulli' && isBinary(xValues);
  const out = new Float64Array(n);
  for (let g0 = 0; g0 < n; g0 += group) {
    const g = Math.min(group, n - g0);
    const streams = Array.from({ length: g }, (_, b) => Rng.derive(opts.seed, 'iw', first + g0 + b));
    const logW = Array.from({ length: g }, () => new Float64Array(K));
    const xg = tf.slice(x, [g0, 0], [g, D]);
    const mug = tf.slice(mu, [g0, 0], [g, J]);
    const lvg = tf.slice(logvar, [g0, 0], [g, J]);
    const signs = fused ? pixelSigns(xg) : null;
    try {
      for (let k0 = 0; k0 < K; k0 += kc) {
        const kk = Math.min(kc, K - k0);
        // each example's draws continue its own stream: k then j, as if drawn one example at a time
        const e = new Float32Array(g * kk * J);
        for (let b = 0; b < g; b++) {
          const s = streams[b];
          for (let i = b * kk * J, end = (b + 1) * kk * J; i < end; i++) e[i] = s.normal();
        }
        const eps = tf.tensor3d(e, [g, kk, J]);
        let w = signs ? fusedLogWeights(vae, signs, mug, lvg, eps) : generalLogWeights(vae, xg, mug, lvg, eps);
        let v = await w.data();
        if (signs && v.some((t) => t === -Infinity || Number.isNaN(t))) {
          // a pixel so wrong that sigmoid underflowed: this chunk by the general formula
          w.dispose();
          w = generalLogWeights(vae, xg, mug, lvg, eps);
          v = await w.data();
        }
        tf.dispose([w, eps]);
        for (let b = 0; b < g; b++) for (let k = 0; k < kk; k++) logW[b][k0 + k] = v[b * kk + k];
        await opts.onRows?.(g * kk);
        await yieldToEvents();
      }
    } finally {
      tf.dispose([xg, mug, lvg, ...(signs ? [signs] : [])]);
    }
    for (let b = 0; b < g; b++) out[g0 + b] = logSumExp(logW[b]) - Math.log(K);
  }
  return out;
}
