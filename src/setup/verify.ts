/**
 * The last step of setup: load the backend as `vae` will, and run one training step of a tiny
 * VAE (loss and every gradient) on it and on the cpu backend from the same weights, batch and
 * noise. They must agree to float32 rounding.
 */
import { tf } from '../tf.js';
import { loadTensorflow } from '../backend/tensorflow.js';
import { createVae, type VaeSpec } from '../model/vae.js';
import { PLAIN_ELBO, trainingObjective } from '../model/objective.js';
import { Rng } from '../random.js';
import { RuntimeFailure } from '../errors.js';

const SPEC: VaeSpec = { arch: 'mlp', inputDim: 16, hidden: [12], latentDim: 3, activation: 'relu', likelihood: 'bernoulli' };

async function step(): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const vae = createVae(SPEC, Rng.derive(5, 'init'));
  const rng = Rng.derive(5, 'data');
  const x = tf.tensor2d(Float32Array.from({ length: 8 * 16 }, () => (rng.uniform() < 0.4 ? 1 : 0)), [8, 16]);
  const eps = tf.tensor2d(rng.fillNormal(new Float32Array(8 * 3)), [8, 3]);
  const { value, grads } = tf.variableGrads(() => trainingObjective(vae, x, eps, PLAIN_ELBO).loss);
  const out = new Map<string, Float32Array>();
  // keyed by parameter name: tfjs names variables with a global counter
  for (const [name, v] of vae.params) if (grads[v.name]) out.set(name, (await grads[v.name].data()) as Float32Array);
  const loss = (await value.data())[0];
  tf.dispose([x, eps, value, ...Object.values(grads), ...vae.params.values()]);
  return { loss, grads: out };
}

export interface Verified {
  device: string;
  loss: number;
  /** the largest difference from cpu, relative to max(1, |value|), over the loss and all gradients */
  maxDiff: number;
}

export async function verifyTensorflow(): Promise<Verified> {
  const before = tf.getBackend();
  await tf.setBackend('cpu');
  const cpu = await step();
  const device = await loadTensorflow({ verifying: true });
  const got = await step();
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(a));
  let maxDiff = rel(cpu.loss, got.loss);
  for (const [name, g] of cpu.grads) {
    const h = got.grads.get(name);
    if (!h) throw new RuntimeFailure(`verification: no gradient for ${name} on tensorflow`);
    for (let i = 0; i < g.length; i++) maxDiff = Math.max(maxDiff, rel(g[i], h[i]));
  }
  if (!Number.isFinite(got.loss) || !(maxDiff < 1e-4)) {
    throw new RuntimeFailure(`verification: a training step on tensorflow differs from cpu (loss ${got.loss} vs ${cpu.loss}, largest difference ${maxDiff})`);
  }
  if (before) await tf.setBackend(before);
  return { device, loss: got.loss, maxDiff };
}
