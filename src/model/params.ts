/**
 * Model parameters: named tf.Variables in a fixed order. Names are the checkpoint's tensor
 * names (docs/checkpoint.md; tfjs variable names are global and auto-assigned, so ours live
 * only in this map), e.g. 'encoder.hidden0.kernel' [in, out], 'decoder.out.bias' [out].
 */
import { tf, type Variable } from '../tf.js';
import type { Rng } from '../random.js';

export type Params = Map<string, Variable>;

export interface DenseSpec {
  name: string;
  inDim: number;
  outDim: number;
}

/**
 * Dense layers initialised as PyTorch's nn.Linear does (the reference we compare against):
 * kernel and bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
export function initDense(params: Params, spec: DenseSpec, rng: Rng): void {
  const bound = 1 / Math.sqrt(spec.inDim);
  const k = rng.fillUniform(new Float32Array(spec.inDim * spec.outDim), -bound, bound);
  const b = rng.fillUniform(new Float32Array(spec.outDim), -bound, bound);
  params.set(`${spec.name}.kernel`, tf.variable(tf.tensor2d(k, [spec.inDim, spec.outDim]), true));
  params.set(`${spec.name}.bias`, tf.variable(tf.tensor1d(b), true));
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
  params.clear();
}

/** Total number of scalar parameters. */
export function countParams(params: Params): number {
  let n = 0;
  for (const v of params.values()) n += v.size;
  return n;
}
