/**
 * What `vae explore` computes once at start from the run's test images (capped): their latent
 * means, a 2-D map of them (the latents themselves when J <= 2, else their first two principal
 * components), the ELBO and each latent dimension's KL on them (the page orders its sliders by
 * KL, most informative first), and the images as bytes so the page can show any of them.
 */
import { encodeArrays } from '../model/arrays.js';
import { project2d } from '../model/latent.js';
import { exampleSplit, loadSplits } from '../data/load.js';
import { dimOf, slice } from '../data/dataset.js';
import { evaluateSplit } from '../eval/elbo.js';
import { EVAL_SEED, evalBinarizes } from '../model/eval-protocol.js';
import type { LoadedRun } from '../run/run.js';

export interface TestMap {
  split: 'test' | 'val';
  n: number;
  /** mean ELBO over these n images (nats), as `vae eval` computes it */
  elbo: number;
  klPerDim: number[];
  /** dimensions by KL, largest first */
  klOrder: number[];
  /** the 2-D map, [x, y] per image */
  points: [number, number][];
  axes: [string, string];
  labels: number[] | null;
  classes: string[] | null;
  /** latent means, n x J, rounded to 7 significant digits */
  mu: number[][];
}

export async function buildTestMap(run: LoadedRun, limit: number): Promise<{ map: TestMap; images: Uint8Array }> {
  const split = exampleSplit(run.config.data);
  const full = (await loadSplits(run.config.data, [split], { cacheDir: run.dir }))[split];
  const set = slice(full, 0, limit);
  const J = run.vae.spec.latentDim;
  const r = await evaluateSplit(run.vae, set, { seed: EVAL_SEED, binarize: evalBinarizes(run.config), samples: 0 });
  const { mu } = await encodeArrays(run.vae, set.images, set.n);
  const { points, axes } = project2d(mu, set.n, J);
  const round = (v: number) => Number(v.toPrecision(7));
  const images = new Uint8Array(set.images.length);
  for (let i = 0; i < images.length; i++) images[i] = Math.round(Math.min(1, Math.max(0, set.images[i])) * 255);
  const map: TestMap = {
    split,
    n: set.n,
    elbo: r.elbo,
    klPerDim: r.klPerDim,
    klOrder: r.klPerDim.map((_, j) => j).sort((p, q) => r.klPerDim[q] - r.klPerDim[p]),
    points: points.map(([x, y]) => [round(x), round(y)]),
    axes,
    labels: set.labels ? Array.from(set.labels) : null,
    classes: set.classes ?? null,
    mu: Array.from({ length: set.n }, (_, i) => Array.from(mu.subarray(i * J, (i + 1) * J), round)),
  };
  if (dimOf(set) !== run.vae.spec.inputDim) throw new Error('the test images do not match the model');
  return { map, images };
}
