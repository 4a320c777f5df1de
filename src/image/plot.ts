/**
 * Small charts drawn as SVG and rendered to PNG by sharp (no browser): line charts for the
 * training curves and a scatter plot of latent codes.
 */
import sharp from 'sharp';

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  // From the last tick at or below lo to the first at or above hi, so the data always fits.
  const ticks: number[] = [];
  const end = Math.ceil(hi / step - 1e-9) * step;
  for (let v = Math.floor(lo / step + 1e-9) * step; v <= end + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function fmtTick(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

interface Frame {
  x: number;
  y: number;
  w: number;
  h: number;
}

function axes(f: Frame, xr: [number, number], yr: [number, number], xTicks: number[], yTicks: number[], xLabel: string, title: string): { svg: string; sx: (v: number) => number; sy: (v: number) => number } {
  const sx = (v: number) => f.x + ((v - xr[0]) / (xr[1] - xr[0] || 1)) * f.w;
  const sy = (v: number) => f.y + f.h - ((v - yr[0]) / (yr[1] - yr[0] || 1)) * f.h;
  let svg = `<rect x="${f.x}" y="${f.y}" width="${f.w}" height="${f.h}" fill="none" stroke="#444"/>`;
  for (const t of yTicks) {
    svg += `<line x1="${f.x}" x2="${f.x + f.w}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>`;
    svg += `<text x="${f.x - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmtTick(t)}</text>`;
  }
  for (const t of xTicks) {
    svg += `<line x1="${sx(t)}" x2="${sx(t)}" y1="${f.y + f.h}" y2="${f.y + f.h + 4}" stroke="#444"/>`;
    svg += `<text x="${sx(t)}" y="${f.y + f.h + 17}" text-anchor="middle" font-size="11">${fmtTick(t)}</text>`;
  }
  svg += `<text x="${f.x + f.w / 2}" y="${f.y + f.h + 34}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`;
  svg += `<text x="${f.x + f.w / 2}" y="${f.y - 10}" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`;
  return { svg, sx, sy };
}

export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  series: Series[];
}

function svgDoc(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif"><rect width="100%" height="100%" fill="white"/>${body}</svg>`;
}

/** Side-by-side line charts, each with its own y axis and a legend. */
export function lineChartsSvg(panels: Panel[], opts: { panelWidth?: number; height?: number } = {}): string {
  const pw = opts.panelWidth ?? 320;
  const height = opts.height ?? 300;
  let body = '';
  panels.forEach((p, i) => {
    const f: Frame = { x: i * pw + 58, y: 34, w: pw - 78, h: height - 110 };
    const xs = p.series.flatMap((s) => s.points.map(([x]) => x));
    const ys = p.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
    const xr: [number, number] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
    if (xr[0] === xr[1]) xr[1] = xr[0] + 1;
    const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
    const yr: [number, number] = [yt[0], yt[yt.length - 1]];
    const xt = niceTicks(xr[0], xr[1], Math.min(6, Math.max(1, xr[1] - xr[0]))).filter((t) => Number.isInteger(t));
    const a = axes(f, xr, yr, xt, yt, p.xLabel, p.title);
    body += a.svg;
    p.series.forEach((s, k) => {
      const pts = s.points.filter(([, y]) => Number.isFinite(y));
      if (pts.length) {
        body += `<polyline fill="none" stroke="${s.color}" stroke-width="2" ${s.dashed ? 'stroke-dasharray="6,4"' : ''} points="${pts.map(([x, y]) => `${a.sx(x).toFixed(1)},${a.sy(y).toFixed(1)}`).join(' ')}"/>`;
        for (const [x, y] of pts) body += `<circle cx="${a.sx(x).toFixed(1)}" cy="${a.sy(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`;
      }
      const ly = height - 12;
      const lx = f.x + (k % 2) * (f.w / 2);
      body += `<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2" ${s.dashed ? 'stroke-dasharray="6,4"' : ''}/>`;
      body += `<text x="${lx + 28}" y="${ly}" font-size="12">${esc(s.name)}</text>`;
    });
  });
  return svgDoc(panels.length * pw, height, body);
}

/** A scatter plot of 2-D points coloured by integer label, with a legend. */
export function scatterSvg(points: [number, number][], labels: (number | null)[], opts: { title: string; xLabel: string; yLabel: string; size?: number }): string {
  const size = opts.size ?? 560;
  const f: Frame = { x: 60, y: 34, w: size - 160, h: size - 100 };
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const xt = niceTicks(Math.min(...xs), Math.max(...xs));
  const yt = niceTicks(Math.min(...ys), Math.max(...ys));
  const a = axes(f, [xt[0], xt[xt.length - 1]], [yt[0], yt[yt.length - 1]], xt, yt, opts.xLabel, opts.title);
  let body = a.svg;
  body += `<text transform="translate(16 ${f.y + f.h / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(opts.yLabel)}</text>`;
  points.forEach(([x, y], i) => {
    const l = labels[i];
    body += `<circle cx="${a.sx(x).toFixed(1)}" cy="${a.sy(y).toFixed(1)}" r="2.2" fill="${l === null ? '#555' : PALETTE[l % PALETTE.length]}" fill-opacity="0.7"/>`;
  });
  const present = [...new Set(labels.filter((l): l is number => l !== null))].sort((p, q) => p - q);
  present.forEach((l, k) => {
    const y = f.y + 10 + k * 20;
    body += `<circle cx="${f.x + f.w + 24}" cy="${y - 4}" r="5" fill="${PALETTE[l % PALETTE.length]}"/><text x="${f.x + f.w + 36}" y="${y}" font-size="12">${l}</text>`;
  });
  if (present.length) body += `<text x="${f.x + f.w + 18}" y="${f.y - 8}" font-size="12" font-weight="bold">label</text>`;
  return svgDoc(size, size, body);
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}
