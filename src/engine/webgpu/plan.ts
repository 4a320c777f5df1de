/**
 * Where everything lives in the engine's buffers, in float32 elements: each parameter's offset in
 * the flat parameter buffer (the model plan's order, so a dense layer's kernel [in, out] is
 * followed by its bias [out], which lets one kernel write both gradients), and each activation's
 * offset in the activation arena. Pure arithmetic on the model spec: no GPU here.
 */
import { expectedShapes, type Activation, type VaeSpec } from '../../model/vae.js';

export interface Dense {
  /** the checkpoint name without '.kernel' / '.bias', e.g. 'encoder.hidden0' */
  name: string;
  inDim: number;
  outDim: number;
  /** offset of the kernel [inDim, outDim]; the bias follows at kernel + inDim * outDim */
  kernel: number;
  bias: number;
}

export interface Layer extends Dense {
  /** arena offsets of the input [B, inDim] and output [B, outDim] */
  input: number;
  output: number;
  /** arena offset of the gradient with respect to the layer's pre-activation output [B, outDim] */
  delta: number;
  act: Activation | 'linear';
}

export interface Plan {
  spec: VaeSpec;
  /** examples per step (the batch size) */
  B: number;
  D: number;
  J: number;
  /** latent samples per example (train.iwSamples; 1 for the ELBO) */
  K: number;
  /** rows through the decoder: K * B, row k * B + b for sample k of example b */
  R: number;
  /** parameters: names, shapes and offsets, in checkpoint order; P floats in all */
  params: { name: string; shape: number[]; offset: number; size: number }[];
  P: number;
  encoder: Layer[];
  /** the two heads; mu's kernel and bias, then logvar's, are contiguous */
  mu: Dense;
  logvar: Dense;
  /** arena offset of the heads' input (the last encoder output, or x) and its width */
  headInput: number;
  headDim: number;
  /** decoder layers, the last one the output layer (linear) */
  decoder: Layer[];
  /** likelihood.logSigma's offset and size (learned Gaussian sigma), or null */
  logSigma: { offset: number; size: number } | null;
  /** the gradient norm's first pass: `count` workgroups, each summing `per` consecutive gradients */
  normParts: { count: number; per: number };
  arena: {
    x: number;
    mu: number;
    logvar: number; // before clipping
    /** [R, J] */
    eps: number;
    z: number;
    kl: number; // [B, J] per-dimension KL
    /** [B, 2J]: gradients with respect to mu, then to logvar (before clipping) */
    dlat: number;
    /** [R, D]: per-pixel log p(x|z) */
    lp: number;
    /** [R, D]: for a learned sigma, (x - mean)^2 / sigma^2 - 1 */
    sq: number;
    /** [R]: log p(x|z) per row */
    rowLp: number;
    /** [B]: the KL per example (summed over the latent dimensions) */
    rowKl: number;
    /** [R]: a learned global sigma's (x - mean)^2 / sigma^2 - 1 summed over the row's pixels */
    rowSq: number;
    /** [R] (K > 1): log p(z) - log q(z|x) of each row's z */
    rowRatio: number;
    /** [R] (K > 1): log w_k, then its weight softmax_k(log w_k) */
    alpha: number;
    /** [2 * normParts.count]: partial sums of the squared gradient, then partial non-finite flags */
    normParts: number;
    /** [J]: 1 where a dimension's batch-mean KL is above the free-bits floor */
    freeMask: number;
    /** [4]: the global gradient norm; 1 when this step's update is skipped (non-finite); the skips so far */
    norm: number;
    size: number;
  };
}

export function makePlan(spec: VaeSpec, batch: number, iwSamples = 1): Plan {
  if (spec.arch !== 'mlp') throw new Error('the fused engine runs mlp models only');
  const shapes = expectedShapes(spec);
  const params: Plan['params'] = [];
  let P = 0;
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    params.push({ name, shape, offset: P, size });
    P += size;
  }
  const at = (name: string) => {
    const p = params.find((q) => q.name === name);
    if (!p) throw new Error(`the model plan has no ${name}`);
    return p.offset;
  };
  const dense = (name: string): Dense => {
    const [inDim, outDim] = shapes.get(`${name}.kernel`)!;
    const kernel = at(`${name}.kernel`);
    const bias = at(`${name}.bias`);
    if (bias !== kernel + inDim * outDim) throw new Error(`${name}: bias does not follow its kernel`);
    return { name, inDim, outDim, kernel, bias };
  };
  const B = batch;
  const D = spec.inputDim;
  const J = spec.latentDim;
  const K = iwSamples;
  const R = K * B;
  let size = 0;
  const alloc = (n: number) => {
    const o = size;
    size += n;
    return o;
  };
  const x = alloc(B * D);
  const layer = (name: string, input: number, act: Layer['act'], rows: number): Layer => {
    const d = dense(name);
    return { ...d, input, output: alloc(rows * d.outDim), delta: alloc(rows * d.outDim), act };
  };
  const encoder: Layer[] = [];
  spec.hidden.forEach((_, i) => encoder.push(layer(`encoder.hidden${i}`, i === 0 ? x : encoder[i - 1].output, spec.activation, B)));
  const mu = dense('encoder.mu');
  const logvar = dense('encoder.logvar');
  if (logvar.kernel !== mu.bias + J) throw new Error('the heads are not contiguous');
  const arena = {
    x,
    mu: alloc(B * J),
    logvar: alloc(B * J),
    eps: alloc(R * J),
    z: alloc(R * J),
    kl: alloc(B * J),
    dlat: alloc(B * 2 * J),
    lp: 0,
    sq: 0,
    rowLp: alloc(R),
    rowKl: alloc(B),
    rowSq: alloc(R),
    rowRatio: alloc(R),
    alpha: alloc(R),
    normParts: 0,
    freeMask: alloc(J),
    norm: alloc(4),
    size: 0,
  };
  const decoder: Layer[] = [];
  spec.hidden.forEach((_, i) => decoder.push(layer(`decoder.hidden${i}`, i === 0 ? arena.z : decoder[i - 1].output, spec.activation, R)));
  decoder.push(layer('decoder.out', decoder.length ? decoder[decoder.length - 1].output : arena.z, 'linear', R));
  arena.lp = alloc(R * D);
  arena.sq = alloc(R * D);
  // 4,096 gradients per workgroup (more for huge models, to stay within 65,535 workgroups)
  const per = Math.max(4096, Math.ceil(P / 65535 / 256) * 256);
  const normParts = { count: Math.ceil(P / per), per };
  arena.normParts = alloc(2 * normParts.count);
  arena.size = size;
  const ls = params.find((p) => p.name === 'likelihood.logSigma');
  return {
    spec,
    B,
    D,
    J,
    K,
    R,
    params,
    P,
    encoder,
    mu,
    logvar,
    headInput: encoder.length ? encoder[encoder.length - 1].output : x,
    headDim: encoder.length ? encoder[encoder.length - 1].outDim : D,
    decoder,
    logSigma: ls ? { offset: ls.offset, size: ls.size } : null,
    normParts,
    arena,
  };
}
