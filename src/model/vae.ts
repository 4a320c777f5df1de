/**
 * The VAE as pure functions over named parameters (no I/O, no globals):
 *   encoder  x [B, D] -> (mlp: dense layers | conv: stride-2 convolutions, then dense layers) -> (mu, logvar) [B, J]
 *   decoder  z [B, J] -> the mirror image -> likelihood outputs [B, D * outputsPerPixel]
 * The maths: docs/maths.md.
 *
 * Batch normalisation (conv only) normalises with the batch's statistics while training and with
 * running averages (kept as non-trainable parameters '*.bn.runningMean' / '*.bn.runningVar',
 * checkpointed with the weights) otherwise; training passes a ForwardContext that collects each
 * layer's batch moments, and the trainer folds them into the running averages after the step.
 */
import { tf, type Tensor } from '../tf.js';
import type { Rng } from '../random.js';
import { initTensor, type Params } from './params.js';
import { likelihoodKind, makeLikelihood } from './likelihoods/registry.js';
import type { Likelihood } from './likelihoods/types.js';
import { conv2dSame, deconv2dSame, sizesDown } from './conv-ops.js';

export type Activation = 'relu' | 'tanh' | 'elu' | 'leaky_relu';

export interface VaeSpec {
  arch: 'mlp' | 'conv';
  /** D: pixels per example (H * W * C). */
  inputDim: number;
  /** [H, W, C] of an example; needed by conv (older mlp checkpoints lack it). */
  inputShape?: [number, number, number];
  /** dense hidden widths, encoder order (for conv: after the convolutions) */
  hidden: number[];
  latentDim: number;
  activation: Activation;
  likelihood: string;
  /** gaussian: a fixed sigma, or which learned sigma */
  sigma?: number | 'learned' | 'learned-per-pixel';
  /** conv: channels of each stride-2 convolution, encoder order */
  convChannels?: number[];
  /** conv: kernel size */
  kernelSize?: number;
  /** conv: batch normalisation after each hidden convolution */
  batchNorm?: boolean;
}

export interface Vae {
  spec: VaeSpec;
  params: Params;
  likelihood: Likelihood;
}

/** Batch moments gathered while training, to update the running averages after the step. */
export interface ForwardContext {
  training: boolean;
  moments: { layer: string; mean: Tensor; variance: Tensor; count: number }[];
}

export const BN_MOMENTUM = 0.1;
export const BN_EPSILON = 1e-5;

/** Whether a parameter is a running statistic (not trained by gradient). */
export function isBuffer(name: string): boolean {
  return name.endsWith('.runningMean') || name.endsWith('.runningVar');
}

interface TensorPlan {
  name: string;
  shape: number[];
  /** uniform(-bound, bound), or a constant */
  init: { bound: number } | { value: number };
}

/** The stride of every convolution (and transpose) of the conv VAE. */
export const CONV_STRIDE = 2;

/** Conv geometry: spatial sizes down the encoder, and the flattened size after the last convolution. */
export function convGeometry(spec: VaeSpec) {
  if (!spec.inputShape) throw new Error('a conv model needs inputShape');
  const [H, W, C] = spec.inputShape;
  const channels = spec.convChannels ?? [32, 64];
  const sizes = sizesDown([H, W], channels.length, CONV_STRIDE);
  const [h, w] = sizes[sizes.length - 1];
  return { H, W, C, channels, sizes, k: spec.kernelSize ?? 4, flat: h * w * channels[channels.length - 1] };
}

function outputsPerPixel(spec: VaeSpec): number {
  return likelihoodKind(spec.likelihood).outputsPerPixel;
}

/** Every tensor a spec implies, in order: the checkpoint's names and shapes, and how to initialise them. */
function plan(spec: VaeSpec): TensorPlan[] {
  const out: TensorPlan[] = [];
  const dense = (name: string, inDim: number, outDim: number) => {
    const bound = 1 / Math.sqrt(inDim);
    out.push({ name: `${name}.kernel`, shape: [inDim, outDim], init: { bound } }, { name: `${name}.bias`, shape: [outDim], init: { bound } });
  };
  const bn = (name: string, ch: number) => {
    out.push(
      { name: `${name}.bn.gamma`, shape: [ch], init: { value: 1 } },
      { name: `${name}.bn.beta`, shape: [ch], init: { value: 0 } },
      { name: `${name}.bn.runningMean`, shape: [ch], init: { value: 0 } },
      { name: `${name}.bn.runningVar`, shape: [ch], init: { value: 1 } },
    );
  };
  const m = outputsPerPixel(spec);
  const D = spec.inputDim;
  const J = spec.latentDim;
  const hidden = spec.hidden;
  if (spec.arch === 'mlp') {
    hidden.forEach((w, i) => dense(`encoder.hidden${i}`, i === 0 ? D : hidden[i - 1], w));
    const last = hidden.length ? hidden[hidden.length - 1] : D;
    dense('encoder.mu', last, J);
    dense('encoder.logvar', last, J);
    const rev = [...hidden].reverse();
    rev.forEach((w, i) => dense(`decoder.hidden${i}`, i === 0 ? J : rev[i - 1], w));
    dense('decoder.out', rev.length ? rev[rev.length - 1] : J, m * D);
  } else {
    const g = convGeometry(spec);
    const bnOn = spec.batchNorm ?? false;
    // PyTorch's conv initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in channels * k * k.
    g.channels.forEach((c, i) => {
      const cin = i === 0 ? g.C : g.channels[i - 1];
      const bound = 1 / Math.sqrt(cin * g.k * g.k);
      out.push({ name: `encoder.conv${i}.kernel`, shape: [g.k, g.k, cin, c], init: { bound } });
      // With batch norm the bias is redundant (beta plays its part).
      if (bnOn) bn(`encoder.conv${i}`, c);
      else out.push({ name: `encoder.conv${i}.bias`, shape: [c], init: { bound } });
    });
    hidden.forEach((w, i) => dense(`encoder.hidden${i}`, i === 0 ? g.flat : hidden[i - 1], w));
    const last = hidden.length ? hidden[hidden.length - 1] : g.flat;
    dense('encoder.mu', last, J);
    dense('encoder.logvar', last, J);
    const rev = [...hidden].reverse();
    rev.forEach((w, i) => dense(`decoder.hidden${i}`, i === 0 ? J : rev[i - 1], w));
    dense('decoder.project', rev.length ? rev[rev.length - 1] : J, g.flat);
    // Transposed convolutions back up: layer i maps channels[i] -> channels[i-1] (the last to C * m),
    // sizes[i+1] -> sizes[i]. Filters are [k, k, out, in] (tfjs conv2dTranspose layout).
    for (let i = g.channels.length - 1; i >= 0; i--) {
      const cin = g.channels[i];
      const cout = i === 0 ? g.C * m : g.channels[i - 1];
      const bound = 1 / Math.sqrt(cin * g.k * g.k);
      const name = i === 0 ? 'decoder.out' : `decoder.deconv${i}`;
      out.push({ name: `${name}.kernel`, shape: [g.k, g.k, cout, cin], init: { bound } });
      if (i === 0) {
        // A bias per output pixel (not per channel), so the output can start at the data's mean image.
        out.push({ name: 'decoder.out.bias', shape: [m * D], init: { bound } });
      } else if (bnOn) bn(`decoder.deconv${i}`, cout);
      else out.push({ name: `${name}.bias`, shape: [cout], init: { bound } });
    }
  }
  const lik = makeLikelihood(spec, new Map());
  for (const e of lik.extraParams(D)) out.push({ name: e.name, shape: e.shape, init: { value: e.init } });
  return out;
}

/** A model from its spec and parameters (e.g. loaded from a checkpoint). */
export function vaeFromParams(spec: VaeSpec, params: Params): Vae {
  return { spec, params, likelihood: makeLikelihood(spec, params) };
}

/**
 * A freshly initialised VAE (PyTorch's initialisation, drawn from rng in plan order). With
 * `pixelMean` (the training data's per-pixel mean, D values), the decoder's output bias starts
 * where the likelihood predicts that mean (e.g. its log-odds for the Bernoulli).
 */
export function createVae(spec: VaeSpec, rng: Rng, opts: { pixelMean?: Float32Array | null } = {}): Vae {
  const params: Params = new Map();
  for (const t of plan(spec)) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    const values = 'bound' in t.init ? rng.fillUniform(new Float32Array(size), -t.init.bound, t.init.bound) : new Float32Array(size).fill(t.init.value);
    initTensor(params, t.name, t.shape, values, !isBuffer(t.name));
  }
  const vae = vaeFromParams(spec, params);
  if (opts.pixelMean) {
    const bias = vae.likelihood.outputBias(opts.pixelMean);
    tf.tidy(() => params.get('decoder.out.bias')!.assign(tf.tensor1d(bias)));
  }
  return vae;
}

/** The parameter names and shapes a spec implies, in order (for checking checkpoints). */
export function expectedShapes(spec: VaeSpec): Map<string, number[]> {
  return new Map(plan(spec).map((t) => [t.name, t.shape]));
}

/** The trainable parameters (not the batch-norm running statistics). */
export function trainableParams(vae: Vae): Params {
  return new Map([...vae.params].filter(([name]) => !isBuffer(name)));
}

/**
 * log sigma^2 is clipped to [-30, 20]: exp(20) ~ 5e8 and exp(-30) ~ 1e-13 stay finite in float32
 * in the KL (exp(logvar)) and the reparameterisation (exp(logvar / 2)), so one wild encoder
 * output cannot turn the loss into Inf. Healthy training stays far inside (about -8 to 1 on
 * MNIST), where the clip is the identity.
 */
export const LOGVAR_RANGE = [-30, 20] as const;

function p(vae: Vae, name: string): Tensor {
  const v = vae.params.get(name);
  if (!v) throw new Error(`missing parameter ${name}`);
  return v;
}

const FUSED: Record<Activation, 'relu' | 'elu' | 'leakyrelu' | null> = {
  relu: 'relu',
  elu: 'elu',
  leaky_relu: 'leakyrelu',
  tanh: null,
};
/** The hidden layers' leaky ReLU slope. */
export const LEAKY_ALPHA = 0.2;

function activate(x: Tensor, act: Activation): Tensor {
  switch (act) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'elu':
      return tf.elu(x);
    case 'leaky_relu':
      return tf.leakyRelu(x, LEAKY_ALPHA);
  }
}

/** y = act(x W + b), with the fused matmul+bias+activation kernel where tfjs has one. */
function dense(vae: Vae, x: Tensor, name: string, act: Activation | 'linear'): Tensor {
  const w = p(vae, `${name}.kernel`) as tf.Tensor2D;
  const b = p(vae, `${name}.bias`);
  if (act === 'linear') return tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias: b });
  const fused = FUSED[act];
  if (fused) return tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias: b, activation: fused, leakyreluAlpha: LEAKY_ALPHA });
  return tf.tanh(tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias: b }));
}

/**
 * Batch normalisation over batch and space (NHWC, per channel), then the activation. Training:
 * the batch's own mean and (biased) variance, recorded in ctx for the running averages.
 * Otherwise: the running averages.
 */
function batchNormAct(vae: Vae, x: Tensor, layer: string, ctx: ForwardContext | undefined): Tensor {
  let mean: Tensor;
  let variance: Tensor;
  if (ctx?.training) {
    const m = tf.moments(x, [0, 1, 2]);
    mean = m.mean;
    variance = m.variance;
    ctx.moments.push({ layer, mean: tf.keep(mean), variance: tf.keep(variance), count: x.size / x.shape[3]! });
  } else {
    mean = p(vae, `${layer}.bn.runningMean`);
    variance = p(vae, `${layer}.bn.runningVar`);
  }
  const norm = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, BN_EPSILON)));
  return activate(tf.add(tf.mul(norm, p(vae, `${layer}.bn.gamma`)), p(vae, `${layer}.bn.beta`)), vae.spec.activation);
}

/** A hidden convolution's bias (or batch norm) and activation. */
function convPost(vae: Vae, y: Tensor, layer: string, ctx: ForwardContext | undefined): Tensor {
  if (vae.spec.batchNorm) return batchNormAct(vae, y, layer, ctx);
  return activate(tf.add(y, p(vae, `${layer}.bias`)), vae.spec.activation);
}

/** q(z|x): mu and logvar, each [B, J]. x: [B, D]. */
export function encode(vae: Vae, x: Tensor, ctx?: ForwardContext): { mu: Tensor; logvar: Tensor } {
  return tf.tidy(() => {
    let h = x;
    if (vae.spec.arch === 'conv') {
      const g = convGeometry(vae.spec);
      h = tf.reshape(x, [x.shape[0], g.H, g.W, g.C]);
      for (let i = 0; i < g.channels.length; i++) {
        const layer = `encoder.conv${i}`;
        h = convPost(vae, conv2dSame(h as tf.Tensor4D, p(vae, `${layer}.kernel`) as tf.Tensor4D, CONV_STRIDE), layer, ctx);
      }
      h = tf.reshape(h, [x.shape[0], g.flat]);
    }
    for (let i = 0; i < vae.spec.hidden.length; i++) h = dense(vae, h, `encoder.hidden${i}`, vae.spec.activation);
    const logvar = tf.clipByValue(dense(vae, h, 'encoder.logvar', 'linear'), LOGVAR_RANGE[0], LOGVAR_RANGE[1]);
    return { mu: dense(vae, h, 'encoder.mu', 'linear'), logvar };
  });
}

/** The likelihood's outputs for p(x|z) (logits for Bernoulli), [B, D * outputsPerPixel]. z: [B, J]. */
export function decode(vae: Vae, z: Tensor, ctx?: ForwardContext): Tensor {
  return tf.tidy(() => {
    let h = z;
    for (let i = 0; i < vae.spec.hidden.length; i++) h = dense(vae, h, `decoder.hidden${i}`, vae.spec.activation);
    if (vae.spec.arch === 'mlp') return dense(vae, h, 'decoder.out', 'linear');
    const g = convGeometry(vae.spec);
    const B = z.shape[0];
    const L = g.channels.length;
    const [h0, w0] = g.sizes[L];
    h = tf.reshape(dense(vae, h, 'decoder.project', vae.spec.activation), [B, h0, w0, g.channels[L - 1]]);
    for (let i = L - 1; i >= 1; i--) {
      const layer = `decoder.deconv${i}`;
      h = convPost(vae, deconv2dSame(h as tf.Tensor4D, p(vae, `${layer}.kernel`) as tf.Tensor4D, CONV_STRIDE, g.sizes[i]), layer, ctx);
    }
    const out = deconv2dSame(h as tf.Tensor4D, p(vae, 'decoder.out.kernel') as tf.Tensor4D, CONV_STRIDE, g.sizes[0]);
    const D = vae.spec.inputDim;
    // [B, H, W, C*m] -> [B, m*D]: the C channels of output group 0 (e.g. the location), then group 1.
    const m = vae.likelihood.outputsPerPixel;
    const flat = m === 1 ? tf.reshape(out, [B, D]) : tf.concat(tf.split(out, m, 3).map((t) => tf.reshape(t, [B, D])), 1);
    return tf.add(flat, p(vae, 'decoder.out.bias'));
  });
}

/** Decoder mean E[x|z] in [0, 1], [B, D]: what pictures show. */
export function decodeMean(vae: Vae, z: Tensor): Tensor {
  return tf.tidy(() => vae.likelihood.mean(decode(vae, z)));
}

/**
 * Fold the batch moments a training forward pass gathered into the running averages (PyTorch's
 * rule: momentum 0.1, the unbiased variance), and free them.
 */
export function updateRunningStats(vae: Vae, ctx: ForwardContext): void {
  tf.tidy(() => {
    for (const { layer, mean, variance, count } of ctx.moments) {
      const rm = vae.params.get(`${layer}.bn.runningMean`)!;
      const rv = vae.params.get(`${layer}.bn.runningVar`)!;
      const unbiased = tf.mul(variance, count / Math.max(count - 1, 1));
      rm.assign(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
      rv.assign(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)));
    }
  });
  tf.dispose(ctx.moments.flatMap((m) => [m.mean, m.variance]));
  ctx.moments = [];
}
