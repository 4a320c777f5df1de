/**
 * In-memory image data sets: Float32Array pixels in [0, 1], one row of D = H*W*C values per
 * example (row-major, channels last), with optional integer labels.
 */
export interface ImageSet {
  /** n x D pixel intensities in [0, 1]. */
  images: Float32Array;
  labels: Uint8Array | null;
  n: number;
  /** [height, width, channels] */
  shape: [number, number, number];
  /** Class names by label (label i is classes[i]), when the data set names its classes. */
  classes?: string[];
}

export function dimOf(set: Pick<ImageSet, 'shape'>): number {
  return set.shape[0] * set.shape[1] * set.shape[2];
}

/** Examples [start, end) of a set, sharing memory. */
export function slice(set: ImageSet, start: number, end: number): ImageSet {
  const d = dimOf(set);
  end = Math.min(end, set.n);
  start = Math.min(start, end);
  return {
    images: set.images.subarray(start * d, end * d),
    labels: set.labels ? set.labels.subarray(start, end) : null,
    n: end - start,
    shape: set.shape,
    ...(set.classes ? { classes: set.classes } : {}),
  };
}

/** Bytes (0..255) to intensities in [0, 1]. */
export function bytesToUnit(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

export interface Splits {
  train: ImageSet;
  val: ImageSet;
  test: ImageSet;
}
