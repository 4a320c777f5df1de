/**
 * A few training steps of a small config through the real step (train/vae-step.ts) on whatever
 * backend is selected, for comparing backends on the same weights, batches and noise: the
 * statistics of each step, the weights after them, and how many tensors the steps after the first
 * left behind (the first makes the optimiser's moments and cached constants).
 */
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { Adam } from '../../src/train/adam.js';
import type { Config } from '../../src/config/schema.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { createVaeForConfig } from '../../src/train/model-from-config.js';
import { makeVaeTask } from '../../src/train/vae-step.js';

export interface TaskRun {
  stats: number[][];
  params: Record<string, number[]>;
  leaked: number;
}

export async function runTaskSteps(cfg: Config, set: ImageSet, steps = 4): Promise<TaskRun> {
  const vae = createVaeForConfig(cfg, set);
  const adam = new Adam({ learningRate: 1e-2 });
  const task = makeVaeTask(vae, adam, set, cfg, Rng.derive(1, 'eps'));
  const stats: number[][] = [];
  let afterFirst = 0;
  for (let i = 0; i < steps; i++) {
    const r = await task.step(0, i % task.stepsInEpoch(0));
    stats.push(Array.from(await r.stats.data()));
    r.stats.dispose();
    if (i === 0) afterFirst = tf.memory().numTensors;
  }
  const leaked = tf.memory().numTensors - afterFirst;
  const params: Record<string, number[]> = {};
  for (const [name, v] of vae.params) params[name] = Array.from(await v.data());
  adam.dispose();
  for (const v of vae.params.values()) v.dispose();
  return { stats, params, leaked };
}
