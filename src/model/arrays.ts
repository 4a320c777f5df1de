/**
 * Batched encode/decode between plain arrays and the model (no tensors escape). Reads are
 * asynchronous: the webgpu backend cannot read synchronously in Node.
 */
import { tf } from '../tf.js';
import type { UniformNormal } from './likelihoods/types.js';
import { decode, decodeMean, encode, type Vae } from './vae.js';
import { yieldToEvents } from '../ui/progress.js';

const BATCH = 1000;

/**
 * mu and logvar (n x J each) for n inputs of D values each. Yields to the event loop between
 * batches (Ctrl-C, spinners) and reports the examples done.
 */
export async function encodeArrays(vae: Vae, x: Float32Array, n: number, onProgress?: (done: number) => void): Promise<{ mu: Float32Array; logvar: Float32Array }> {
  const D = vae.spec.inputDim;
  const J = vae.spec.latentDim;
  const mu = new Float32Array(n * J);
  const logvar = new Float32Array(n * J);
  for (let s = 0; s < n; s += BATCH) {
    const m = Math.min(BATCH, n - s);
    const r = tf.tidy(() => {
      const e = encode(vae, tf.tensor2d(x.subarray(s * D, (s + m) * D), [m, D]));
      return tf.concat([e.mu, e.logvar], 1);
    });
    const v = (await r.data()) as Float32Array;
    r.dispose();
    for (let i = 0; i < m; i++) {
      mu.set(v.subarray(i * 2 * J, i * 2 * J + J), (s + i) * J);
      logvar.set(v.subarray(i * 2 * J + J, (i + 1) * 2 * J), (s + i) * J);
    }
    onProgress?.(s + m);
    await yieldToEvents();
  }
  return { mu, logvar };
}

/** Decoder means (n x D, in [0, 1]), or with `sampleRng` draws from p(x|z), for n latent vectors of J values each. */
export async function decodeArrays(vae: Vae, z: Float32Array, n: number, sampleRng?: UniformNormal): Promise<Float32Array> {
  const D = vae.spec.inputDim;
  const J = vae.spec.latentDim;
  const out = new Float32Array(n * D);
  for (let s = 0; s < n; s += BATCH) {
    const m = Math.min(BATCH, n - s);
    const r = tf.tidy(() => {
      const zt = tf.tensor2d(z.subarray(s * J, (s + m) * J), [m, J]);
      return sampleRng ? decode(vae, zt) : decodeMean(vae, zt);
    });
    const v = (await r.data()) as Float32Array;
    r.dispose();
    out.set(sampleRng ? await vae.likelihood.sample(v, D, sampleRng) : v, s * D);
    await yieldToEvents();
  }
  return out;
}
