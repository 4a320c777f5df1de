/**
 * Reading image files (PNG, JPEG, WebP, GIF, TIFF, AVIF, SVG: whatever sharp decodes) into the
 * model's input: converted to greyscale or RGB, resized to the data's height and width keeping
 * the aspect ratio (padded with black, like MNIST's background), intensities in [0, 1].
 */
import fs from 'node:fs';
import sharp, { type OutputInfo } from 'sharp';
import { VaeError } from '../errors.js';

export async function loadImageFile(file: string, shape: readonly [number, number, number]): Promise<Float32Array> {
  const [h, w, c] = shape;
  if (!fs.existsSync(file)) throw new VaeError(`image '${file}' does not exist`);
  if (fs.statSync(file).isDirectory()) throw new VaeError(`'${file}' is a directory, not an image`);
  let img = sharp(file, { failOn: 'error' }).flatten({ background: '#000000' });
  img = c === 1 ? img.grayscale() : img.toColourspace('srgb');
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await img
      .resize(w, h, { fit: 'contain', background: '#000000', kernel: 'lanczos3' })
      .raw()
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new VaeError(`'${file}' is not an image that can be read (${String((err as Error).message).split('\n')[0]})`, {
      hint: 'give PNG, JPEG, WebP, GIF, TIFF or AVIF files',
    });
  }
  const out = new Float32Array(h * w * c);
  const ch = info.channels;
  for (let i = 0; i < h * w; i++) for (let k = 0; k < c; k++) out[i * c + k] = data[i * ch + Math.min(k, ch - 1)] / 255;
  return out;
}

export async function loadImageFiles(files: readonly string[], shape: readonly [number, number, number]): Promise<Float32Array> {
  const d = shape[0] * shape[1] * shape[2];
  const out = new Float32Array(files.length * d);
  for (let i = 0; i < files.length; i++) out.set(await loadImageFile(files[i], shape), i * d);
  return out;
}
