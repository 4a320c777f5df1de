/**
 * Inputs for commands that take images: files given on the command line, a data set split
 * (`--split test --limit 16`), or single references such as `test:12`, `12` (test index) or a
 * path. Split images get the same fixed binarisation as `vae eval`; files are read as they are.
 */
import fs from 'node:fs';
import { VaeError } from '../errors.js';
import { loadSplits, SPLITS, type SplitName } from '../data/load.js';
import { dimOf } from '../data/dataset.js';
import { evalRows } from '../data/batches.js';
import { loadImageFiles } from '../image/load.js';
import { runRecipe, type LoadedRun } from '../run/run.js';
import { EVAL_SEED, evalBinarizes } from '../model/eval-protocol.js';

export const MAX_IMAGES = 100_000;

export interface Inputs {
  images: Float32Array;
  n: number;
  ids: string[];
  labels: (number | null)[];
}

function checkSplit(name: string): SplitName {
  if (!(SPLITS as readonly string[]).includes(name)) throw new VaeError(`unknown split '${name}'`, { hint: `choose from ${SPLITS.join(', ')}` });
  return name as SplitName;
}

/** Examples of a split by index, preprocessed as for evaluation. */
async function fromSplit(run: LoadedRun, split: SplitName, indices: number[] | null, limit: number): Promise<Inputs> {
  const set = (await loadSplits(run.config.data, [split], { cacheDir: run.dir }))[split];
  if (set.n === 0) throw new VaeError(`the ${split} split of this run is empty`);
  const idx = indices ?? Array.from({ length: Math.min(limit, set.n) }, (_, i) => i);
  const D = dimOf(set);
  const images = new Float32Array(idx.length * D);
  const binarize = evalBinarizes(run.config);
  idx.forEach((i, k) => {
    if (!Number.isInteger(i) || i < 0 || i >= set.n) throw new VaeError(`${split}:${i} is out of range: the ${split} split has ${set.n} images (0 to ${set.n - 1})`);
    // Example i's own binarisation stream, exactly as `vae eval` draws it.
    images.set(evalRows(set, i, i + 1, binarize, EVAL_SEED), k * D);
  });
  return { images, n: idx.length, ids: idx.map((i) => `${split}:${i}`), labels: idx.map((i) => (set.labels ? set.labels[i] : null)) };
}

/** How image files are prepared: `auto` (the run's recipe) or `none` (resized only). */
const PREPARE_CHOICES = ['auto', 'none'] as const;
export type PrepareChoice = (typeof PREPARE_CHOICES)[number];

export function checkPrepare(value: string): PrepareChoice {
  if (!(PREPARE_CHOICES as readonly string[]).includes(value)) throw new VaeError(`unknown --prepare '${value}'`, { hint: 'use auto (the run\'s own preparation) or none (resize only)' });
  return value as PrepareChoice;
}


/** FILES... or --split S [--limit N], exactly one of them. */
export async function readInputs(
  run: LoadedRun,
  opts: { files: string[]; split?: string; limit?: number; defaultLimit: number; prepare?: PrepareChoice },
): Promise<Inputs> {
  if (opts.files.length && opts.split) throw new VaeError('give image files or --split, not both');
  if (opts.split) return fromSplit(run, checkSplit(opts.split), null, opts.limit ?? opts.defaultLimit);
  if (!opts.files.length) throw new VaeError('no inputs: give image files, or --split test|val|train (with --limit N)');
  if (opts.files.length > MAX_IMAGES) throw new VaeError(`too many images (${opts.files.length}); the limit is ${MAX_IMAGES}`);
  const images = await loadImageFiles(opts.files, run.meta.dataShape, opts.prepare === 'none' ? 'resize' : runRecipe(run));
  return { images, n: opts.files.length, ids: [...opts.files], labels: opts.files.map(() => null) };
}

/** One reference: an image path, `split:index`, or a bare index into the test split. */
export async function readRef(run: LoadedRun, ref: string): Promise<Inputs> {
  if (fs.existsSync(ref)) return readInputs(run, { files: [ref], defaultLimit: 1 });
  const m = /^(?:(train|val|test):)?(\d+)$/.exec(ref.trim());
  if (!m) throw new VaeError(`'${ref}' is neither an image file nor a data set index`, { hint: 'use a path, or an index such as 12 or test:12 or val:3' });
  return fromSplit(run, (m[1] ?? 'test') as SplitName, [Number(m[2])], 1);
}
