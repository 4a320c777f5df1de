/**
 * From a data config to train / validation / test splits.
 *
 * Validation is carved from the END of the training file (the last `data.validation` examples),
 * so it never overlaps the first `data.limit` examples used for training. Test is the data set's
 * own test split.
 */
import { VaeError } from '../errors.js';
import type { DataConfig } from '../config/schema.js';
import { slice, type ImageSet, type Splits } from './dataset.js';
import { loadMnistPart } from './mnist.js';

export type SplitName = 'train' | 'val' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

async function loadPart(cfg: DataConfig, part: 'train' | 'test'): Promise<ImageSet> {
  switch (cfg.dataset) {
    case 'mnist':
      return loadMnistPart(part);
    default:
      throw new VaeError(`data.dataset '${cfg.dataset}' is not supported yet`);
  }
}

export function splitTrain(full: ImageSet, cfg: Pick<DataConfig, 'limit' | 'validation'>): { train: ImageSet; val: ImageSet } {
  if (cfg.validation >= full.n) {
    throw new VaeError(`data.validation is ${cfg.validation} but the training file has only ${full.n} examples`, {
      hint: `use a smaller data.validation (at most ${full.n - 1})`,
    });
  }
  const trainEnd = full.n - cfg.validation;
  const val = slice(full, trainEnd, full.n);
  const train = slice(full, 0, cfg.limit === null ? trainEnd : Math.min(cfg.limit, trainEnd));
  return { train, val };
}

/** Load the splits a command needs. The test split is read only when asked for. */
export async function loadSplits(cfg: DataConfig, need: readonly SplitName[] = SPLITS): Promise<Splits> {
  const wantTrain = need.includes('train') || need.includes('val');
  const rawTrain = wantTrain ? await loadPart(cfg, 'train') : null;
  const test = need.includes('test') ? await loadPart(cfg, 'test') : null;
  const { train, val } = rawTrain ? splitTrain(rawTrain, cfg) : { train: null, val: null };
  const empty = slice((rawTrain ?? test)!, 0, 0);
  return { train: train ?? empty, val: val ?? empty, test: test ?? empty };
}
