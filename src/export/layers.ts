/**
 * Building blocks for writing the VAE as stock tfjs layers (nothing custom, so that plain
 * `@tensorflow/tfjs` loads the result): dense and convolutional layers with our weights, the
 * hidden activation, and constants. Each helper applies its layers to a symbolic tensor and
 * queues the weights to set once the model exists (layers only own weights after they are built).
 */
import { tf, tfl, type SymbolicTensor, type Tensor } from '../tf.js';
import { VaeError } from '../errors.js';
import type { Activation, Vae } from '../model/vae.js';
import { BN_EPSILON, LEAKY_ALPHA } from '../model/vae.js';

/** What LayerPlan needs of a tfjs layer. */
interface Layer {
  apply(inputs: SymbolicTensor | SymbolicTensor[]): unknown;
  setWeights(weights: Tensor[]): void;
}

/** Layers being assembled, and the weights each must receive. */
export class LayerPlan {
  private readonly pending: { layer: Layer; weights: Tensor[] }[] = [];
  private readonly temporaries: Tensor[] = [];

  constructor(readonly vae: Vae) {}

  /** A parameter of the model, as stored in the checkpoint. */
  param(name: string): Tensor {
    const v = this.vae.params.get(name);
    if (!v) throw new VaeError(`the model has no parameter '${name}'`, { hint: 'the checkpoint does not match its model description' });
    return v;
  }

  /** Apply a layer and remember the weights to give it. */
  apply(layer: Layer, x: SymbolicTensor | SymbolicTensor[], weights: Tensor[] = []): SymbolicTensor {
    const y = layer.apply(x) as SymbolicTensor;
    if (weights.length) this.pending.push({ layer, weights });
    return y;
  }

  /** A tensor made here for a weight, to free once the weights are set. */
  own<T extends Tensor>(t: T): T {
    this.temporaries.push(t);
    return t;
  }

  /** Set the queued weights (copied into the model's variables) and free the temporaries. */
  setWeights(): void {
    for (const { layer, weights } of this.pending) layer.setWeights(weights);
    this.pending.length = 0;
    tf.dispose(this.temporaries);
    this.temporaries.length = 0;
  }
}

/** The hidden activation as a separate layer (or nothing for 'linear'). */
export function activation(plan: LayerPlan, x: SymbolicTensor, act: Activation, name: string): SymbolicTensor {
  switch (act) {
    case 'relu':
    case 'tanh':
    case 'elu':
      return plan.apply(tfl.layers.activation({ activation: act, name }), x);
    case 'leaky_relu':
      return plan.apply(tfl.layers.leakyReLU({ alpha: LEAKY_ALPHA, name }), x);
    default:
      throw new VaeError(`the activation '${String(act)}' has no TensorFlow.js layer to export it with`);
  }
}

/** y = act(x W + b) with the model's `${param}.kernel` and `${param}.bias`. */
export function dense(plan: LayerPlan, x: SymbolicTensor, param: string, act: Activation | 'linear', name: string): SymbolicTensor {
  const kernel = plan.param(`${param}.kernel`);
  const y = plan.apply(tfl.layers.dense({ units: kernel.shape[1]!, name }), x, [kernel, plan.param(`${param}.bias`)]);
  return act === 'linear' ? y : activation(plan, y, act, `${name}_${act}`);
}

/**
 * A constant of the given values broadcast over the batch: a dense layer on `x` with a zero
 * kernel and the values as its bias (0 * x sums to exactly 0, so the output is exactly the
 * values; `values` stays the caller's). tfjs's layers have no constant layer that a stock loader reads.
 */
export function constant(plan: LayerPlan, x: SymbolicTensor, values: Tensor, name: string): SymbolicTensor {
  const inDim = x.shape[x.shape.length - 1]!;
  const units = values.size;
  return plan.apply(tfl.layers.dense({ units, name }), x, [plan.own(tf.zeros([inDim, units])), plan.own(tf.reshape(values, [units]))]);
}

/** Batch normalisation with the running averages (inference), then the activation. */
export function batchNorm(plan: LayerPlan, x: SymbolicTensor, layer: string, act: Activation, name: string): SymbolicTensor {
  const w = ['gamma', 'beta', 'runningMean', 'runningVar'].map((k) => plan.param(`${layer}.bn.${k}`));
  const y = plan.apply(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, name: `${name}_bn` }), x, w);
  return activation(plan, y, act, `${name}_${act}`);
}

/**
 * TensorFlow's SAME padding along one axis of a stride-s convolution with an n-long input and a
 * k-wide kernel: out = ceil(n / s) positions, which read `before` zeros ahead of the input.
 * (The rule src/model/conv-ops.ts implements, and tfjs's own 'same' padding.)
 */
export function samePadding(n: number, k: number, s: number): { out: number; span: number; before: number } {
  const out = Math.ceil(n / s);
  const span = (out - 1) * s + k;
  return { out, span, before: Math.floor(Math.max(span - n, 0) / 2) };
}
