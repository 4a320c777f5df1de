/**
 * Where a training step's time goes on one backend: per-kernel wall time (tf.profile), kernels
 * per step, and the JavaScript-side parts (batch filling + binarisation, noise, upload).
 *   node --import tsx bench/profile-step.ts [backend] [steps]
 */
import { tf } from '../src/tf.js';
import { Rng } from '../src/random.js';
import { loadConfig } from '../src/config/load.js';
import { loadSplits } from '../src/data/load.js';
import { selectBackend, parseBackendName } from '../src/backend/index.js';
import { createVae } from '../src/model/vae.js';
import { PLAIN_ELBO, trainingObjective } from '../src/model/objective.js';
import { Adam } from '../src/train/adam.js';
import { makeVaeTask } from '../src/train/vae-step.js';
import { specFromConfig } from '../src/train/model-from-config.js';
import { EpochBatches } from '../src/data/batches.js';

const backend = parseBackendName(process.argv[2] ?? 'wasm');
const steps = Number(process.argv[3] ?? 20);
const report = await selectBackend(backend);
console.error(`${report.name}: ${report.device}`);
const cfg = loadConfig({ config: 'mnist.json', set: [] }).config;
const train = (await loadSplits(cfg.data, ['train'])).train;
const vae = createVae(specFromConfig(cfg, train), Rng.derive(0, 'init'));
const adam = new Adam({ learningRate: cfg.train.learningRate });
const task = makeVaeTask(vae, adam, train, cfg, Rng.derive(0, 'eps'));
for (let i = 0; i < 5; i++) (await task.step(0, i)).stats.dispose();

// per-kernel time, summed over `steps` profiled steps
const byKernel = new Map<string, { n: number; ms: number }>();
let kernels = 0;
let total = 0;
for (let s = 0; s < steps; s++) {
  const t0 = performance.now();
  const prof = await tf.profile(async () => (await task.step(0, 5 + s)).stats.dispose());
  total += performance.now() - t0;
  kernels = prof.kernels.length;
  for (const k of prof.kernels) {
    const e = byKernel.get(k.name) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += k.kernelTimeMs as number;
    byKernel.set(k.name, e);
  }
}
const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
let kernelMs = 0;
for (const [, e] of rows) kernelMs += e.ms;
console.log(`kernels/step ${kernels}; kernel time ${(kernelMs / steps).toFixed(2)} ms/step of ${(total / steps).toFixed(2)} ms/step profiled`);
for (const [name, e] of rows) console.log(`${name.padEnd(22)} ${String(e.n / steps).padStart(5)}/step ${(e.ms / steps).toFixed(3).padStart(8)} ms/step`);

// the JavaScript-side parts, unprofiled
const B = cfg.train.batchSize;
const batches = new EpochBatches(train, B, 'dynamic', 0, 0);
let t0 = performance.now();
for (let i = 0; i < steps; i++) batches.batch(i);
console.log(`batch fill + dynamic binarisation: ${((performance.now() - t0) / steps).toFixed(2)} ms/step`);
const eps = new Float32Array(B * 20);
const rng = Rng.derive(0, 'x');
t0 = performance.now();
for (let i = 0; i < steps; i++) rng.fillNormal(eps);
console.log(`noise: ${((performance.now() - t0) / steps).toFixed(3)} ms/step`);
const { x } = batches.batch(0);
t0 = performance.now();
for (let i = 0; i < steps; i++) tf.tensor2d(x, [B, 784]).dispose();
console.log(`upload x: ${((performance.now() - t0) / steps).toFixed(3)} ms/step`);
// forward only, forward+backward, adam
const xT = tf.tensor2d(x, [B, 784]);
const eT = tf.tensor2d(eps, [B, 20]);
const varList = [...vae.params.values()];
const time = (label: string, f: () => void) => {
  for (let i = 0; i < 3; i++) f();
  const t = performance.now();
  for (let i = 0; i < steps; i++) f();
  console.log(`${label}: ${((performance.now() - t) / steps).toFixed(2)} ms`);
};
time('forward (loss)', () => tf.tidy(() => { trainingObjective(vae, xT, eT, PLAIN_ELBO).loss.dataSync(); }));
let grads: Map<string, tf.Tensor> = new Map();
time('forward+backward', () => {
  const { value, grads: g } = tf.variableGrads(() => trainingObjective(vae, xT, eT, PLAIN_ELBO).loss, varList);
  value.dispose();
  tf.dispose(Object.values(g));
});
{
  const { value, grads: g } = tf.variableGrads(() => trainingObjective(vae, xT, eT, PLAIN_ELBO).loss, varList);
  value.dispose();
  const ours = new Map([...vae.params].map(([n, v]) => [v.name, n]));
  grads = new Map(Object.entries(g).map(([k, t]) => [ours.get(k)!, t]));
}
time('adam.apply', () => adam.apply(vae.params, grads));
time('full task.step', (() => { let i = 100; return () => void (task.step(0, i++) as { stats: tf.Tensor }).stats.dispose(); })());
