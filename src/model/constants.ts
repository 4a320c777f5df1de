/**
 * Cached scalar constants. `tf.mul(t, 0.9)` makes a fresh scalar tensor on every call, and on
 * webgpu each fresh tensor is one more upload: Adam's made 70 of a step's 87 uploads before this
 * cache (docs/performance.md, GPU). Here each value is uploaded once per backend and kept. The
 * arithmetic is unchanged (a number operand becomes the same float32 scalar either way), so
 * results are identical on every backend.
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
