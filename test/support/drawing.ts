/** A hand-drawn-looking digit for tests: thick dark strokes on a light, large canvas, off-centre. */
import sharp from 'sharp';

/** A "7" as an SVG path, drawn dark on light at (x, y) on a width x height canvas. */
export function sevenSvg(width = 300, height = 220, x = 40, y = 30): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <rect width="100%" height="100%" fill="#f4f1ea"/>
  <path d="M ${x} ${y} L ${x + 90} ${y} L ${x + 40} ${y + 150}" fill="none" stroke="#1d1d1f" stroke-width="16" stroke-linecap="round" stroke-linejoin="round"/>
</svg>`;
}

export async function writeDrawing(file: string): Promise<void> {
  await sharp(Buffer.from(sevenSvg())).png().toFile(file);
}
