/**
 * The forward and backward pass of a VAE's training step (MLP or conv, network.ts's layers) as a
 * single ONNX graph: the forward pass, the loss and its statistics, the hand-written backward
 * pass, the global gradient norm and the non-finite check. onnxruntime runs it in one call, on
 * its own thread pool and GEMMs; Adam's update (adam-wasm.ts) then runs in one pass over every
 * parameter.
 *
 * The maths is the tfjs path's (src/model/objective.ts, src/train/clip.ts), term for term, so
 * that one step here and on the cpu backend agree to float32 rounding:
 *
 *   forward   h = act(x W + b) per encoder layer (conv: the convolutions first, then the dense
 *             layers; with model.batchNorm each hidden convolution and transpose, encoder and
 *             decoder, normalised with the batch's moments); mu, log sigma^2 (clipped to LOGVAR_RANGE);
 *             z = mu + exp(log sigma^2 / 2) eps; the decoder on z; log p(x|z) per pixel
 *   loss      -(mean_b sum_d log p(x|z) - w KL), KL the closed form summed over dimensions
 *             (with free bits: w sum_j max(lambda, mean_b KL_bj)), w the step's KL weight; with
 *             train.iwSamples = k > 1, -L_k: the decoder runs on k rows per example and
 *             L_k = mean_b logsumexp_k (log p(x|z_kb) + w (log p(z_kb) - log q(z_kb|x))) - log k,
 *             each row's output gradient weighted by its normalised importance weight
 *   backward  d loss / d output per pixel (the likelihood's), then per layer the weight gradient
 *             h_in^T delta, the bias gradient sum_b delta and delta_in = delta W^T act'(h_in)
 *             (the convolutions' own adjoints and batch norm's in trunk.ts);
 *             through z and the KL into mu and log sigma^2 (zero where the clip is active)
 *   norm      with train.gradClip, the global norm of the gradients (the update scales by
 *             gradClip / max(norm, gradClip))
 *
 * Inputs: x [batch, D], eps [batch, J] (IWAE: [k batch, J], row i batch + b for draw i of
 * example b, as the tfjs objective orders them), the step's scalars (STEP_SCALARS), and per
 * trainable parameter `p<i>` (in expectedShapes' order). Outputs: `stat<i>`, one scalar per
 * statistic (recon, kl, klWeighted, bound, then gradNorm with clipping, then a non-finite flag
 * with train.skipNonFinite), `g<i>`, the gradient of the loss for each parameter, and each batch-norm
 * layer's batch moments (StepGraph.batchNorm), which the engine folds into the running averages.
 * The batch size is symbolic, so an epoch's short last batch runs on the same session.
 */
import { expectedShapes, isBuffer, LOGVAR_RANGE, type VaeSpec } from '../../model/vae.js';
import { Graph } from './graph.js';
import { gaussianTerms, logisticTerms, logPriorOverPosterior, sumLogSigmoidAbs } from './terms.js';
import { decoderLayers, encoderLayers, engineUnsupported } from './network.js';
import { backward, Trunk } from './trunk.js';


/** Per-step scalar inputs: 1/rows and the KL weight. */
export const STEP_SCALARS = ['invB', 'klWeight'] as const;

export interface StepGraphOptions {
  spec: VaeSpec;
  /** train.freeBits (0: off) */
  freeBits: number;
  /** train.gradClip */
  gradClip: number | null;
  /** add the non-finite flag (train.skipNonFinite > 0) */
  checkFinite: boolean;
  /** train.iwSamples: k above 1 trains the IWAE bound L_k (default 1, the ELBO) */
  iwSamples?: number;
}

export interface StepGraph {
  model: Uint8Array;
  /** the trainable parameters, the graph's inputs p<i> and gradients g<i> */
  params: { name: string; shape: number[]; size: number }[];
  /**
   * the batch-norm layers, in the order of the outputs bnMean<i> and bnVar<i> (the batch's
   * moments per channel) and bnCount<i> (the values each is over), for the running averages
   */
  batchNorm: { layer: string; channels: number }[];
  /** the statistics, outputs stat0, stat1, ... in this order */
  stats: string[];
  nodes: number;
}

export function buildStepGraph(o: StepGraphOptions): StepGraph {
  const { spec } = o;
  const why = engineUnsupported(spec);
  if (why) throw new Error(`the CPU step graph: ${why}`);
  const g = new Graph();
  const D = spec.inputDim;
  const J = spec.latentDim;
  const K = o.iwSamples ?? 1;
  const iw = K > 1;
  if (iw && o.freeBits > 0) throw new Error('the CPU step graph: free bits apply to the ELBO only');
  const x = g.input('x', ['batch', D]);
  // the decoder's rows: K per example, row k B + b is sample k of example b (as the tfjs objective tiles x)
  const eps = g.input('eps', [iw ? 'rows' : 'batch', J]);
  const [invB, klWeight] = STEP_SCALARS.map((s) => g.input(s, []));
  // the running averages are not trained: batch norm trains on the batch's moments
  const shapes = [...expectedShapes(spec)].filter(([name]) => !isBuffer(name));
  const params = shapes.map(([name, shape]) => ({ name, shape, size: shape.reduce((a, b) => a * b, 1) }));
  const value = new Map<string, string>();
  params.forEach((p, i) => value.set(p.name, g.input(`p${i}`, p.shape)));
  const P = (name: string) => {
    const v = value.get(name);
    if (!v) throw new Error(`the model has no ${name}`);
    return v;
  };
  const c = (v: number) => g.scalar(v);
  const sumAll = (t: string) => g.op('ReduceSum', [t], { keepdims: 0 });
  const sumRows = (t: string) => g.op('ReduceSum', [t, g.ints([0])], { keepdims: 0 });

  const grads = new Map<string, string>();
  const trunk = new Trunk(g, P, grads);
  const inRange = (t: string, lo: string, hi: string) => g.op('Cast', [g.op('And', [g.op('GreaterOrEqual', [t, lo]), g.op('LessOrEqual', [t, hi])])], { to: 1 });

  // ---- forward
  const encoder = encoderLayers(trunk, spec, x);
  const head = encoder.length ? encoder[encoder.length - 1].output : x;
  const mu = g.op('Gemm', [head, P('encoder.mu.kernel'), P('encoder.mu.bias')]);
  const logvarRaw = g.op('Gemm', [head, P('encoder.logvar.kernel'), P('encoder.logvar.bias')]);
  const [lvLo, lvHi] = LOGVAR_RANGE.map(c);
  const logvar = g.op('Clip', [logvarRaw, lvLo, lvHi]);
  const std = g.op('Exp', [g.op('Mul', [logvar, c(0.5)])]);
  const tileK = (t: string) => (iw ? g.op('Tile', [t, g.ints([K, 1])]) : t);
  const [xs, muR, logvarR, stdR] = [x, mu, logvar, std].map(tileK);
  const z = g.op('Add', [muR, g.op('Mul', [stdR, eps])]);
  const decoder = decoderLayers(trunk, spec, z);
  const out = decoder[decoder.length - 1].output;

  // ---- log p(x|z) summed over each row's pixels, and d loss / d output
  const negInvB = g.op('Neg', [invB]);
  const rowSum = (t: string) => g.op('ReduceSum', [t, g.ints([1])], { keepdims: 0 });
  let logPxRows: string;
  let dOut: string;
  let sigmaGrad: (() => void) | null = null;
  if (spec.likelihood === 'bernoulli') {
    // x l - softplus(l), as bernoulli.logProb; d/dl = x - sigmoid(l)
    const s = g.op('Sigmoid', [out]);
    logPxRows = g.op('Add', [rowSum(g.op('Sub', [g.op('Mul', [xs, out]), g.op('Relu', [out])])), sumLogSigmoidAbs(g, out, 2, D, s)]);
    dOut = g.op('Mul', [g.op('Sub', [s, xs]), invB]);
  } else if (spec.likelihood === 'logistic') {
    // the discretised logistic: the output is [locations (D), raw log-scales (D)] per row
    const t = logisticTerms(g, xs, out, D, 1, true);
    logPxRows = rowSum(t.logPx);
    dOut = g.op('Mul', [g.op('Concat', [t.dLoc!, t.dRaw!], { axis: 1 }), negInvB]);
  } else {
    // -1/2 ((x - m)^2 / sigma^2 + 2 log sigma + log 2 pi), as gaussianLogProb
    const gaussian = gaussianTerms(g, spec, P, xs, out);
    const { range, invSigma, zt, zt2 } = gaussian;
    logPxRows = rowSum(gaussian.logPx);
    dOut = g.op('Mul', [g.op('Mul', [zt, invSigma]), negInvB]);
    if (range) {
      // d log p / d log sigma = (x - m)^2 / sigma^2 - 1 per pixel (each row weighted as its
      // output gradient is), zero outside the clip
      sigmaGrad = () => {
        const perPixel = weighRows(g.op('Sub', [zt2, c(1)]));
        const summed = spec.sigma === 'learned-per-pixel' ? sumRows(perPixel) : g.op('Reshape', [sumAll(perPixel), g.ints([1])]);
        grads.set('likelihood.logSigma', g.op('Mul', [g.op('Mul', [summed, negInvB]), inRange(P('likelihood.logSigma'), ...range)]));
      };
    }
  }

  // ---- KL and the loss's statistics
  const ev = g.op('Exp', [logvar]);
  const klDims = g.op('Mul', [g.op('Sub', [g.op('Add', [g.op('Mul', [mu, mu]), ev]), g.op('Add', [logvar, c(1)])]), c(0.5)]);
  const kl = g.op('Mul', [sumAll(klDims), invB]);
  let klTerm = kl;
  /** d klTerm / d KL_bj, times B: 1, or the free-bits mask [J] */
  let klMask: string | null = null;
  if (o.freeBits > 0) {
    const meanKl = g.op('Mul', [sumRows(klDims), invB]);
    klTerm = sumAll(g.op('Max', [meanKl, c(o.freeBits)]));
    // tfjs's maximum passes the gradient to its first argument where it is >= the second
    klMask = g.op('Cast', [g.op('GreaterOrEqual', [meanKl, c(o.freeBits)])], { to: 1 });
  }
  const klWeighted = g.op('Mul', [klTerm, klWeight]);
  let recon: string;
  let bound: string;
  /** each decoder row's weight in the loss: 1 for the ELBO, IWAE's normalised weight alpha_kb */
  let rowWeight: string | null = null;
  if (!iw) {
    recon = g.op('Mul', [sumAll(logPxRows), invB]);
    bound = g.op('Sub', [recon, klWeighted]);
  } else {
    // log w_kb = log p(x|z_kb) + w (log p(z_kb) - log q(z_kb|x)), the two normals as logStdNormal
    // and logNormalDiag write them; L_k = mean_b logsumexp_k log w_kb - log k
    const byK = (t: string) => g.op('Reshape', [t, g.ints([K, -1])]);
    const logW = g.op('Add', [byK(logPxRows), g.op('Mul', [byK(logPriorOverPosterior(g, z, muR, logvarR)), klWeight])]);
    const top = g.op('ReduceMax', [logW], { axes: [0], keepdims: 1 });
    const e = g.op('Exp', [g.op('Sub', [logW, top])]);
    const total = g.op('ReduceSum', [e, g.ints([0])], { keepdims: 1 });
    const lse = g.op('Add', [g.op('Log', [total]), top]);
    bound = g.op('Sub', [g.op('Mul', [sumAll(lse), invB]), c(Math.log(K))]);
    recon = g.op('Mul', [sumAll(logPxRows), g.op('Mul', [invB, c(1 / K)])]);
    // d loss / d log w_kb = -alpha_kb / B
    rowWeight = g.op('Reshape', [g.op('Div', [e, total]), g.ints([-1, 1])]);
  }
  function weighRows(t: string): string {
    return rowWeight ? g.op('Mul', [t, rowWeight]) : t;
  }
  dOut = weighRows(dOut);
  sigmaGrad?.();

  // ---- backward: decoder, then z, then the encoder
  const dz = backward(decoder, dOut, true);
  let kw = g.op('Mul', [klWeight, invB]);
  if (klMask) kw = g.op('Mul', [kw, klMask]);
  let dMu: string;
  let dLogvar: string;
  if (!iw) {
    dMu = g.op('Add', [dz, g.op('Mul', [mu, kw])]);
    dLogvar = g.op('Mul', [
      g.op('Add', [g.op('Mul', [g.op('Mul', [dz, eps]), g.op('Mul', [std, c(0.5)])]), g.op('Mul', [g.op('Sub', [ev, c(1)]), g.op('Mul', [kw, c(0.5)])])]),
      inRange(logvarRaw, lvLo, lvHi),
    ]);
  } else {
    // through z_kb = mu_b + sigma_b eps_kb and the prior/posterior ratio, whose total derivatives
    // are -z_kb (mu) and 1/2 - 1/2 z_kb sigma_b eps_kb (log sigma^2): with
    // g_kb = dz_kb + (w/B) alpha_kb z_kb, d/d mu_b = sum_k g_kb and
    // d/d log sigma^2_b = 1/2 sigma_b sum_k g_kb eps_kb - (w/B)/2 (the alphas sum to 1)
    const gz = g.op('Add', [dz, g.op('Mul', [weighRows(z), kw])]);
    const sumK = (t: string) => g.op('ReduceSum', [g.op('Reshape', [t, g.ints([K, -1, J])]), g.ints([0])], { keepdims: 0 });
    dMu = sumK(gz);
    dLogvar = g.op('Mul', [
      g.op('Sub', [g.op('Mul', [sumK(g.op('Mul', [gz, eps])), g.op('Mul', [std, c(0.5)])]), g.op('Mul', [kw, c(0.5)])]),
      inRange(logvarRaw, lvLo, lvHi),
    ]);
  }
  grads.set('encoder.mu.kernel', g.op('Gemm', [head, dMu], { transA: 1 }));
  grads.set('encoder.mu.bias', sumRows(dMu));
  grads.set('encoder.logvar.kernel', g.op('Gemm', [head, dLogvar], { transA: 1 }));
  grads.set('encoder.logvar.bias', sumRows(dLogvar));
  if (encoder.length) {
    const dHead = g.op('Add', [g.op('Gemm', [dMu, P('encoder.mu.kernel')], { transB: 1 }), g.op('Gemm', [dLogvar, P('encoder.logvar.kernel')], { transB: 1 })]);
    backward(encoder, dHead, false);
  }

  // ---- the gradient norm, the non-finite check, the gradients out
  const grad = (name: string) => {
    const t = grads.get(name);
    if (!t) throw new Error(`the step graph has no gradient for ${name}`);
    return t;
  };
  const statValues = [recon, kl, klWeighted, bound];
  const stats = ['recon', 'kl', 'klWeighted', 'bound'];
  if (o.gradClip !== null) {
    statValues.push(g.op('Sqrt', [g.op('Sum', params.map((p) => g.op('ReduceSumSquare', [grad(p.name)], { keepdims: 0 })))]));
    stats.push('gradNorm');
  }
  if (o.checkFinite) {
    // x * 0 is 0 for every finite x and NaN for NaN and +-Inf: one NaN test covers the loss and every gradient
    const probe = g.op('Sum', [g.op('Mul', [bound, c(0)]), ...params.map((p) => sumAll(g.op('Mul', [grad(p.name), c(0)])))]);
    statValues.push(g.op('Cast', [g.op('IsNaN', [probe])], { to: 1 }));
    stats.push('nonFinite');
  }
  // one scalar output per statistic: onnxruntime writes each straight into the engine's array
  statValues.forEach((v, i) => g.outputAs(v, `stat${i}`, []));
  params.forEach((p, i) => g.outputAs(grad(p.name), `g${i}`, p.shape));
  const batchNorm = trunk.moments.map((m, i) => {
    const channels = params.find((p) => p.name === `${m.layer}.bn.gamma`)!.size;
    g.outputAs(m.mean, `bnMean${i}`, [channels]);
    g.outputAs(m.variance, `bnVar${i}`, [channels]);
    g.outputAs(m.count, `bnCount${i}`, []);
    return { layer: m.layer, channels };
  });
  return { model: g.encode('vae-train-step'), params, batchNorm, stats, nodes: g.nodeCount };
}
