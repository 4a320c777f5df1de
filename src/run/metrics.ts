/** metrics.jsonl: one JSON object per finished epoch, rewritten atomically each epoch. */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';

/** The ELBO of a split: what validation records each epoch and `vae eval` starts from. */
export interface ElboResult {
  n: number;
  /** mean E_q[log p(x|z)] (nats) */
  recon: number;
  /** mean KL(q(z|x) || p(z)) (nats) */
  kl: number;
  /** mean ELBO = recon - kl (nats) */
  elbo: number;
}

export interface EpochMetrics {
  epoch: number;
  step: number;
  /**
   * training means over the epoch (nats per example): elbo = recon - kl with the raw KL;
   * klWeighted is the KL term as the loss used it (beta, warm-up, free bits); objective is what
   * training maximised (recon - klWeighted, or L_k with iwSamples > 1); loss = -objective.
   */
  train: { elbo: number; recon: number; kl: number; klWeighted: number; objective: number; loss: number; gradNorm?: number };
  /** the learning rate and KL weight at the epoch's last step */
  lr: number;
  klWeight: number;
  val: ElboResult | null;
  seconds: number;
  examplesPerSec: number;
  time: string;
}

/** The epochs recorded in a run, up to and including `upToEpoch` (1-based). */
export function readMetrics(dir: string, upToEpoch: number): EpochMetrics[] {
  let text = '';
  try {
    text = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EpochMetrics)
    .filter((m) => m.epoch <= upToEpoch);
}

export function writeMetrics(dir: string, metrics: EpochMetrics[]): void {
  writeFileAtomic(path.join(dir, 'metrics.jsonl'), metrics.map((x) => JSON.stringify(x)).join('\n') + '\n');
}
