/**
 * Gradient clipping by global norm (Pascanu et al. 2013): when the L2 norm of all gradients taken
 * together exceeds c, scale every gradient by c / norm, so the update keeps its direction. Done
 * on the device: no read-back, the norm comes back as a tensor for the step's statistics.
 */
import { tf, type Tensor } from '../tf.js';

export function clipByGlobalNorm(grads: Tensor[], maxNorm: number): { clipped: Tensor[]; norm: Tensor } {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
    const scale = tf.div(maxNorm, tf.maximum(norm, maxNorm));
    return { clipped: grads.map((g) => tf.mul(g, scale)), norm };
  });
}
