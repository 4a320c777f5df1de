/** Where a config becomes a model: its spec, and a freshly initialised VAE from the config's seed. */
import { Rng } from '../random.js';
import type { Config } from '../config/schema.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { createVae, type Vae, type VaeSpec } from '../model/vae.js';
import { likelihoodKind } from '../model/likelihoods/registry.js';

export function specFromConfig(cfg: Config, data: Pick<ImageSet, 'shape'>): VaeSpec {
  const m = cfg.model;
  return {
    arch: m.arch,
    inputDim: dimOf(data),
    inputShape: data.shape,
    hidden: m.hidden,
    latentDim: m.latentDim,
    activation: m.activation,
    likelihood: m.likelihood,
    ...likelihoodKind(m.likelihood).options(m),
    ...(m.arch === 'conv' ? { convChannels: m.convChannels, kernelSize: m.kernelSize, batchNorm: m.batchNorm } : {}),
  };
}

/** Per-pixel mean of a set (D values), for the decoder's output-bias initialisation. */
export function pixelMean(set: ImageSet): Float32Array {
  const D = dimOf(set);
  const sums = new Float64Array(D);
  for (let i = 0; i < set.n; i++) for (let d = 0; d < D; d++) sums[d] += set.images[i * D + d];
  return Float32Array.from(sums, (v) => v / Math.max(set.n, 1));
}

/** The model a config describes, freshly initialised from its seed. */
export function createVaeForConfig(cfg: Config, train: ImageSet): Vae {
  const init = Rng.derive(cfg.train.seed, 'init');
  return createVae(specFromConfig(cfg, train), init, { pixelMean: cfg.model.initOutputBias ? pixelMean(train) : null });
}
