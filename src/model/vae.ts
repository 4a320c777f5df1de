/**
 * The VAE as pure functions over named parameters (no I/O, no globals):
 *   encoder  x [B, D] -> hidden layers -> (mu, logvar) [B, J]
 *   decoder  z [B, J] -> hidden layers (reversed) -> likelihood params [B, D] (logits for Bernoulli)
 * The maths follows ../shared/DESIGN.md ("The maths it implements").
 */
import { tf, type Tensor } from '../tf.js';
import type { Rng } from '../random.js';
import { initDense, type Params } from './params.js';
import { likelihoodByName, type Likelihood } from './likelihood.js';
import { klStdNormal, logNormalDiag, logStdNormal, reparameterize } from './gaussian.js';

export type Activation = 'relu' | 'tanh' | 'elu' | 'leaky_relu';

export interface VaeSpec {
  arch: 'mlp';
  /** D: pixels per example. */
  inputDim: number;
  hidden: number[];
  latentDim: number;
  activation: Activation;
  likelihood: string;
}

export interface Vae {
  spec: VaeSpec;
  params: Params;
  likelihood: Likelihood;
}

function layerNames(spec: VaeSpec) {
  const enc = spec.hidden.map((width, i) => ({ name: `encoder.hidden${i}`, inDim: i === 0 ? spec.inputDim : spec.hidden[i - 1], outDim: width }));
  const last = spec.hidden[spec.hidden.length - 1];
  const rev = [...spec.hidden].reverse();
  const dec = rev.map((width, i) => ({ name: `decoder.hidden${i}`, inDim: i === 0 ? spec.latentDim : rev[i - 1], outDim: width }));
  return {
    enc,
    mu: { name: 'encoder.mu', inDim: last, outDim: spec.latentDim },
    logvar: { name: 'encoder.logvar', inDim: last, outDim: spec.latentDim },
    dec,
    out: { name: 'decoder.out', inDim: rev[rev.length - 1], outDim: spec.inputDim },
  };
}

/** A freshly initialised VAE (PyTorch nn.Linear initialisation, drawn from rng). */
export function createVae(spec: VaeSpec, rng: Rng): Vae {
  const params: Params = new Map();
  const l = layerNames(spec);
  for (const layer of [...l.enc, l.mu, l.logvar, ...l.dec, l.out]) initDense(params, layer, rng);
  return { spec, params, likelihood: likelihoodByName(spec.likelihood) };
}

/** The parameter names and shapes a spec implies, in order (for checking checkpoints). */
export function expectedShapes(spec: VaeSpec): Map<string, number[]> {
  const l = layerNames(spec);
  const out = new Map<string, number[]>();
  for (const layer of [...l.enc, l.mu, l.logvar, ...l.dec, l.out]) {
    out.set(`${layer.name}.kernel`, [layer.inDim, layer.outDim]);
    out.set(`${layer.name}.bias`, [layer.outDim]);
  }
  return out;
}

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

/** y = act(x W + b), with the fused matmul+bias+activation kernel where tfjs has one. */
function dense(vae: Vae, x: Tensor, name: string, act: Activation | 'linear'): Tensor {
  const w = p(vae, `${name}.kernel`) as tf.Tensor2D;
  const b = p(vae, `${name}.bias`);
  if (act === 'linear') return tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias: b });
  const fused = FUSED[act];
  if (fused) return tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias: b, activation: fused, leakyreluAlpha: 0.2 });
  return tf.tanh(tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias: b }));
}

/**
 * log sigma^2 is clipped to [-30, 20]: exp(20) ~ 5e8 and exp(-30) ~ 1e-13 stay finite in float32
 * in the KL (exp(logvar)) and the reparameterisation (exp(logvar / 2)), so one wild encoder
 * output cannot turn the loss into Inf. Healthy training stays far inside (about -8 to 1 on
 * MNIST), where the clip is the identity.
 */
export const LOGVAR_RANGE = [-30, 20] as const;

/** q(z|x): mu and logvar, each [B, J]. */
export function encode(vae: Vae, x: Tensor): { mu: Tensor; logvar: Tensor } {
  return tf.tidy(() => {
    let h = x;
    for (let i = 0; i < vae.spec.hidden.length; i++) h = dense(vae, h, `encoder.hidden${i}`, vae.spec.activation);
    const logvar = tf.clipByValue(dense(vae, h, 'encoder.logvar', 'linear'), LOGVAR_RANGE[0], LOGVAR_RANGE[1]);
    return { mu: dense(vae, h, 'encoder.mu', 'linear'), logvar };
  });
}

/** The likelihood's parameters for p(x|z) (logits for Bernoulli), [B, D]. z: [B, J]. */
export function decode(vae: Vae, z: Tensor): Tensor {
  return tf.tidy(() => {
    let h = z;
    for (let i = 0; i < vae.spec.hidden.length; i++) h = dense(vae, h, `decoder.hidden${i}`, vae.spec.activation);
    return dense(vae, h, 'decoder.out', 'linear');
  });
}

/** Decoder mean E[x|z] in [0, 1], [B, D]: what pictures show. */
export function decodeMean(vae: Vae, z: Tensor): Tensor {
  return tf.tidy(() => vae.likelihood.mean(decode(vae, z)));
}

export interface ElboTerms {
  /** E_q[log p(x|z)], one-sample estimate, per example [B] (nats, <= 0 for binary data). */
  recon: Tensor;
  /** KL(q(z|x) || p(z)) in closed form, per example [B] (nats, >= 0). */
  kl: Tensor;
}

/**
 * The two ELBO terms per example, with the reparameterisation z = mu + sigma * eps.
 * ELBO(x) = recon - kl. eps: [B, J] standard normal draws.
 */
export function elboTerms(vae: Vae, x: Tensor, eps: Tensor): ElboTerms {
  return tf.tidy(() => {
    const { mu, logvar } = encode(vae, x);
    const z = reparameterize(mu, logvar, eps);
    const recon = vae.likelihood.logProb(x, decode(vae, z));
    return { recon, kl: klStdNormal(mu, logvar) };
  });
}

/**
 * The training loss: -ELBO summed over pixels and latent dimensions, averaged over the batch
 * (the same reduction as PyTorch's VAE example: sum over D and J, mean over B). Also returns
 * [mean recon, mean kl] as one small tensor, read back only at log intervals.
 */
export function vaeLoss(vae: Vae, x: Tensor, eps: Tensor): { loss: tf.Scalar; stats: Tensor } {
  return tf.tidy(() => {
    const { recon, kl } = elboTerms(vae, x, eps);
    const r = tf.mean(recon);
    const k = tf.mean(kl);
    return { loss: tf.sub(k, r) as tf.Scalar, stats: tf.stack([r, k]) };
  });
}

/**
 * Importance weights log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for z_k ~ q(z|x)
 * (Burda et al. 2015), for any diagonal Gaussian q given as (mu, logvar) [B, J], any decoder
 * (z [N, J] -> likelihood params [N, D]) and likelihood. x: [B, D]; eps: [K, B, J]. Returns [K, B].
 */
export function importanceWeights(
  x: Tensor,
  mu: Tensor,
  logvar: Tensor,
  eps: Tensor,
  decoder: (z: Tensor) => Tensor,
  likelihood: Likelihood,
): Tensor {
  return tf.tidy(() => {
    const [K, B, J] = eps.shape;
    const z = reparameterize(mu, logvar, eps); // [K, B, J] by broadcasting
    const params = decoder(tf.reshape(z, [K * B, J]));
    const xs = tf.tile(x, [K, 1]); // [K*B, D]: row k*B + b is x[b], matching the reshape of z
    const logPx = tf.reshape(likelihood.logProb(xs, params), [K, B]);
    return tf.sub(tf.add(logPx, logStdNormal(z)), logNormalDiag(z, mu, logvar));
  });
}

/** Importance weights for the VAE's own encoder and decoder. x: [B, D]; eps: [K, B, J] -> [K, B]. */
export function logImportanceWeights(vae: Vae, x: Tensor, eps: Tensor): Tensor {
  return tf.tidy(() => {
    const { mu, logvar } = encode(vae, x);
    return importanceWeights(x, mu, logvar, eps, (z) => decode(vae, z), vae.likelihood);
  });
}

/** L_K = logsumexp_k(log w_k) - log K, per example [B]. L_1 is a one-sample ELBO estimate. */
export function iwaeBound(logW: Tensor): Tensor {
  return tf.tidy(() => tf.sub(tf.logSumExp(logW, 0), Math.log(logW.shape[0])));
}
