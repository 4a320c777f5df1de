/**
 * The terms the CPU engine's graphs (step-graph.ts, importance-graph.ts) share: activations, as
 * src/model/vae.ts applies them, the likelihoods' per-pixel terms, as src/model/likelihoods
 * writes them, and the prior/posterior ratio.
 */
import { LOG_SIGMA_RANGE } from '../../model/likelihoods/gaussian.js';
import { HALF_BIN, MIN_LOG_SCALE, WIDE_BIN } from '../../model/likelihoods/logistic.js';
import { LEAKY_ALPHA, type Activation, type VaeSpec } from '../../model/vae.js';
import type { Graph } from './graph.js';

export const LOG_2PI = Math.log(2 * Math.PI);

/** act(pre) */
export function activate(g: Graph, pre: string, act: Activation): string {
  switch (act) {
    case 'relu':
      return g.op('Relu', [pre]);
    case 'tanh':
      return g.op('Tanh', [pre]);
    case 'elu':
      return g.op('Elu', [pre], { alpha: { float: 1 } });
    case 'leaky_relu':
      return g.op('LeakyRelu', [pre], { alpha: { float: LEAKY_ALPHA } });
  }
}

/** The most pixels of one product in sumLogSigmoidAbs: 112 values in [1/2, 1] multiply to at least 2^-112, a normal float32. */
const MAX_PRODUCT = 112;

/** The pixels per product for rows of D: the largest divisor of D up to MAX_PRODUCT. */
function productGroup(D: number): number {
  for (let n = Math.min(D, MAX_PRODUCT); n > 1; n--) if (D % n === 0) return n;
  return 1;
}

/**
 * The sum over the last axis (D pixels) of log sigmoid(|l|) = log max(s, 1 - s), s = sigmoid(l),
 * for the Bernoulli's log p(x|l) = x l - relu(l) + log sigmoid(|l|) (x l - softplus(l), as
 * bernoulli.logProb; onnxruntime's own Softplus is a scalar loop, slower than all of this).
 * max(s, 1 - s) lies in [1/2, 1], so its log is exact to float32's absolute rounding however
 * wrong a pixel is, and a product of up to 112 of them stays a normal float32: the logs are
 * taken of products of groups of pixels, one Log per group instead of per pixel (the Log is
 * onnxruntime's slowest elementwise node, three to five times an Add), the product's rounding a
 * few 1e-6 of a nat per group. `s`: sigmoid(l) where the caller has it (the gradient needs it),
 * else sigmoid(|l|) is taken directly. l has `rank` axes, the last of D pixels; the result has
 * the others.
 */
export function sumLogSigmoidAbs(g: Graph, l: string, rank: number, D: number, s?: string): string {
  const m = s ? sigmoidAbs(g, s) : g.op('Sigmoid', [g.op('Abs', [l])]);
  const n = productGroup(D);
  const sumLast = (t: string) => g.op('ReduceSum', [t, g.ints([-1])], { keepdims: 0 });
  if (n === 1) return sumLast(g.op('Log', [m]));
  // [..., D] -> [..., D / n, n] (Reshape's 0 keeps that axis as it is)
  const groups = g.op('Reshape', [m, g.ints([...Array<number>(rank - 1).fill(0), D / n, n])]);
  return sumLast(g.op('Log', [g.op('ReduceProd', [groups], { axes: [-1], keepdims: 0 })]));
}

/** sigmoid(|v|) = max(s, 1 - s) from s = sigmoid(v): in [1/2, 1]. */
function sigmoidAbs(g: Graph, s: string): string {
  return g.op('Max', [s, g.op('Sub', [g.scalar(1), s])]);
}

/** log sigmoid(|v|) from s = sigmoid(v): in [log 1/2, 0], no underflow. */
function logSigmoidAbs(g: Graph, s: string): string {
  return g.op('Log', [sigmoidAbs(g, s)]);
}

/**
 * The Gaussian's per-pixel terms for x and the decoder's mean (broadcast against each other):
 * log sigma (fixed, or the learned `likelihood.logSigma` clipped to `range`, LOG_SIGMA_RANGE), 1/sigma,
 * zt = (x - mean) / sigma, zt^2 and log p = -1/2 (zt^2 + 2 log sigma + log 2 pi), as gaussianLogProb.
 */
export function gaussianTerms(g: Graph, spec: VaeSpec, param: (name: string) => string, x: string, mean: string) {
  const c = (v: number) => g.scalar(v);
  const learned = typeof spec.sigma !== 'number';
  const range = learned ? (LOG_SIGMA_RANGE.map(c) as [string, string]) : null;
  const logSigma = range ? g.op('Clip', [param('likelihood.logSigma'), ...range]) : c(Math.log(spec.sigma as number));
  const invSigma = g.op('Exp', [g.op('Neg', [logSigma])]);
  const zt = g.op('Mul', [g.op('Sub', [x, mean]), invSigma]);
  const zt2 = g.op('Mul', [zt, zt]);
  const logPx = g.op('Mul', [g.op('Add', [g.op('Add', [zt2, g.op('Mul', [logSigma, c(2)])]), c(LOG_2PI)]), c(-0.5)]);
  /** range: the clip's two bounds, null for a fixed sigma */
  return { range, invSigma, zt, zt2, logPx };
}

/**
 * log p(z) - log q(z|x) summed over the last axis (z's latent dimensions), mu and log sigma^2
 * broadcast against z: -1/2 sum (log 2 pi + z^2) + 1/2 sum (log 2 pi + lv + (z - mu)^2 / e^lv), as
 * logStdNormal and logNormalDiag (src/model/objective.ts) write the two normals.
 */
export function logPriorOverPosterior(g: Graph, z: string, mu: string, logvar: string): string {
  const c = (v: number) => g.scalar(v);
  const sumLast = (t: string) => g.op('ReduceSum', [t, g.ints([-1])], { keepdims: 0 });
  const logStd = g.op('Mul', [sumLast(g.op('Add', [c(LOG_2PI), g.op('Mul', [z, z])])), c(-0.5)]);
  const diff = g.op('Sub', [z, mu]);
  const logQ = g.op('Mul', [sumLast(g.op('Add', [g.op('Add', [c(LOG_2PI), logvar]), g.op('Div', [g.op('Mul', [diff, diff]), g.op('Exp', [logvar])])])), c(-0.5)]);
  return g.op('Sub', [logStd, logQ]);
}

/**
 * The discretised logistic's per-pixel log p for x and the decoder's output `out` (D locations,
 * then D raw log-scales, along `axis`; x broadcast against each half), as logistic.logProb computes it, and with `gradient` its
 * derivatives by the location and the raw log-scale. With s = max(raw, MIN_LOG_SCALE),
 * c = x - loc, p = (c + h) / e^s, m = (c - h) / e^s, q = c / e^s, a = 2 h / e^s (h half a bin):
 *
 *   x = 0          log sigmoid(p)                              d/d loc = -(1 - sig p) e^-s,  d/d s = -(1 - sig p) p
 *   x = 1          -softplus(m)                                d/d loc = sig m e^-s,        d/d s = sig m m
 *   a wide bin     log sig(p) + log(1 - sig m) + log(1 - e^-a)  d/d loc = -(1 - sig p - sig m) e^-s,
 *                                                              d/d s = -(1 - sig p) p + sig m m - a / (e^a - 1)
 *   a narrow one   q - s - 2 softplus(q) - log 255             d/d loc = -(1 - 2 sig q) e^-s, d/d s = -(1 - 2 sig q) q - 1
 *
 * and d/d raw = d/d s where raw >= MIN_LOG_SCALE (tfjs's maximum passes its gradient to its first
 * argument there). ONNX has no expm1: 1 - e^-a = 2 e^(-a/2) sinh(a/2) and e^a - 1 = 2 e^(a/2)
 * sinh(a/2), exact for the small a of wide scales.
 */
export function logisticTerms(g: Graph, x: string, out: string, D: number, axis: number, gradient: boolean): { logPx: string; dLoc?: string; dRaw?: string } {
  const c = (v: number) => g.scalar(v);
  // the decoder's output along `axis`: D locations, then D raw log-scales
  const [loc, raw] = [0, D].map((from) => g.op('Slice', [out, g.ints([from]), g.ints([from + D]), g.ints([axis])]));
  const op = (type: string, ...inputs: string[]) => g.op(type, inputs);
  const softplus = (v: string, sig: string) => op('Sub', op('Relu', v), logSigmoidAbs(g, sig));
  const s = op('Max', raw, c(MIN_LOG_SCALE));
  const invS = op('Exp', op('Neg', s));
  const centred = op('Sub', x, loc);
  const p = op('Mul', invS, op('Add', centred, c(HALF_BIN)));
  const m = op('Mul', invS, op('Sub', centred, c(HALF_BIN)));
  const q = op('Mul', invS, centred);
  const [sigP, sigM, sigQ] = [p, m, q].map((v) => op('Sigmoid', v));
  const halfA = op('Mul', invS, c(HALF_BIN)); // a / 2
  const sinhHalfA = op('Sinh', halfA);
  const oneMinusExpNegA = op('Mul', op('Mul', op('Exp', op('Neg', halfA)), sinhHalfA), c(2));
  const logCdfPlus = op('Sub', p, softplus(p, sigP));
  const logOneMinusCdfMin = op('Neg', softplus(m, sigM));
  const cdfDelta = op('Mul', op('Mul', sigP, op('Sigmoid', op('Neg', m))), oneMinusExpNegA); // sigmoid(-m), not 1 - sigmoid(m): the far tail keeps its digits
  const logPdfMid = op('Sub', op('Sub', q, s), op('Mul', softplus(q, sigQ), c(2)));
  const wide = op('Greater', cdfDelta, c(WIDE_BIN));
  const low = op('Less', x, c(HALF_BIN));
  const high = op('Greater', x, c(1 - HALF_BIN));
  const pick = (lo: string, hi: string, wideBin: string, narrowBin: string) => op('Where', low, lo, op('Where', high, hi, op('Where', wide, wideBin, narrowBin)));
  const logPx = pick(logCdfPlus, logOneMinusCdfMin, op('Log', op('Max', cdfDelta, c(1e-12))), op('Sub', logPdfMid, c(Math.log(255))));
  if (!gradient) return { logPx };
  const oneMinusSigP = op('Sub', c(1), sigP);
  const slopeQ = op('Sub', c(1), op('Mul', sigQ, c(2)));
  const a = op('Mul', halfA, c(2));
  const expm1A = op('Mul', op('Mul', op('Exp', halfA), sinhHalfA), c(2));
  // d/d loc is -e^-s times d/d c
  const dc = pick(oneMinusSigP, op('Neg', sigM), op('Sub', oneMinusSigP, sigM), slopeQ);
  const dS = pick(
    op('Neg', op('Mul', oneMinusSigP, p)),
    op('Mul', sigM, m),
    op('Sub', op('Add', op('Neg', op('Mul', oneMinusSigP, p)), op('Mul', sigM, m)), op('Div', a, expm1A)),
    op('Sub', op('Neg', op('Mul', slopeQ, q)), c(1)),
  );
  const free = g.op('Cast', [op('GreaterOrEqual', raw, c(MIN_LOG_SCALE))], { to: 1 });
  return { logPx, dLoc: op('Neg', op('Mul', dc, invS)), dRaw: op('Mul', dS, free) };
}
