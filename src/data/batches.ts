/**
 * Batches for training and evaluation, filled on the JavaScript side (one upload per batch).
 *
 * Binarisation for the Bernoulli likelihood: a pixel of intensity p becomes 1 with probability p.
 * "dynamic" draws afresh every epoch (a known regulariser, the standard MNIST protocol);
 * "static" draws once from a fixed seed; "none" keeps greyscale. Evaluation always uses a fixed
 * seeded draw, consumed example by example, so numbers do not depend on the batch size.
 */
import { Rng } from '../random.js';
import type { ImageSet } from './dataset.js';
import { dimOf } from './dataset.js';

export type Binarize = 'dynamic' | 'static' | 'none';

/** Copy example `src` rows into `out`, binarising with rng (or copying when rng is null). */
export function fillRows(out: Float32Array, set: ImageSet, rows: ArrayLike<number>, rng: Rng | null): void {
  const d = dimOf(set);
  const img = set.images;
  for (let r = 0; r < rows.length; r++) out.set(img.subarray(rows[r] * d, (rows[r] + 1) * d), r * d);
  // row by row, pixel by pixel: the same draws as one uniform() per value in that order
  if (rng) rng.binarize(out.subarray(0, rows.length * d));
}

/**
 * The static binarisation of example i: the same for every epoch and every batch size, drawn
 * from a stream derived from (seed, i) so any example can be drawn alone.
 */
export function staticRng(seed: number, example: number): Rng {
  return Rng.derive(seed, 'static-binarize', example);
}

/** One epoch of training batches: a seeded permutation, then consecutive slices of it. */
export class EpochBatches {
  readonly count: number;
  private readonly order: Uint32Array;
  private readonly buf: Float32Array;
  private readonly binRng: Rng;

  constructor(
    private readonly set: ImageSet,
    readonly batchSize: number,
    private readonly mode: Binarize,
    private readonly seed: number,
    epoch: number,
    binState?: ReturnType<Rng['state']> | null,
  ) {
    this.order = Rng.derive(seed, 'order', epoch).permutation(set.n);
    this.binRng = binState ? Rng.fromState(binState) : Rng.derive(seed, 'binarize', epoch);
    this.count = Math.ceil(set.n / batchSize);
    this.buf = new Float32Array(Math.min(batchSize, set.n) * dimOf(set));
  }

  /** The dynamic-binarisation stream's state, to continue this epoch exactly after a resume. */
  binState(): ReturnType<Rng['state']> {
    return this.binRng.state();
  }

  /**
   * Batch i as a Float32Array view of n rows (the last batch may be short). Batches must be
   * taken in order for dynamic binarisation to follow its stream.
   */
  batch(i: number): { x: Float32Array; n: number } {
    const start = i * this.batchSize;
    const rows = this.order.subarray(start, Math.min(start + this.batchSize, this.set.n));
    const d = dimOf(this.set);
    const x = this.buf.subarray(0, rows.length * d);
    if (this.mode === 'dynamic') {
      fillRows(x, this.set, rows, this.binRng);
    } else if (this.mode === 'static') {
      for (let r = 0; r < rows.length; r++) fillRows(x.subarray(r * d, (r + 1) * d), this.set, [rows[r]], staticRng(this.seed, rows[r]));
    } else {
      fillRows(x, this.set, rows, null);
    }
    return { x, n: rows.length };
  }
}

/**
 * Training batches across epochs: each epoch's EpochBatches, made when the epoch's first batch
 * is asked for; `resume` continues the binarisation stream of the epoch a checkpoint was taken
 * in, part-way through it.
 */
export class TrainingBatches {
  private current: EpochBatches | null = null;
  private epoch = -1;

  constructor(
    private readonly set: ImageSet,
    private readonly batchSize: number,
    private readonly mode: Binarize,
    private readonly seed: number,
    private readonly resume?: { epoch: number; bin: ReturnType<Rng['state']> | null },
  ) {}

  /** Batch i of an epoch (batches in order within an epoch, as EpochBatches requires). */
  batch(epoch: number, i: number): { x: Float32Array; n: number } {
    if (!this.current || this.epoch !== epoch) {
      const bin = this.resume && this.resume.epoch === epoch ? this.resume.bin : null;
      this.current = new EpochBatches(this.set, this.batchSize, this.mode, this.seed, epoch, bin);
      this.epoch = epoch;
    }
    return this.current.batch(i);
  }

  /** The current epoch's binarisation stream, for a checkpoint (null before the first batch). */
  binState(): ReturnType<Rng['state']> | null {
    return this.current ? this.current.binState() : null;
  }
}

/**
 * Examples [start, end) of a set for evaluation, binarised (when asked) by the fixed stream of
 * each example, so the result does not depend on how the split is batched.
 */
export function evalRows(set: ImageSet, start: number, end: number, binarize: boolean, seed: number): Float32Array {
  const d = dimOf(set);
  const out = new Float32Array((end - start) * d);
  for (let i = start; i < end; i++) {
    fillRows(out.subarray((i - start) * d, (i - start + 1) * d), set, [i], binarize ? Rng.derive(seed, 'eval-binarize', i) : null);
  }
  return out;
}
