/**
 * vae.json: what an exported model's inputs and outputs mean, for people and pages that load
 * it with plain TensorFlow.js (docs/export.md describes each field).
 */
import fs from 'node:fs';
import path from 'node:path';
import { runRecipe, type LoadedRun } from '../run/run.js';
import type { Recipe } from '../image/prepare.js';
import { likelihoodKind } from '../model/likelihoods/registry.js';

export const EXPORT_FORMAT = 'vae-export';
export const EXPORT_VERSION = 1;

export type Part = 'encoder' | 'decoder';


export interface ExportInfo {
  format: typeof EXPORT_FORMAT;
  version: number;
  /** the run folder's name */
  name: string;
  description: string | null;
  /** epochs completed when the exported checkpoint was saved */
  epoch: number;
  checkpoint: 'last' | 'best';
  /** mean validation ELBO (nats) at that epoch, when the run has one */
  valElbo: number | null;
  dataset: string;
  /** how a picture of any size becomes an input: the run's recipe (src/image/prepare.ts) */
  prepare: Recipe;
  arch: 'mlp' | 'conv';
  latentDim: number;
  /** [height, width, channels] */
  imageShape: [number, number, number];
  channels: number;
  likelihood: string;
  sigma: number | 'learned' | 'learned-per-pixel' | null;
  /** whether the data was binarised for training (the Bernoulli on 0/1 pixels) */
  binarize: string | null;
  encoder?: {
    path: string;
    input: { name: 'image'; shape: (number | null)[]; range: [0, 1] };
    outputs: { name: string; shape: (number | null)[]; meaning: string }[];
  };
  decoder?: {
    path: string;
    input: { name: 'z'; shape: (number | null)[]; prior: string };
    output: { name: 'image'; shape: (number | null)[]; range: [0, 1]; meaning: string };
    toPixels: string;
  };
}


/** The validation ELBO recorded for `epoch` in metrics.jsonl, or null. */
function valElboAt(dir: string, epoch: number): number | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    try {
      const m = JSON.parse(line) as { epoch?: number; val?: { elbo?: number } | null };
      if (m.epoch === epoch && typeof m.val?.elbo === 'number') return m.val.elbo;
    } catch {
      /* a torn last line */
    }
  }
  return null;
}

const MEAN_MEANING = {
  sigmoid: 'the sigmoid of the logits: the probability that each pixel is on',
  clip: "the likelihood's centre clipped to [0, 1]",
};

export function describeExport(run: LoadedRun, which: 'last' | 'best', parts: readonly Part[]): ExportInfo {
  const spec = run.vae.spec;
  const shape = run.meta.dataShape;
  const J = spec.latentDim;
  const data = run.config.data as { dataset: string; binarize?: string | null };
  const info: ExportInfo = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    name: path.basename(path.resolve(run.dir)),
    description: run.config.description ?? null,
    epoch: run.meta.epoch,
    checkpoint: which,
    valElbo: which === 'best' && run.meta.best ? run.meta.best.valElbo : valElboAt(run.dir, run.meta.epoch),
    dataset: data.dataset,
    prepare: runRecipe(run),
    arch: spec.arch,
    latentDim: J,
    imageShape: shape,
    channels: shape[2],
    likelihood: spec.likelihood,
    sigma: spec.sigma ?? null,
    binarize: likelihoodKind(spec.likelihood).binaryData ? (data.binarize ?? null) : null,
  };
  if (parts.includes('encoder')) {
    info.encoder = {
      path: 'encoder/model.json',
      input: { name: 'image', shape: [null, ...shape], range: [0, 1] },
      outputs: [
        { name: 'mu', shape: [null, J], meaning: 'the mean of q(z|x)' },
        { name: 'logvar', shape: [null, J], meaning: 'log sigma^2 of q(z|x), clipped to [-30, 20]' },
      ],
    };
  }
  if (parts.includes('decoder')) {
    const kind = likelihoodKind(spec.likelihood);
    info.decoder = {
      path: 'decoder/model.json',
      input: { name: 'z', shape: [null, J], prior: 'standard normal N(0, I)' },
      output: { name: 'image', shape: [null, ...shape], range: [0, 1], meaning: `E[x|z] under the ${kind.describe(spec)} likelihood: ${MEAN_MEANING[kind.exportMean ?? 'clip']}` },
      toPixels: 'multiply by 255 and round; channels last (tf.browser.toPixels draws one [H, W, C] image directly)',
    };
  }
  return info;
}
