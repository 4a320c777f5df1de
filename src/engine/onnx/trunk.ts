/**
 * The layers of the CPU engine's graphs (network.ts arranges them into a spec's encoder and
 * decoder), each with its own backward pass: a layer takes d loss / d (its output), multiplies
 * in its activation's derivative, records the gradients of its parameters and returns d loss /
 * d (its input). A network is a list of layers run forward in order and backward in reverse, so
 * the MLP and the conv VAE share one loop; the importance graph runs the same layers forward only
 * (batch norm on its running averages there).
 *
 * The conv layers are src/model/vae.ts's: stride-2 convolutions with TensorFlow's SAME padding
 * (conv-ops.ts), their transposes back up, NHWC parameters ([k, k, in, out] for a convolution,
 * [k, k, out, in] for a transpose). Inside the graph images are NCHW, onnxruntime's layout, and
 * the filters are transposed to ONNX's order each step (a few thousand numbers). With xp the
 * SAME-padded input of a convolution y = conv(xp, W) and delta = d loss / d y:
 *
 *   d/d x   the transposed convolution of delta with W, the padding cropped (ConvTranspose)
 *   d/d W   dW[ci, co, a, b] = sum_{n,i,j} xp[n, ci, a + s i, b + s j] delta[n, co, i, j]: a
 *           stride-1 convolution dilated by s, with the batch and channel axes swapped
 *
 * and a transposed convolution is the adjoint of the same convolution read the other way round.
 */
import { activate } from './terms.js';
import { axisPlan, type AxisPlan } from '../../model/conv-ops.js';
import { BN_EPSILON, LEAKY_ALPHA, type Activation } from '../../model/vae.js';
import type { Graph } from './graph.js';

export interface Layer {
  output: string;
  /** d loss / d output -> d loss / d input ('' when needInput is false), recording the layer's gradients */
  back(dOutput: string, needInput: boolean): string;
}

/** A batch-norm layer's batch moments in a training graph (per channel), for the running averages. */
export interface BatchMoments {
  /** the layer's name, e.g. 'encoder.conv0' (its statistics are `<layer>.bn.runningMean` / `.runningVar`) */
  layer: string;
  mean: string;
  /** the biased variance, as tf.moments gives it */
  variance: string;
  /** how many values each channel's moments are over (rows x height x width), a float scalar */
  count: string;
}

export class Trunk {
  /** the batch-norm layers' batch moments, in the order the layers were built (training graphs) */
  readonly moments: BatchMoments[] = [];

  /** `training`: batch norm normalises with the batch's moments; otherwise with the running averages */
  constructor(
    private readonly g: Graph,
    private readonly param: (name: string) => string,
    private readonly grads: Map<string, string>,
    private readonly training = true,
  ) {}

  private c(v: number): string {
    return this.g.scalar(v);
  }

  /** act(pre) */
  activate(pre: string, act: Activation | 'linear'): string {
    return act === 'linear' ? pre : activate(this.g, pre, act);
  }

  /** d / d pre from d / d y, y = act(pre) (tfjs's gradients: relu and leaky_relu 0 at 0). */
  throughActivation(dy: string, y: string, act: Activation | 'linear'): string {
    const { g } = this;
    const c = (v: number) => this.c(v);
    let d: string;
    switch (act) {
      case 'linear':
        return dy;
      case 'relu':
        // 1 where y > 0 (onnxruntime's Sign is a scalar loop, a third slower than these two)
        d = g.op('Cast', [g.op('Greater', [y, c(0)])], { to: 1 });
        break;
      case 'tanh':
        d = g.op('Sub', [c(1), g.op('Mul', [y, y])]);
        break;
      case 'elu':
        d = g.op('Min', [g.op('Add', [y, c(1)]), c(1)]); // y + 1 below 0, 1 above
        break;
      case 'leaky_relu':
        d = g.op('Where', [g.op('Greater', [y, c(0)]), c(1), c(LEAKY_ALPHA)]);
        break;
    }
    return g.op('Mul', [dy, d]);
  }

  /** y = act(input W + b), input [rows, in] */
  dense(input: string, name: string, act: Activation | 'linear'): Layer {
    const { g } = this;
    const W = this.param(`${name}.kernel`);
    const output = this.activate(g.op('Gemm', [input, W, this.param(`${name}.bias`)]), act);
    return {
      output,
      back: (dy, needInput) => {
        const delta = this.throughActivation(dy, output, act);
        this.grads.set(`${name}.kernel`, g.op('Gemm', [input, delta], { transA: 1 }));
        this.grads.set(`${name}.bias`, g.op('ReduceSum', [delta, g.ints([0])], { keepdims: 0 }));
        return needInput ? g.op('Gemm', [delta, W], { transB: 1 }) : '';
      },
    };
  }

  /** Zero padding of an NCHW image's two spatial axes, or the image itself. */
  private pad(t: string, h: AxisPlan, w: AxisPlan): string {
    if (!h.before && !h.after && !w.before && !w.after) return t;
    return this.g.op('Pad', [t, this.g.ints([0, 0, h.before, w.before, 0, 0, h.after, w.after])]);
  }

  /** The filter gradient of y = conv(xp, W, stride s), both NCHW: [in, out, k, k] (see the top of the file). */
  private filterGradient(xp: string, delta: string, s: number): string {
    const { g } = this;
    const swap = (t: string) => g.op('Transpose', [t], { perm: [1, 0, 2, 3] });
    return g.op('Conv', [swap(xp), swap(delta)], { dilations: [s, s] });
  }

  /**
   * A stride-s SAME convolution with a bias per channel (unless `bias` is false), then act:
   * input [B, in, H, W] -> [B, out, ceil(H/s), ceil(W/s)], the kernel [k, k, in, out].
   */
  conv(input: string, name: string, inHW: [number, number], k: number, s: number, act: Activation | 'linear', bias = true): Layer {
    const { g } = this;
    // SAME padding per axis (kernelSize >= stride, so `after` is never a crop)
    const [ph, pw] = inHW.map((n) => axisPlan(n, k, s));
    const W = g.op('Transpose', [this.param(`${name}.kernel`)], { perm: [3, 2, 0, 1] }); // [out, in, k, k]
    const xp = this.pad(input, ph, pw);
    const inputs = bias ? [xp, W, this.param(`${name}.bias`)] : [xp, W];
    const output = this.activate(g.op('Conv', inputs, { strides: [s, s], kernel_shape: [k, k] }), act);
    return {
      output,
      back: (dy, needInput) => {
        const delta = this.throughActivation(dy, output, act);
        this.grads.set(`${name}.kernel`, g.op('Transpose', [this.filterGradient(xp, delta, s)], { perm: [2, 3, 0, 1] }));
        if (bias) this.grads.set(`${name}.bias`, g.op('ReduceSum', [delta, g.ints([0, 2, 3])], { keepdims: 0 }));
        if (!needInput) return '';
        return g.op('ConvTranspose', [delta, W], { strides: [s, s], kernel_shape: [k, k], pads: [ph.before, pw.before, ph.after, pw.after] });
      },
    };
  }

  /**
   * The transpose of a stride-s SAME convolution from outHW, then act: input [B, in, h, w] ->
   * [B, out, H, W] (outHW), the kernel [k, k, out, in]; a bias per channel unless `bias` is false.
   */
  deconv(input: string, name: string, outHW: [number, number], k: number, s: number, act: Activation | 'linear', bias = true): Layer {
    const { g } = this;
    const [ph, pw] = outHW.map((n) => axisPlan(n, k, s));
    const W = g.op('Transpose', [this.param(`${name}.kernel`)], { perm: [3, 2, 0, 1] }); // [in, out, k, k]
    const pads = [ph.before, pw.before, ph.after, pw.after];
    const inputs = bias ? [input, W, this.param(`${name}.bias`)] : [input, W];
    const output = this.activate(g.op('ConvTranspose', inputs, { strides: [s, s], kernel_shape: [k, k], pads }), act);
    return {
      output,
      back: (dy, needInput) => {
        const delta = this.throughActivation(dy, output, act);
        const dp = this.pad(delta, ph, pw);
        // the transpose's input plays a convolution's output: dW[out, in, a, b] = sum dp[n, out, a + s i, b + s j] x[n, in, i, j]
        this.grads.set(`${name}.kernel`, g.op('Transpose', [this.filterGradient(dp, input, s)], { perm: [2, 3, 0, 1] }));
        if (bias) this.grads.set(`${name}.bias`, g.op('ReduceSum', [delta, g.ints([0, 2, 3])], { keepdims: 0 }));
        return needInput ? g.op('Conv', [dp, W], { strides: [s, s], kernel_shape: [k, k] }) : '';
      },
    };
  }

  /**
   * Batch normalisation per channel of images [B, C, H, W], then act, as src/model/vae.ts's
   * batchNormAct: y = act(gamma (x - mean) / sqrt(var + eps) + beta). Training: the batch's mean
   * and biased variance over B, H and W (recorded in `moments`); otherwise the running averages.
   * Training's backward, with n = (x - mean) / sqrt(var + eps), delta = d loss / d (gamma n + beta)
   * and N the values per channel (the moments' own dependence on x included):
   *
   *   d/d gamma = sum delta n,   d/d beta = sum delta,
   *   d/d x = gamma / sqrt(var + eps) (delta - (d/d beta + n d/d gamma) / N)
   */
  batchNorm(input: string, layer: string, act: Activation | 'linear'): Layer {
    const { g } = this;
    const c = (v: number) => this.c(v);
    const perChannel = (t: string) => g.op('Reshape', [t, g.ints([1, -1, 1, 1])]);
    const axes = g.ints([0, 2, 3]);
    const gamma = perChannel(this.param(`${layer}.bn.gamma`));
    const beta = perChannel(this.param(`${layer}.bn.beta`));
    const rsqrt = (variance: string) => g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, c(BN_EPSILON)])])]);
    if (!this.training) {
      const mean = perChannel(this.param(`${layer}.bn.runningMean`));
      const norm = g.op('Mul', [g.op('Sub', [input, mean]), rsqrt(perChannel(this.param(`${layer}.bn.runningVar`)))]);
      const back = (): string => {
        throw new Error(`${layer}: batch norm on the running averages is forward only`);
      };
      return { output: this.activate(g.op('Add', [g.op('Mul', [norm, gamma]), beta]), act), back };
    }
    // (ReduceMean takes its axes as an attribute at this opset, ReduceSum as an input)
    const mean = g.op('ReduceMean', [input], { axes: [0, 2, 3], keepdims: 1 });
    const centred = g.op('Sub', [input, mean]);
    const variance = g.op('ReduceMean', [g.op('Mul', [centred, centred])], { axes: [0, 2, 3], keepdims: 1 });
    const invStd = rsqrt(variance);
    const norm = g.op('Mul', [centred, invStd]);
    const output = this.activate(g.op('Add', [g.op('Mul', [norm, gamma]), beta]), act);
    // values per channel, divided as integers (exact), then a float
    const count = g.op('Cast', [g.op('Div', [g.op('Size', [input]), g.op('Size', [mean])])], { to: 1 });
    const flat = (t: string) => g.op('Reshape', [t, g.ints([-1])]);
    this.moments.push({ layer, mean: flat(mean), variance: flat(variance), count });
    return {
      output,
      back: (dy, needInput) => {
        const delta = this.throughActivation(dy, output, act);
        const dGamma = g.op('ReduceSum', [g.op('Mul', [delta, norm]), axes], { keepdims: 1 });
        const dBeta = g.op('ReduceSum', [delta, axes], { keepdims: 1 });
        this.grads.set(`${layer}.bn.gamma`, flat(dGamma));
        this.grads.set(`${layer}.bn.beta`, flat(dBeta));
        if (!needInput) return '';
        const shared = g.op('Div', [g.op('Add', [dBeta, g.op('Mul', [norm, dGamma])]), count]);
        return g.op('Mul', [g.op('Sub', [delta, shared]), g.op('Mul', [gamma, invStd])]);
      },
    };
  }

  /** Columns [from, to) of axis `axis`. */
  private slice(t: string, axis: number, from: number, to: number): string {
    return this.g.op('Slice', [t, this.g.ints([from]), this.g.ints([to]), this.g.ints([axis])]);
  }

  /**
   * Rows [B, groups H W C] -> images [B, groups C, H, W]: each group of H W C columns (NHWC
   * order, as tfjs flattens) is C channels (the logistic's location, then its log-scale).
   */
  private images(rows: string, [H, W, C]: [number, number, number], groups = 1): string {
    const { g } = this;
    if (groups > 1) {
      const D = H * W * C;
      return g.op('Concat', Array.from({ length: groups }, (_, k) => this.images(this.slice(rows, 1, k * D, (k + 1) * D), [H, W, C])), { axis: 1 });
    }
    if (C === 1) return g.op('Reshape', [rows, g.ints([-1, 1, H, W])]);
    return g.op('Transpose', [g.op('Reshape', [rows, g.ints([-1, H, W, C])])], { perm: [0, 3, 1, 2] });
  }

  /** Images [B, groups C, H, W] -> rows [B, groups H W C], the inverse of images() (as src/model/vae.ts's decode splits channel groups). */
  private rows(images: string, [H, W, C]: [number, number, number], groups = 1): string {
    const { g } = this;
    if (groups > 1) return g.op('Concat', Array.from({ length: groups }, (_, k) => this.rows(this.slice(images, 1, k * C, (k + 1) * C), [H, W, C])), { axis: 1 });
    if (C === 1) return g.op('Reshape', [images, g.ints([-1, H * W])]);
    return g.op('Reshape', [g.op('Transpose', [images], { perm: [0, 2, 3, 1] }), g.ints([-1, H * W * C])]);
  }

  /** Rows -> images as a layer (its backward is the inverse). */
  toImages(rows: string, shape: [number, number, number]): Layer {
    return { output: this.images(rows, shape), back: (dy, needInput) => (needInput ? this.rows(dy, shape) : '') };
  }

  /** Images -> rows as a layer, `groups` channel groups of shape's C each. */
  toRows(images: string, shape: [number, number, number], groups = 1): Layer {
    return { output: this.rows(images, shape, groups), back: (dy, needInput) => (needInput ? this.images(dy, shape, groups) : '') };
  }

  /** input + b, b with input's last axis (the conv decoder's bias per output pixel) */
  bias(input: string, name: string): Layer {
    const { g } = this;
    return {
      output: g.op('Add', [input, this.param(name)]),
      back: (dy) => {
        this.grads.set(name, g.op('ReduceSum', [dy, g.ints([0])], { keepdims: 0 }));
        return dy;
      },
    };
  }
}

/** Runs layers backward from d loss / d (the last output); returns d loss / d (the first input), or '' without needInput. */
export function backward(layers: Layer[], dOutput: string, needInput: boolean): string {
  let d = dOutput;
  for (let i = layers.length - 1; i >= 0; i--) d = layers[i].back(d, i > 0 || needInput);
  return d;
}
