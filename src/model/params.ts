/**
 * Model parameters: named tf.Variables in a fixed order. Names are the checkpoint's tensor
 * names (docs/checkpoint.md; tfjs variable names are global and auto-assigned, so ours live
 * only in this map), e.g. 'encoder.hidden0.kernel' [in, out], 'decoder.out.bias' [out].
 * Initial values come from the model's plan (vae.ts), drawn as PyTorch initialises its layers.
 */
import { tf, type Tensor, type Variable } from '../tf.js';

export type Params = Map<string, Variable>;

/** Add a parameter (trainable by gradient, or a running statistic) with the given values. */
export function initTensor(params: Params, name: string, shape: number[], values: Float32Array, trainable = true): void {
  params.set(name, variableOf(tf.tensor(values, shape), trainable));
}

/**
 * A variable holding t's values; t itself is disposed (tf.variable shares t's buffer and keeps
 * t counted, so without this every initial value stayed alive beside its variable).
 */
export function variableOf(t: Tensor, trainable: boolean): Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

/** Total number of trainable scalar parameters. */
export function countParams(params: Params): number {
  let n = 0;
  for (const v of params.values()) if (v.trainable) n += v.size;
  return n;
}
