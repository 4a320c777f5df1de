import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { createVae, type VaeSpec } from '../../src/model/vae.js';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

export const TINY: VaeSpec = { arch: 'mlp', inputDim: 12, hidden: [8], latentDim: 3, activation: 'relu', likelihood: 'bernoulli' };

export function tinyVae(seed = 1, spec: VaeSpec = TINY) {
  return createVae(spec, Rng.derive(seed, 'init'));
}

/** Random binary data, n x d. */
export function binaryData(n: number, d: number, seed = 7): Float32Array {
  const rng = Rng.derive(seed, 'data');
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform() < 0.3 + 0.4 * ((i % d) / d) ? 1 : 0;
  return out;
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Standard error of the mean. */
export function stdErr(xs: ArrayLike<number>): number {
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (xs.length - 1) / xs.length);
}
