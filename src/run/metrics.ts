/** metrics.jsonl: one JSON object per finished epoch, rewritten atomically each epoch (never appended to). */
import fs from 'node:fs';
import path from 'node:path';
import { VaeError } from '../errors.js';
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

/**
 * The epochs recorded in a run, 1 to `upToEpoch` (the checkpoint's epoch; a record after it, from
 * an epoch whose checkpoint was not written, is dropped). vae replaces metrics.jsonl whole and
 * atomically every epoch, never appends to it, so no crash leaves a torn line: a line that does
 * not parse, at the end or in the middle, or records that do not run 1, 2, ... up to the
 * checkpoint's epoch, mean the file was damaged or edited, and resuming would rewrite the
 * history from a guess. That is refused, naming the file and line. A missing file is no records
 * (deleting it is how to resume without the earlier epochs' records).
 */
export function readMetrics(dir: string, upToEpoch: number): EpochMetrics[] {
  const file = path.join(dir, 'metrics.jsonl');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new VaeError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const damaged = (what: string) =>
    new VaeError(`${file} is damaged or was edited: ${what}`, { hint: 'restore it from a copy, or delete it to resume without the earlier epochs\' records' });
  const out: EpochMetrics[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    let m: EpochMetrics;
    try {
      m = JSON.parse(lines[i]) as EpochMetrics;
    } catch (err) {
      throw damaged(`line ${i + 1} is not valid JSON (${(err as Error).message})`);
    }
    if (m === null || typeof m !== 'object' || !Number.isInteger(m.epoch) || !m.train || typeof m.train !== 'object') throw damaged(`line ${i + 1} is not an epoch's record`);
    if (m.epoch <= upToEpoch) out.push(m);
  }
  const epochs = out.map((m) => m.epoch);
  if (epochs.length !== upToEpoch || epochs.some((e, i) => e !== i + 1)) {
    const held = epochs.length ? `epoch${epochs.length > 1 ? 's' : ''} ${epochs.join(', ')}` : 'no epoch';
    throw damaged(`it records ${held}, but the checkpoint is at epoch ${upToEpoch}, so it should record ${upToEpoch === 1 ? 'epoch 1' : `epochs 1 to ${upToEpoch}`}`);
  }
  return out;
}

export function writeMetrics(dir: string, metrics: EpochMetrics[]): void {
  writeFileAtomic(path.join(dir, 'metrics.jsonl'), metrics.map((x) => JSON.stringify(x)).join('\n') + '\n');
}
