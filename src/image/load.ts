/**
 * Reading image files (PNG, JPEG, WebP, GIF, TIFF, AVIF, SVG: whatever sharp decodes) into the
 * model's input, intensities in [0, 1]. With the `resize` recipe (image folders, or
 * `--prepare none`) a picture is converted to greyscale or RGB and resized to the data's height
 * and width keeping the aspect ratio (padded with black, like MNIST's background); with a data
 * set's own recipe (prepare.ts) sharp only decodes it and the recipe does the rest.
 */
import fs from 'node:fs';
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { VaeError } from '../errors.js';
import { prepareImage, type Recipe } from './prepare.js';

/** Pictures larger than this (longest side, pixels) are shrunk before a recipe runs. */
const RECIPE_MAX_SIDE = 1024;

async function decode(file: string, img: Sharp): Promise<{ data: Buffer; info: OutputInfo }> {
  try {
    return await img.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new VaeError(`'${file}' is not an image that can be read (${String((err as Error).message).split('\n')[0]})`, {
      hint: 'give PNG, JPEG, WebP, GIF, TIFF or AVIF files',
    });
  }
}

async function loadImageFile(file: string, shape: readonly [number, number, number], recipe: Recipe = 'resize'): Promise<Float32Array> {
  const [h, w, c] = shape;
  if (!fs.existsSync(file)) throw new VaeError(`image '${file}' does not exist`);
  if (fs.statSync(file).isDirectory()) throw new VaeError(`'${file}' is a directory, not an image`);
  if (recipe !== 'resize' && c === 1) {
    // Transparent areas are paper: flattened onto white, which the recipe then reads as background.
    const img = sharp(file, { failOn: 'error' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(RECIPE_MAX_SIDE, RECIPE_MAX_SIDE, { fit: 'inside', withoutEnlargement: true });
    const { data, info } = await decode(file, img);
    return prepareImage({ data, width: info.width, height: info.height, channels: info.channels }, recipe, h, w);
  }
  let img = sharp(file, { failOn: 'error' }).flatten({ background: '#000000' });
  img = c === 1 ? img.grayscale() : img.toColourspace('srgb');
  const { data, info } = await decode(file, img.resize(w, h, { fit: 'contain', background: '#000000', kernel: 'lanczos3' }));
  const out = new Float32Array(h * w * c);
  const ch = info.channels;
  for (let i = 0; i < h * w; i++) for (let k = 0; k < c; k++) out[i * c + k] = data[i * ch + Math.min(k, ch - 1)] / 255;
  return out;
}

export async function loadImageFiles(files: readonly string[], shape: readonly [number, number, number], recipe: Recipe = 'resize'): Promise<Float32Array> {
  const d = shape[0] * shape[1] * shape[2];
  const out = new Float32Array(files.length * d);
  for (let i = 0; i < files.length; i++) out.set(await loadImageFile(files[i], shape, recipe), i * d);
  return out;
}
