/** The pictures a run draws each epoch: prior samples, reconstructions, and the learning curves. */
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../tf.js';
import { dimOf, type ImageSet } from '../data/dataset.js';
import { evalRows } from '../data/batches.js';
import { EVAL_SEED } from '../model/eval-protocol.js';
import { decodeMean, type Vae } from '../model/vae.js';
import { decodeArrays, encodeArrays } from '../model/arrays.js';
import { gridPng, pairRows } from '../image/grid.js';
import { lineChartsSvg, PALETTE, svgToPng } from '../image/plot.js';
import type { EpochMetrics } from '../run/metrics.js';
import { writeFileAtomic } from '../util/atomic.js';

/** The preview PNGs: decoder means for fixed prior draws, and inputs above reconstructions. */
export async function writePreviews(vae: Vae, dir: string, epoch: number, fixedZ: Float32Array, reconSet: ImageSet, binarize: boolean): Promise<void> {
  const J = vae.spec.latentDim;
  const n = fixedZ.length / J;
  const shape = reconSet.shape;
  const tag = `epoch-${String(epoch + 1).padStart(3, '0')}.png`;
  const means = tf.tidy(() => decodeMean(vae, tf.tensor2d(fixedZ, [n, J])));
  const pixels = (await means.data()) as Float32Array;
  means.dispose();
  fs.mkdirSync(path.join(dir, 'samples'), { recursive: true });
  writeFileAtomic(path.join(dir, 'samples', tag), await gridPng(pixels, n, shape, { cols: Math.ceil(Math.sqrt(n)), scale: 2 }));

  const m = Math.min(16, reconSet.n);
  if (m === 0) return;
  const cols = Math.min(8, m);
  const xs = evalRows(reconSet, 0, m, binarize, EVAL_SEED);
  const { mu } = await encodeArrays(vae, xs, m);
  const { tiles, count } = pairRows(xs, await decodeArrays(vae, mu, m), m, dimOf(reconSet), cols);
  fs.mkdirSync(path.join(dir, 'recon'), { recursive: true });
  writeFileAtomic(path.join(dir, 'recon', tag), await gridPng(tiles, count, shape, { cols, scale: 2 }));
}

/** curves.png: ELBO, reconstruction and KL per epoch, train and validation. */
export async function writeCurves(dir: string, metrics: EpochMetrics[]): Promise<void> {
  const series = (key: 'elbo' | 'recon' | 'kl') => [
    { name: 'train', color: PALETTE[0], points: metrics.map((m) => [m.epoch, m.train[key]] as [number, number]) },
    ...(metrics.some((m) => m.val)
      ? [{ name: 'validation', color: PALETTE[1], dashed: true, points: metrics.filter((m) => m.val).map((m) => [m.epoch, m.val![key]] as [number, number]) }]
      : []),
  ];
  const svg = lineChartsSvg([
    { title: 'ELBO (nats)', xLabel: 'epoch', series: series('elbo') },
    { title: 'reconstruction E[log p(x|z)]', xLabel: 'epoch', series: series('recon') },
    { title: 'KL(q(z|x) || p(z))', xLabel: 'epoch', series: series('kl') },
  ]);
  writeFileAtomic(path.join(dir, 'curves.png'), await svgToPng(svg));
}
