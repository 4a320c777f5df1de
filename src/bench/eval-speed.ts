/**
 * `vae bench --eval`: the speed of `vae eval`'s importance sampler, in decoder rows per second
 * (one row is one sample z_k of one example pushed through the decoder and the likelihood; L_K
 * of n examples costs n x K rows). Each path is timed on the same examples: the fused Bernoulli
 * log-likelihood (what `vae eval` uses on binarised data) and the objective module's general
 * formula. Wall time and the process's CPU time are both reported: on a shared machine rows per
 * CPU-second is the steadier figure.
 */
import { evaluateSplit } from '../eval/elbo.js';
import type { ImageSet } from '../data/dataset.js';
import type { Vae } from '../model/vae.js';

export interface EvalSpeed {
  path: 'fused' | 'general';
  samples: number;
  examples: number;
  rows: number;
  seconds: number;
  cpuSeconds: number;
  rowsPerSec: number;
  rowsPerCpuSec: number;
}

/** Time L_K with K = samples on every example of `set`, once per path, after a short warm-up. */
export async function benchEvalSampler(
  vae: Vae,
  set: ImageSet,
  opts: { samples: number; binarize: boolean; paths: ('fused' | 'general')[]; onProgress?: (path: string, done: number, total: number) => void },
): Promise<EvalSpeed[]> {
  const out: EvalSpeed[] = [];
  for (const path of opts.paths) {
    const fused = path === 'fused';
    const warm: ImageSet = { ...set, n: Math.min(set.n, 2) };
    await evaluateSplit(vae, warm, { seed: 0, binarize: opts.binarize, samples: Math.min(opts.samples, 500), fused });
    opts.onProgress?.(path, 0, set.n);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await evaluateSplit(vae, set, { seed: 0, binarize: opts.binarize, samples: opts.samples, fused, onProgress: (done) => opts.onProgress?.(path, done, set.n) });
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const cpuSeconds = (c.user + c.system) / 1e6;
    const rows = set.n * opts.samples;
    out.push({ path, samples: opts.samples, examples: set.n, rows, seconds, cpuSeconds, rowsPerSec: rows / seconds, rowsPerCpuSec: rows / cpuSeconds });
  }
  return out;
}
