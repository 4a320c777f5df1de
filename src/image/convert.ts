/**
 * Re-encoding a finished PNG picture in the format its file name asks for (sharp writes them all).
 */
import sharp from 'sharp';

export type StillFormat = 'png' | 'jpeg' | 'webp';

/** The PNG itself, or the same pixels as JPEG (quality 95) or lossless WebP. */
export async function convertStill(png: Buffer, format: StillFormat): Promise<Buffer> {
  if (format === 'png') return png;
  const img = sharp(png);
  return format === 'jpeg' ? img.jpeg({ quality: 95 }).toBuffer() : img.webp({ lossless: true }).toBuffer();
}
