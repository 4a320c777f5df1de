/** A run folder holding an untrained model of any spec (as `vae train` writes one), for export tests. */
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { createVae, type Vae, type VaeSpec } from '../../src/model/vae.js';
import { saveRunCheckpoint, writeRunJson } from '../../src/run/run.js';
import { ensureDir } from '../../src/util/atomic.js';

/**
 * Write a run with a freshly initialised model into dir. Batch-norm statistics and scales, and a
 * learned sigma, get random values (not their initial 0 / 1) so that the export must carry them.
 */
export async function fakeRun(dir: string, spec: VaeSpec, seed = 1): Promise<Vae> {
  const vae = createVae(spec, Rng.derive(seed, 'init'));
  const rng = Rng.derive(seed, 'perturb');
  for (const [name, v] of vae.params) {
    if (!/\.bn\.|likelihood\./.test(name)) continue;
    const values = new Float32Array(v.size).map(() => (name.endsWith('runningVar') ? 0.5 + rng.uniform() : name.includes('likelihood') ? -2 + rng.uniform() : rng.uniform() - 0.5));
    tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
  }
  ensureDir(dir);
  // the config's model keys as vae train writes them (commands check them against the checkpoint)
  const model = { arch: spec.arch, hidden: spec.hidden, latentDim: spec.latentDim, activation: spec.activation, likelihood: spec.likelihood, ...(spec.sigma !== undefined ? { sigma: spec.sigma } : {}), ...(spec.arch === 'conv' ? { convChannels: spec.convChannels, kernelSize: spec.kernelSize, batchNorm: spec.batchNorm } : {}) };
  writeRunJson(dir, 'config.json', { description: `an untrained ${spec.arch} for tests`, data: { dataset: 'mnist' }, model });
  const shape = spec.inputShape ?? [spec.inputDim, 1, 1];
  await saveRunCheckpoint(dir, vae, null, { epoch: 3, step: 30, dataShape: shape, rng: null, partial: null, best: null });
  return vae;
}
