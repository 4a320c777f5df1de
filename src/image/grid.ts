/**
 * Images in [0, 1] to a PNG grid (sharp). Images are rows of H*W*C floats, channels last.
 */
import sharp from 'sharp';

// libvips caches operations (up to 50 MB by default) for reuse; we never repeat one, so the
// cache only makes a long training run's memory creep. Turn it off.
sharp.cache(false);

export interface GridOptions {
  cols?: number;
  /** pixels between tiles (before scaling) */
  padding?: number;
  /** integer upscaling with crisp (nearest-neighbour) pixels */
  scale?: number;
  /** padding intensity in [0, 1] */
  padValue?: number;
}

export function gridLayout(n: number, cols?: number): { rows: number; cols: number } {
  const c = Math.max(1, Math.min(n, cols ?? Math.ceil(Math.sqrt(n))));
  return { rows: Math.max(1, Math.ceil(n / c)), cols: c };
}

/** The raw pixels of the grid (uint8, channels last) and its size. */
export function gridPixels(
  images: Float32Array,
  n: number,
  shape: readonly [number, number, number],
  opts: GridOptions = {},
): { data: Uint8Array; width: number; height: number; channels: number } {
  const [h, w, c] = shape;
  const pad = opts.padding ?? 2;
  const scale = Math.max(1, Math.floor(opts.scale ?? 1));
  const { rows, cols } = gridLayout(n, opts.cols);
  const width = (cols * w + (cols + 1) * pad) * scale;
  const height = (rows * h + (rows + 1) * pad) * scale;
  const data = new Uint8Array(width * height * c).fill(Math.round((opts.padValue ?? 1) * 255));
  const tile = h * w * c;
  for (let i = 0; i < n; i++) {
    const r0 = Math.floor(i / cols);
    const c0 = i % cols;
    const top = pad + r0 * (h + pad);
    const left = pad + c0 * (w + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          const v = images[i * tile + (y * w + x) * c + ch];
          const byte = Math.round(Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * 255);
          for (let sy = 0; sy < scale; sy++) {
            const row = ((top + y) * scale + sy) * width;
            for (let sx = 0; sx < scale; sx++) data[(row + (left + x) * scale + sx) * c + ch] = byte;
          }
        }
      }
    }
  }
  return { data, width, height, channels: c };
}

export async function gridPng(
  images: Float32Array,
  n: number,
  shape: readonly [number, number, number],
  opts: GridOptions = {},
): Promise<Buffer> {
  const g = gridPixels(images, n, shape, opts);
  return sharp(Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength), {
    raw: { width: g.width, height: g.height, channels: g.channels as 1 | 3 | 4 },
  })
    .toColourspace(g.channels === 1 ? 'b-w' : 'srgb')
    .png({ compressionLevel: 9 })
    .toBuffer();
}

/** Frames (each a grid of the same layout) as an animated GIF or WebP that loops forever. */
export async function gridAnimation(
  frames: Float32Array[],
  n: number,
  shape: readonly [number, number, number],
  opts: GridOptions & { format: 'gif' | 'webp'; delayMs?: number },
): Promise<Buffer> {
  const pages = frames.map((f) => gridPixels(f, n, shape, opts));
  const { width, height } = pages[0];
  // sharp's animated output wants RGB(A); grey frames are widened to RGB.
  const rgb = Buffer.alloc(width * height * 3 * pages.length);
  pages.forEach((pg, k) => {
    for (let i = 0; i < width * height; i++) {
      for (let ch = 0; ch < 3; ch++) rgb[(k * width * height + i) * 3 + ch] = pg.data[i * pg.channels + Math.min(ch, pg.channels - 1)];
    }
  });
  const img = sharp(rgb, { raw: { width, height: height * pages.length, channels: 3, pageHeight: height } });
  const delay = pages.map(() => opts.delayMs ?? 120); // one per frame
  return opts.format === 'gif' ? img.gif({ delay, loop: 0 }).toBuffer() : img.webp({ delay, loop: 0, lossless: true }).toBuffer();
}

/**
 * Tiles for "inputs above reconstructions": rows of `cols` inputs, each followed by the row of
 * their reconstructions. Returns the tiles and their count (a multiple of 2 * cols).
 */
export function pairRows(inputs: Float32Array, outputs: Float32Array, n: number, d: number, cols: number): { tiles: Float32Array; count: number } {
  const rows = Math.ceil(n / cols);
  const tiles = new Float32Array(rows * 2 * cols * d);
  for (let i = 0; i < n; i++) {
    const r = Math.floor(i / cols);
    const c = i % cols;
    tiles.set(inputs.subarray(i * d, (i + 1) * d), (2 * r * cols + c) * d);
    tiles.set(outputs.subarray(i * d, (i + 1) * d), ((2 * r + 1) * cols + c) * d);
  }
  // Empty slots of a short last pair of rows stay 0 (black), like an empty tile.
  return { tiles, count: rows * 2 * cols };
}
