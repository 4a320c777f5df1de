/**
 * From a data config to train / validation / test splits.
 *
 * Validation is carved from the END of the training part (the last `data.validation` examples),
 * so it never overlaps the first `data.limit` examples used for training. Test is the data set's
 * own test part: mnist's and fashion-mnist's test files, or data.testPath (+ data.testLabels) for
 * idx and folder. docs/data.md describes each data set and its split.
 */
import { VaeError } from '../errors.js';
import type { DataConfig } from '../config/schema.js';
import { slice, type ImageSet, type Splits } from './dataset.js';
import { loadIdxPair, loadMnistPart } from './mnist.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { decodeFolder, listFolder, type FolderPartName } from './folder.js';
import { cacheFile, folderKey, readCache, writeCache, type CachedPart } from './cache.js';

export type SplitName = 'train' | 'val' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

export interface LoadOptions {
  /**
   * A folder for the decoded-image cache of data.dataset 'folder' (a run directory, say): a fresh
   * cache there is read instead of decoding, and a missing or stale one is (re)written. Without
   * it nothing is cached. Other data sets load fast and are never cached.
   */
  cacheDir?: string;
  /** Where warnings go, one line each without a prefix. Default: stderr as 'vae: warning: <line>'. */
  onWarn?: (msg: string) => void;
}

export interface LoadedSplits extends Splits {
  /** True when image folders were needed and every one came from the cache. */
  fromCache: boolean;
  /** How many image files sharp decoded in this call (0 for other data sets, or from the cache). */
  decoded: number;
  /** The decoded folder parts before the validation split, for writeDataCache. */
  cacheable: CachedPart[];
}

/** The Log.warn convention (src/ui/log.ts), for callers that do not pass their own onWarn. */
export function warnToStderr(msg: string): void {
  process.stderr.write(`vae: warning: ${msg}\n`);
}

export function splitTrain(full: ImageSet, cfg: Pick<DataConfig, 'limit' | 'validation'>): { train: ImageSet; val: ImageSet } {
  if (cfg.validation >= full.n) {
    throw new VaeError(`data.validation is ${cfg.validation} but the training data has only ${full.n} examples`, {
      hint: `use a smaller data.validation (at most ${full.n - 1})`,
    });
  }
  const trainEnd = full.n - cfg.validation;
  const val = slice(full, trainEnd, full.n);
  const train = slice(full, 0, cfg.limit === null ? trainEnd : Math.min(cfg.limit, trainEnd));
  return { train, val };
}

/** Whether the data set has a test split (mnist and fashion-mnist do; idx and folder when data.testPath is set). */
export function hasTestSplit(cfg: DataConfig): boolean {
  return cfg.dataset === 'mnist' || cfg.dataset === 'fashion-mnist' || cfg.testPath !== null;
}

/** The split that commands show examples from: test, or validation when there is no test split. */
export function exampleSplit(cfg: DataConfig): 'test' | 'val' {
  return hasTestSplit(cfg) ? 'test' : 'val';
}

/** The error for a command that needs a test split the data set does not have. */
function noTestSplit(cfg: DataConfig): VaeError {
  return new VaeError(`this run's data set (data.dataset '${cfg.dataset}' at ${cfg.path}) has no test split`, {
    hint: cfg.dataset === 'idx' ? 'set data.testPath (and data.testLabels), or use --split val' : 'set data.testPath, or use --split val',
  });
}

function need<T>(v: T | null | undefined, key: string): T {
  if (v === null || v === undefined) throw new VaeError(`${key} is not set`);
  return v;
}

interface Parts {
  train: ImageSet | null;
  test: ImageSet | null;
  fromCache: boolean;
  decoded: number;
  cacheable: CachedPart[];
}

async function loadFolderParts(cfg: DataConfig, want: { train: boolean; test: boolean }, opts: LoadOptions, warn: (m: string) => void): Promise<Parts> {
  const out: Parts = { train: null, test: null, fromCache: true, decoded: 0, cacheable: [] };
  // The training folder's listing is needed even for the test part alone: it defines the classes.
  const trainListing = listFolder(need(cfg.path, 'data.path'), 'data.path');
  const load = async (part: FolderPartName): Promise<ImageSet> => {
    const listing = part === 'train' ? trainListing : listFolder(need(cfg.testPath, 'data.testPath'), 'data.testPath', trainListing.classes);
    const key = folderKey(listing, { size: cfg.size, channels: cfg.channels, part });
    if (opts.cacheDir) {
      const file = cacheFile(opts.cacheDir, part);
      const hit = readCache(file, key, part);
      if (hit.ok) {
        hit.part.warnings.forEach(warn);
        out.cacheable.push(hit.part);
        return hit.part.set;
      }
      if (hit.reason === 'damaged') warn(`ignoring the damaged data cache ${file} (${hit.detail}); decoding the images again`);
    }
    out.fromCache = false;
    const dec = await decodeFolder(listing, { size: cfg.size, channels: cfg.channels, part });
    dec.warnings.forEach(warn);
    out.decoded += dec.decoded;
    const cached: CachedPart = { part, key, set: dec.set, warnings: dec.warnings };
    out.cacheable.push(cached);
    if (opts.cacheDir) tryWriteCache(opts.cacheDir, cached, warn);
    return dec.set;
  };
  if (want.train) out.train = await load('train');
  if (want.test) out.test = await load('test');
  return out;
}

function tryWriteCache(dir: string, part: CachedPart, warn: (m: string) => void): string | null {
  try {
    return writeCache(dir, part);
  } catch (err) {
    // The cache only saves time: failing to write it must not stop a run.
    warn(`could not write the data cache in ${dir}: ${(err as Error).message}`);
    return null;
  }
}

async function loadParts(cfg: DataConfig, want: { train: boolean; test: boolean }, opts: LoadOptions, warn: (m: string) => void): Promise<Parts> {
  const plain = (train: ImageSet | null, test: ImageSet | null): Parts => ({ train, test, fromCache: false, decoded: 0, cacheable: [] });
  switch (cfg.dataset) {
    case 'mnist':
      return plain(want.train ? loadMnistPart('train') : null, want.test ? loadMnistPart('test') : null);
    case 'fashion-mnist': {
      // One pass over the package's files gives both parts.
      const p = loadFashionMnist(want);
      return plain(p.train ?? null, p.test ?? null);
    }
    case 'idx':
      return plain(
        want.train ? loadIdxPair(need(cfg.path, 'data.path'), cfg.labels) : null,
        want.test ? loadIdxPair(need(cfg.testPath, 'data.testPath'), cfg.testLabels) : null,
      );
    case 'folder':
      return loadFolderParts(cfg, want, opts, warn);
    default:
      throw new VaeError(`data.dataset '${String((cfg as { dataset: unknown }).dataset)}' is not supported`);
  }
}

/**
 * Load the splits a command needs. The test part is read only when asked for; asking for it on a
 * data set without one (idx or folder without data.testPath) is a VaeError.
 */
export async function loadSplits(cfg: DataConfig, needed: readonly SplitName[] = SPLITS, opts: LoadOptions = {}): Promise<LoadedSplits> {
  const warn = opts.onWarn ?? warnToStderr;
  const want = { train: needed.includes('train') || needed.includes('val'), test: needed.includes('test') };
  if (want.test && (cfg.dataset === 'idx' || cfg.dataset === 'folder') && !cfg.testPath) throw noTestSplit(cfg);
  const parts = await loadParts(cfg, want, opts, warn);
  if (parts.train && parts.test && parts.train.shape.join('x') !== parts.test.shape.join('x')) {
    throw new VaeError(`the test images are ${parts.test.shape.join('x')} but the training images are ${parts.train.shape.join('x')} (height x width x channels)`, {
      hint: cfg.dataset === 'folder' ? 'set data.size so that both folders are resized to the same size' : 'give test images of the same size as the training images',
    });
  }
  const { train, val } = parts.train ? splitTrain(parts.train, cfg) : { train: null, val: null };
  const empty = slice((parts.train ?? parts.test)!, 0, 0);
  return {
    train: train ?? empty,
    val: val ?? empty,
    test: parts.test ?? empty,
    fromCache: parts.cacheable.length > 0 && parts.fromCache,
    decoded: parts.decoded,
    cacheable: parts.cacheable,
  };
}

/**
 * Write the decoded-image cache of already loaded splits into dir (created if missing), for a
 * caller that loads before the directory exists, e.g. the trainer before its run directory.
 * Returns the files written: none for data sets that are not cached. Never throws: a cache that
 * cannot be written is reported through onWarn and skipped.
 */
export function writeDataCache(splits: Pick<LoadedSplits, 'cacheable'>, dir: string, opts: Pick<LoadOptions, 'onWarn'> = {}): string[] {
  const warn = opts.onWarn ?? warnToStderr;
  return splits.cacheable.flatMap((p) => {
    const f = tryWriteCache(dir, p, warn);
    return f ? [f] : [];
  });
}
