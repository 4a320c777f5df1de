/**
 * Differentiable strided convolution and its transpose ("deconvolution") with TensorFlow's SAME
 * padding, NHWC, square kernels, for the convolutional VAE.
 *
 * Why not plain tf.conv2d / tf.conv2dTranspose: their gradient wrt the filter runs the
 * Conv2DBackpropFilter kernel, which the wasm backend (our default) does not have (and cpu's is
 * very slow). So, except on tfjs-node, both ops are built as: explicit SAME pad (or crop), then
 * a 'valid' op inside tf.customGrad whose forward and backward use only Conv2D (plain, dilated
 * for the filter gradient, and sub-pixel for the transpose), Transpose, Reverse, Slice and
 * PadV2, all of which wasm has.
 */
import { tf } from '../tf.js';

/**
 * 'native': tf.conv2d / tf.conv2dTranspose with tfjs's own gradients (needs Conv2DBackpropFilter);
 * 'custom': the pad + customGrad path that any backend can run; 'auto': native only on the
 * 'tensorflow' backend (libtensorflow's kernels), custom elsewhere. Having the kernel is not
 * enough: cpu's Conv2DBackpropFilter is a scalar loop that made a 128x28x28 two-layer
 * encoder+decoder step take 65 s against 4 s for the custom path.
 */
export type ConvImpl = 'auto' | 'native' | 'custom';

export interface ConvOptions {
  impl?: ConvImpl;
}

/** Spatial sizes after each stride-s SAME conv: e.g. sizesDown([28,28], 2, 2) = [[28,28],[14,14],[7,7]] */
export function sizesDown(hw: [number, number], layers: number, stride: number): [number, number][] {
  const out: [number, number][] = [[hw[0], hw[1]]];
  for (let i = 0; i < layers; i++) {
    const [h, w] = out[out.length - 1];
    out.push([Math.ceil(h / stride), Math.ceil(w / stride)]);
  }
  return out;
}

function useNative(impl: ConvImpl): boolean {
  if (impl !== 'auto') return impl === 'native';
  return tf.getBackend() === 'tensorflow';
}

/**
 * One spatial axis of a SAME conv: an input of length n, kernel k, stride s gives out =
 * ceil(n/s) outputs, which read a window of span = (out-1)*s + k positions starting at -before.
 * When k < s the span can be shorter than n (TensorFlow then pads nothing and the tail rows are
 * never read), so `after` may be negative, meaning a crop.
 */
export interface AxisPlan {
  out: number;
  span: number;
  before: number;
  after: number;
}

export function axisPlan(n: number, k: number, s: number): AxisPlan {
  const out = Math.ceil(n / s);
  const span = (out - 1) * s + k;
  const before = Math.floor(Math.max(span - n, 0) / 2);
  return { out, span, before, after: span - n - before };
}

/** x [B,H,W,C] -> [B,spanH,spanW,C]: zero-pad (or crop the unread tail). Differentiable. */
function toSpan(x: tf.Tensor4D, ph: AxisPlan, pw: AxisPlan): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  let y = x;
  if (ph.after < 0 || pw.after < 0) y = tf.slice(y, [0, 0, 0, 0], [b, Math.min(h, ph.span), Math.min(w, pw.span), c]);
  if (ph.before > 0 || ph.after > 0 || pw.before > 0 || pw.after > 0) {
    y = tf.pad(y, [[0, 0], [ph.before, Math.max(ph.after, 0)], [pw.before, Math.max(pw.after, 0)], [0, 0]]);
  }
  return y;
}

/** The adjoint of toSpan: y [B,spanH,spanW,C] -> [B,H,W,C] (crop the padding, zero-fill a crop). */
function fromSpan(y: tf.Tensor4D, ph: AxisPlan, pw: AxisPlan): tf.Tensor4D {
  const [b, , , c] = y.shape;
  let x = y;
  if (ph.before > 0 || ph.after > 0 || pw.before > 0 || pw.after > 0) {
    x = tf.slice(x, [0, ph.before, pw.before, 0], [b, ph.span - ph.before - Math.max(ph.after, 0), pw.span - pw.before - Math.max(pw.after, 0), c]);
  }
  if (ph.after < 0 || pw.after < 0) x = tf.pad(x, [[0, 0], [0, Math.max(-ph.after, 0)], [0, Math.max(-pw.after, 0)], [0, 0]]);
  return x;
}

/**
 * The filter gradient of a 'valid' stride-s conv, without Conv2DBackpropFilter:
 * dw[kh,kw,c,d] = sum_{b,i,j} xp[b, kh+s*i, kw+s*j, c] * g[b,i,j,d].
 * That is itself a stride-1 conv dilated by s, with batch and channels swapped: input xp as
 * [C,P,Q,B], filter g as [Ho,Wo,B,D], giving [C,k,k,D] since P - (Ho-1)*s = k. On wasm this
 * runs on the native Conv2D kernel, ~20x faster than im2col (k*k strided slices + one matMul).
 * xp [B,P,Q,C] with P = (Ho-1)*s + k, g [B,Ho,Wo,D] -> [k,k,C,D].
 */
export function filterGrad(xp: tf.Tensor4D, g: tf.Tensor4D, k: number, s: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, ho, wo] = g.shape;
    if (xp.shape[1] !== (ho - 1) * s + k || xp.shape[2] !== (wo - 1) * s + k) {
      throw new Error(`filterGrad: input ${xp.shape} does not match output ${g.shape} for k=${k}, s=${s}`);
    }
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
    const gT = tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D;
    return tf.transpose(tf.conv2d(xT, gT, 1, 'valid', 'NHWC', s), [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * Valid stride-s transposed conv, the same values as tf.conv2dTranspose(x, w, [B,P,Q,Cout], s,
 * 'valid') with P = (h-1)*s + k, but run on Conv2D: wasm's Conv2DBackpropInput is a plain loop,
 * ~10x slower than its (XNNPACK) Conv2D for our decoder's shapes. Sub-pixel form: output pixel
 * (s*u + a, s*v + c) only meets filter taps (s*m + a, s*n + c), so all s*s phases are one stride-1
 * conv of x (padded by M-1, M = ceil(k/s)) with an M x M filter of s*s*Cout channels, then
 * a depth-to-space interleaves the phases and a crop drops the overhang.
 * x [B,h,w,Cin], w [k,k,Cout,Cin] -> [B,P,Q,Cout]. Not differentiable itself (used inside customGrad).
 */
function convTransposeValid(x: tf.Tensor4D, w: tf.Tensor4D, s: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, wd, cin] = x.shape;
    const [k, , cout] = w.shape;
    const m = Math.ceil(k / s);
    const big = m * s;
    // w zero-padded to [M*s, M*s, Cout, Cin], taps split as kh = s*mh + a, flipped in mh (a
    // correlation reads x[u - mh]), and regrouped to [mh', mw', Cin, (a, c, Cout)]: the channel
    // order depth-to-space reads.
    let f: tf.Tensor = big > k ? tf.pad(w, [[0, big - k], [0, big - k], [0, 0], [0, 0]]) : w;
    f = tf.reverse(tf.reshape(f, [m, s, m, s * cout * cin]), [0, 2]);
    f = tf.reshape(tf.transpose(tf.reshape(f, [m, s, m, s, cout, cin]), [0, 2, 5, 1, 3, 4]), [m, m, cin, s * s * cout]);
    const xp = m > 1 ? tf.pad(x, [[0, 0], [m - 1, m - 1], [m - 1, m - 1], [0, 0]]) : x;
    const z = tf.conv2d(xp, f as tf.Tensor4D, 1, 'valid');
    const [, u, v] = z.shape;
    // DepthToSpace, as a transpose: wasm's DepthToSpace kernel is several times slower.
    const y = s > 1 ? tf.reshape(tf.transpose(tf.reshape(z, [b, u, v, s, s, cout]), [0, 1, 3, 2, 4, 5]), [b, u * s, v * s, cout]) : z;
    return tf.slice(y, [0, 0, 0, 0], [b, (h - 1) * s + k, (wd - 1) * s + k, cout]) as tf.Tensor4D;
  });
}

/** Valid stride-s conv of an already padded input, with gradients from wasm-available kernels. */
function conv2dValid(xp: tf.Tensor4D, w: tf.Tensor4D, s: number): tf.Tensor4D {
  const k = w.shape[0];
  const op = tf.customGrad((xIn, wIn, save) => {
    const x = xIn as tf.Tensor4D;
    const f = wIn as tf.Tensor4D;
    (save as tf.GradSaveFunc)([x, f]);
    return {
      value: tf.conv2d(x, f, s, 'valid'),
      gradFunc: (dy, saved) => {
        const [xs, fs] = saved as tf.Tensor4D[];
        const g = dy as tf.Tensor4D;
        return [convTransposeValid(g, fs, s), filterGrad(xs, g, k, s)];
      },
    };
  });
  return op(xp, w) as tf.Tensor4D;
}

/**
 * Valid stride-s transposed conv producing exactly [B,P,Q,Cout] with P = (h-1)*s + k, the
 * adjoint of conv2dValid. x [B,h,w,Cin], w [k,k,Cout,Cin].
 */
function deconv2dValid(x: tf.Tensor4D, w: tf.Tensor4D, s: number): tf.Tensor4D {
  const k = w.shape[0];
  const op = tf.customGrad((xIn, wIn, save) => {
    const xx = xIn as tf.Tensor4D;
    const f = wIn as tf.Tensor4D;
    (save as tf.GradSaveFunc)([xx, f]);
    return {
      value: convTransposeValid(xx, f, s),
      gradFunc: (dy, saved) => {
        const [xs, fs] = saved as tf.Tensor4D[];
        const g = dy as tf.Tensor4D;
        // The transpose's input plays the conv's output: dw[kh,kw,co,ci] = sum g[.., kh+s*i, kw+s*j, co] * x[.., i, j, ci].
        return [tf.conv2d(g, fs, s, 'valid'), filterGrad(g, xs, k, s)];
      },
    };
  });
  return op(x, w) as tf.Tensor4D;
}

/** y = conv(x, w) with stride s, SAME padding. x [B,H,W,Cin], w [k,k,Cin,Cout] -> [B,ceil(H/s),ceil(W/s),Cout] */
export function conv2dSame(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, opts: ConvOptions = {}): tf.Tensor4D {
  if (w.shape[0] !== w.shape[1]) throw new Error(`conv2dSame: square kernels only, got ${w.shape[0]}x${w.shape[1]}`);
  if (useNative(opts.impl ?? 'auto')) return tf.conv2d(x, w, stride, 'same');
  const k = w.shape[0];
  return tf.tidy(() => conv2dValid(toSpan(x, axisPlan(x.shape[1], k, stride), axisPlan(x.shape[2], k, stride)), w, stride));
}

/**
 * The transpose of conv2dSame (a "deconvolution"), producing exactly outHW = [H, W] (the
 * encoder's input size), so the decoder mirrors the encoder for any size (28 -> 14 -> 7 and
 * back, odd sizes too). x [B,h,w,Cin], w [k,k,Cout,Cin] (tfjs conv2dTranspose filter layout)
 * -> [B,H,W,Cout]. Needs ceil(H/s) = h and ceil(W/s) = w.
 */
export function deconv2dSame(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, outHW: [number, number], opts: ConvOptions = {}): tf.Tensor4D {
  const [b, h, wd] = x.shape;
  const [H, W] = outHW;
  if (w.shape[0] !== w.shape[1]) throw new Error(`deconv2dSame: square kernels only, got ${w.shape[0]}x${w.shape[1]}`);
  if (Math.ceil(H / stride) !== h || Math.ceil(W / stride) !== wd) {
    throw new Error(`deconv2dSame: output ${H}x${W} does not map to input ${h}x${wd} at stride ${stride}`);
  }
  if (useNative(opts.impl ?? 'auto')) return tf.conv2dTranspose(x, w, [b, H, W, w.shape[2]], stride, 'same');
  const k = w.shape[0];
  return tf.tidy(() => fromSpan(deconv2dValid(x, w, stride), axisPlan(H, k, stride), axisPlan(W, k, stride)));
}
