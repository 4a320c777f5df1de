/** Where a config becomes a model: its spec, and a freshly initialised VAE from the config's seed. */
import { constants as bufferConstants } from 'node:buffer';
import { Rng } from '../random.js';
import type { Config } from '../config/schema.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { createVae, type Vae, type VaeSpec } from '../model/vae.js';
import { likelihoodKind } from '../model/likelihoods/registry.js';
import { trainingFootprint } from '../model/footprint.js';
import { memoryLimit, type ConcreteBackend } from '../backend/index.js';
import { RuntimeFailure, VaeError } from '../errors.js';

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

function size(bytes: number): string {
  const gib = bytes / 2 ** 30;
  if (gib >= 1) return `${gib < 10 ? gib.toFixed(1).replace(/\.0$/, '') : Math.round(gib).toLocaleString('en-US')} GiB`;
  return `${Math.max(1, Math.round(bytes / 2 ** 20))} MiB`;
}

/**
 * Refuse, before anything is built, a model or batch that cannot fit: what training needs
 * (src/model/footprint.ts) against what the backend can address (src/backend), and a checkpoint
 * larger than one Node.js buffer can hold.
 */
export function checkFitsInMemory(cfg: Config, data: Pick<ImageSet, 'shape' | 'n'>, backend: ConcreteBackend): void {
  const spec = specFromConfig(cfg, data);
  const batch = Math.max(1, Math.min(cfg.train.batchSize, data.n));
  const f = trainingFootprint(spec, batch, cfg.train.iwSamples);
  const params = f.params.toLocaleString('en-US');
  const smaller = cfg.model.arch === 'conv' ? 'make model.hidden or model.convChannels smaller' : 'make model.hidden smaller';
  const limit = memoryLimit(backend);
  if (f.total > limit.bytes) {
    const weights = `${size(f.paramBytes)} for weights, gradients, Adam's moments and updates`;
    if (f.byTrainingBatch && f.activationBytes > f.paramBytes) {
      const each = cfg.train.iwSamples > 1 ? ` with ${cfg.train.iwSamples} samples each` : '';
      throw new VaeError(`batch too large: a batch of ${batch.toLocaleString('en-US')} examples${each} needs ${size(f.activationBytes)} for activations (and the ${params} parameters ${weights}); ${limit.what} ${size(limit.bytes)}`, {
        hint: `make train.batchSize${cfg.train.iwSamples > 1 ? ' or train.iwSamples' : ''} smaller`,
      });
    }
    throw new VaeError(`model too large: ${params} parameters need ${weights} (and ${size(f.activationBytes)} more for activations); ${limit.what} ${size(limit.bytes)}`, { hint: smaller });
  }
  if (f.checkpointBytes > bufferConstants.MAX_LENGTH) {
    throw new VaeError(`model too large: ${params} parameters make a ${size(f.checkpointBytes)} checkpoint (weights and Adam's moments), more than the ${size(bufferConstants.MAX_LENGTH)} Node.js can write from one buffer`, { hint: smaller });
  }
}

/**
 * An allocation that failed all the same (the estimate above is not a bound), as one line rather
 * than an internal error: JavaScript's own (RangeError), WebAssembly's heap (an emscripten
 * abort), TensorFlow's and WebGPU's. Anything else: null.
 */
export function outOfMemory(err: unknown, backend: ConcreteBackend): RuntimeFailure | null {
  const message = err instanceof Error ? err.message : String(err);
  const oom =
    (err instanceof RangeError && /allocation failed|invalid (typed )?array length|out of memory/i.test(message)) ||
    (backend === 'wasm' && /^Aborted\(/.test(message)) ||
    /\b(OOM|out of memory|resource exhausted)\b/i.test(message);
  if (!oom) return null;
  return new RuntimeFailure(`ran out of memory while training on the ${backend} backend (${message.split('\n')[0].slice(0, 120)})`, {
    hint: 'make model.hidden or train.batchSize smaller; the last checkpoint, if there is one, is intact',
    cause: err,
  });
}
