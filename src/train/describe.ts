/** One-line descriptions for people: the model and the loss being trained. */
import type { Config } from '../config/schema.js';
import type { VaeSpec } from '../model/vae.js';
import { likelihoodKind } from '../model/likelihoods/registry.js';

/** One line describing a model, e.g. 'mlp 784-400-20 (relu, bernoulli)'. */
export function describeModel(spec: VaeSpec): string {
  const lik = likelihoodKind(spec.likelihood).describe(spec);
  if (spec.arch === 'mlp') return `mlp ${[spec.inputDim, ...spec.hidden, spec.latentDim].join('-')} (${spec.activation}, ${lik})`;
  const shape = spec.inputShape ? spec.inputShape.join('x') : String(spec.inputDim);
  const convs = (spec.convChannels ?? []).join('-');
  return `conv ${shape} -> conv ${convs} (k=${spec.kernelSize ?? 4}, stride 2${spec.batchNorm ? ', batch norm' : ''})${spec.hidden.length ? ` -> ${spec.hidden.join('-')}` : ''} -> ${spec.latentDim} (${spec.activation}, ${lik})`;
}

/** One line saying what the loss is, so nobody confuses the weighted KL with the raw one. */
export function describeObjective(cfg: Config): string {
  const t = cfg.train;
  if (t.iwSamples > 1) {
    return `loss = -L_${t.iwSamples} (importance-weighted bound, ${t.iwSamples} samples${t.beta !== 1 || t.warmupEpochs > 0 ? `, KL weight ${t.beta}${t.warmupEpochs > 0 ? ` after ${t.warmupEpochs} warm-up epochs` : ''}` : ''}), nats per example`;
  }
  const parts: string[] = [];
  if (t.beta !== 1) parts.push(`beta = ${t.beta}`);
  if (t.warmupEpochs > 0) parts.push(`KL weight rising from 0 to ${t.beta} over ${t.warmupEpochs} epochs`);
  if (t.freeBits > 0) parts.push(`free bits ${t.freeBits} nats per latent dim`);
  if (!parts.length) return 'loss = -ELBO summed over pixels and latent dims, averaged over the batch (nats per example)';
  return `loss = -(recon - weighted KL), ${parts.join(', ')}; the tables show the raw KL and the ELBO with it, and the weighted KL beside them`;
}
