/**
 * The layers of the step graph's encoder and decoder, each with its own backward pass: a layer
 * takes d loss / d (its output), multiplies in its activation's derivative, records the
 * gradients of its parameters and returns d loss / d (its input). A network is a list of layers
 * run forward in order and backward in reverse, so the MLP and the conv VAE share one loop.
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
import { activate, LEAKY_ALPHA } from './layers.js';
import { axisPlan, type AxisPlan } from '../../model/conv-ops.js';
import type { Activation } from '../../model/vae.js';
import type { Graph } from './graph.js';

export interface Layer {
  output: string;
  /** d loss / d output -> d loss / d input ('' when needInput is false), recording the layer's gradients */
  back(dOutput: string, needInput: boolean): string;
}

export class Trunk {
  constructor(
    private readonly g: Graph,
    private readonly param: (name: string) => string,
    private readonly grads: Map<string, string>,
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
   * A stride-s SAME convolution with a bias per channel, then act: input [B, in, H, W] ->
   * [B, out, ceil(H/s), ceil(W/s)], the kernel [k, k, in, out].
   */
  conv(input: string, name: string, inHW: [number, number], k: number, s: number, act: Activation | 'linear'): Layer {
    const { g } = this;
    // SAME padding per axis (kernelSize >= stride, so `after` is never a crop)
    const [ph, pw] = inHW.map((n) => axisPlan(n, k, s));
    const W = g.op('Transpose', [this.param(`${name}.kernel`)], { perm: [3, 2, 0, 1] }); // [out, in, k, k]
    const xp = this.pad(input, ph, pw);
    const output = this.activate(g.op('Conv', [xp, W, this.param(`${name}.bias`)], { strides: [s, s], kernel_shape: [k, k] }), act);
    return {
      output,
      back: (dy, needInput) => {
        const delta = this.throughActivation(dy, output, act);
        this.grads.set(`${name}.kernel`, g.op('Transpose', [this.filterGradient(xp, delta, s)], { perm: [2, 3, 0, 1] }));
        this.grads.set(`${name}.bias`, g.op('ReduceSum', [delta, g.ints([0, 2, 3])], { keepdims: 0 }));
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

  /** Rows [B, H W C] (NHWC order, as tfjs flattens) -> images [B, C, H, W]. */
  private images(rows: string, [H, W, C]: [number, number, number]): string {
    const { g } = this;
    if (C === 1) return g.op('Reshape', [rows, g.ints([-1, 1, H, W])]);
    return g.op('Transpose', [g.op('Reshape', [rows, g.ints([-1, H, W, C])])], { perm: [0, 3, 1, 2] });
  }

  /** Images [B, C, H, W] -> rows [B, H W C], the inverse of images(). */
  private rows(images: string, [H, W, C]: [number, number, number]): string {
    const { g } = this;
    if (C === 1) return g.op('Reshape', [images, g.ints([-1, H * W])]);
    return g.op('Reshape', [g.op('Transpose', [images], { perm: [0, 2, 3, 1] }), g.ints([-1, H * W * C])]);
  }

  /** Rows -> images as a layer (its backward is the inverse). */
  toImages(rows: string, shape: [number, number, number]): Layer {
    return { output: this.images(rows, shape), back: (dy, needInput) => (needInput ? this.rows(dy, shape) : '') };
  }

  /** Images -> rows as a layer. */
  toRows(images: string, shape: [number, number, number]): Layer {
    return { output: this.rows(images, shape), back: (dy, needInput) => (needInput ? this.images(dy, shape) : '') };
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
