/**
 * Preparing a picture the way a data set's own images were prepared, so that a model trained
 * on that data set sees a fair input. Plain array code (no Node, no sharp), so that a web page
 * can run the same recipe on a canvas's pixels.
 *
 * - `mnist`: MNIST's published preparation (yann.lecun.com/exdb/mnist): the digit, size
 *   normalised to fit a 20x20 box keeping its aspect ratio (anti-aliased, so grey levels
 *   appear), placed in a 28x28 field so that its centre of mass is at the field's centre.
 *   Before that, the polarity is detected (a light background, as paint programs and photos
 *   give, is inverted to MNIST's light-on-dark), the background level is subtracted, the
 *   strongest ink is stretched to full intensity, and the picture is cropped to its ink.
 * - `fashion-mnist`: Fashion-MNIST's published conversion (Xiao et al. 2017, section 2): trim the
 *   edges close to the corner colour (within 5% of the full intensity in RGB space), resize the
 *   longest edge to 28 by subsampling (skipping rows and columns), sharpen with a Gaussian
 *   operator of radius 1 and sigma 1, extend the shorter edge to 28 centred, negate, convert to
 *   8-bit grey. Here the corner is the top-left pixel (as ImageMagick's trim), the sharpening
 *   is ImageMagick's sharpen kernel, and the negation is applied only when the corner is light
 *   (Zalando's photos all had a light-grey background; a dark one is kept as it is).
 * - `resize`: no recipe; the picture is resized to the data's size keeping its aspect ratio
 *   (done by the caller, as for image folders).
 */

export const RECIPES = ['mnist', 'fashion-mnist', 'resize'] as const;
export type Recipe = (typeof RECIPES)[number];

/** Decoded pixels: 8-bit, channels last (1 grey, 3 RGB, or 4 RGBA with alpha already flattened away). */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** The recipe for images of a data set, by its name (data.dataset). */
export function recipeForDataset(dataset: string): Recipe {
  return dataset === 'mnist' || dataset === 'fashion-mnist' ? dataset : 'resize';
}

/** Grey levels in [0, 1] (ITU-R BT.601 luma for colour). */
function toGrey(p: Pixels): Float32Array {
  const n = p.width * p.height;
  const out = new Float32Array(n);
  const c = p.channels;
  for (let i = 0; i < n; i++) {
    out[i] = c < 3 ? p.data[i * c] / 255 : (0.299 * p.data[i * c] + 0.587 * p.data[i * c + 1] + 0.114 * p.data[i * c + 2]) / 255;
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** The grey levels along the picture's border. */
function borderValues(g: Float32Array, w: number, h: number): number[] {
  const out: number[] = [];
  for (let x = 0; x < w; x++) out.push(g[x], g[(h - 1) * w + x]);
  for (let y = 1; y < h - 1; y++) out.push(g[y * w], g[y * w + w - 1]);
  return out;
}

/**
 * Resample a grey image to outW x outH by exact area averaging: each output pixel is the mean of
 * the source area it covers (anti-aliased when shrinking, blocky-but-faithful when enlarging).
 */
function resampleArea(src: Float32Array, w: number, h: number, outW: number, outH: number): Float32Array {
  const out = new Float32Array(outW * outH);
  const sx = w / outW;
  const sy = h / outH;
  for (let oy = 0; oy < outH; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < outW; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      let sum = 0;
      for (let y = Math.floor(y0); y < Math.min(h, Math.ceil(y1)); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.min(w, Math.ceil(x1)); x++) {
          const wx = Math.min(x + 1, x1) - Math.max(x, x0);
          sum += src[y * w + x] * wx * wy;
        }
      }
      out[oy * outW + ox] = sum / (sx * sy);
    }
  }
  return out;
}

/** MNIST's preparation into an H x W field (28 x 28 for MNIST; the box scales with it). */
function prepareMnist(p: Pixels, H: number, W: number): Float32Array {
  const { width: w, height: h } = p;
  const g = toGrey(p);
  // Polarity and background level from the border: ink must come out light on black.
  const bg = median(borderValues(g, w, h));
  const invert = bg > 0.5;
  const level = invert ? 1 - bg : bg;
  const ink = new Float32Array(w * h);
  let max = 0;
  for (let i = 0; i < ink.length; i++) {
    const v = invert ? 1 - g[i] : g[i];
    ink[i] = Math.max(0, (v - level) / Math.max(1 - level, 1e-6));
    max = Math.max(max, ink[i]);
  }
  // Crop to the ink: pixels above a tenth of the strongest (paper texture and JPEG noise stay out).
  const threshold = 0.1 * max;
  let left = w;
  let right = -1;
  let top = h;
  let bottom = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (max > 0 && ink[y * w + x] > threshold) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  const out = new Float32Array(H * W);
  if (right < 0) return out; // a blank picture stays blank
  const cw = right - left + 1;
  const ch = bottom - top + 1;
  const crop = new Float32Array(cw * ch);
  // The strongest ink becomes full intensity, as in MNIST's bilevel originals (a pencil is not faint).
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) crop[y * cw + x] = ink[(top + y) * w + left + x] / max;
  // Size-normalise into the 20x20 box (of a 28x28 field), keeping the aspect ratio.
  const box = Math.max(1, Math.round((20 / 28) * Math.min(H, W)));
  const scale = box / Math.max(cw, ch);
  const bw = Math.max(1, Math.round(cw * scale));
  const bh = Math.max(1, Math.round(ch * scale));
  const small = resampleArea(crop, cw, ch, bw, bh);
  // Centre of mass (pixel centres at i + 0.5) onto the field's centre.
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      const v = small[y * bw + x];
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const ox = Math.round(W / 2 - (m > 0 ? mx / m : bw / 2));
  const oy = Math.round(H / 2 - (m > 0 ? my / m : bh / 2));
  for (let y = 0; y < bh; y++) {
    const ty = y + oy;
    if (ty < 0 || ty >= H) continue;
    for (let x = 0; x < bw; x++) {
      const tx = x + ox;
      if (tx >= 0 && tx < W) out[ty * W + tx] = small[y * bw + x];
    }
  }
  return out;
}

/** ImageMagick's sharpen (radius 1, sigma 1): a negated 3x3 Gaussian with a boosted, normalised centre. */
function sharpen(src: Float32Array, w: number, h: number): Float32Array {
  const k: number[] = [];
  for (let v = -1; v <= 1; v++) for (let u = -1; u <= 1; u++) k.push(-Math.exp(-(u * u + v * v) / 2));
  const sum = k.reduce((a, b) => a + b, 0);
  k[4] = -2 * sum;
  const norm = k.reduce((a, b) => a + b, 0);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let v = -1; v <= 1; v++) {
        for (let u = -1; u <= 1; u++) {
          const yy = Math.min(h - 1, Math.max(0, y + v));
          const xx = Math.min(w - 1, Math.max(0, x + u));
          s += k[(v + 1) * 3 + u + 1] * src[yy * w + xx];
        }
      }
      out[y * w + x] = Math.min(1, Math.max(0, s / norm));
    }
  }
  return out;
}

/** Fashion-MNIST's conversion into an H x W field. */
function prepareFashion(p: Pixels, H: number, W: number): Float32Array {
  const { width: w, height: h, channels: c } = p;
  const rgb = (i: number, k: number) => p.data[i * c + (c < 3 ? 0 : k)] / 255;
  // Trim: rows and columns at the edges whose every pixel is within 5% of the corner colour.
  const close = (i: number) => Math.hypot(rgb(i, 0) - rgb(0, 0), rgb(i, 1) - rgb(0, 1), rgb(i, 2) - rgb(0, 2)) / Math.sqrt(3) <= 0.05;
  const rowBg = (y: number) => Array.from({ length: w }, (_, x) => close(y * w + x)).every(Boolean);
  const colBg = (x: number, y0: number, y1: number) => Array.from({ length: y1 - y0 + 1 }, (_, k) => close((y0 + k) * w + x)).every(Boolean);
  let top = 0;
  let bottom = h - 1;
  while (top < bottom && rowBg(top)) top++;
  while (bottom > top && rowBg(bottom)) bottom--;
  let left = 0;
  let right = w - 1;
  while (left < right && colBg(left, top, bottom)) left++;
  while (right > left && colBg(right, top, bottom)) right--;
  const cw = right - left + 1;
  const ch = bottom - top + 1;
  const g = toGrey(p);
  // Longest edge to the field by subsampling (nearest source pixel; rows and columns skipped).
  const scale = Math.min(H, W) / Math.max(cw, ch);
  const bw = Math.max(1, Math.min(W, Math.round(cw * scale)));
  const bh = Math.max(1, Math.min(H, Math.round(ch * scale)));
  const small = new Float32Array(bw * bh);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      const sy = top + Math.min(ch - 1, Math.floor((y + 0.5) / scale));
      const sx = left + Math.min(cw - 1, Math.floor((x + 0.5) / scale));
      small[y * bw + x] = g[sy * w + sx];
    }
  }
  const sharp = sharpen(small, bw, bh);
  // Extend the shorter edge with the background, centred; negate a light background.
  const corner = g[0];
  const negate = corner > 0.5;
  const out = new Float32Array(H * W).fill(negate ? 1 - corner : corner);
  const ox = Math.floor((W - bw) / 2);
  const oy = Math.floor((H - bh) / 2);
  for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) out[(y + oy) * W + x + ox] = negate ? 1 - sharp[y * bw + x] : sharp[y * bw + x];
  // 8-bit grey, as the data set stores it.
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, out[i])) * 255) / 255;
  return out;
}

/** A picture prepared by `recipe` ('mnist' or 'fashion-mnist') into a grey H x W image in [0, 1]. */
export function prepareImage(p: Pixels, recipe: Exclude<Recipe, 'resize'>, height: number, width: number): Float32Array {
  return recipe === 'mnist' ? prepareMnist(p, height, width) : prepareFashion(p, height, width);
}
