/**
 * Cached scalar constants. `tf.mul(t, 0.9)` makes a fresh scalar tensor on every call, and on
 * webgpu each fresh tensor is an upload that allocates a new GPU buffer (tfjs-backend-webgpu
 * creates a staging buffer per upload): about 85 of them per training step before this cache,
 * the main cost of a step on a GPU (docs/performance.md). Here each value is uploaded once per
 * backend and kept. The arithmetic is unchanged (a number operand becomes the same float32
 * scalar either way), so results are identical on every backend.
 */
import { tf, type Tensor } from '../tf.js';

const cache = new Map<string, Tensor>();

/** A kept float32 scalar on the current backend. Never dispose it. */
export function constant(value: number): Tensor {
  const key = `${tf.getBackend()}:${value}`;
  let t = cache.get(key);
  if (!t || t.isDisposed) {
    t = tf.keep(tf.scalar(value));
    cache.set(key, t);
  }
  return t;
}
