/**
 * What one training step of configs/mnist.json sends between CPU and GPU on webgpu: uploads,
 * uniform writes, submits, readbacks, dispatches, and which kernels run. Hardware-independent
 * counts, so they can be taken on a software adapter (SwiftShader) too:
 *   VK_ICD_FILENAMES=$PWD/.cache/software-vulkan/icd.json npx tsx bench/webgpu-traffic.ts [batch]
 */
import { tf } from '../src/tf.js';
import { loadWebgpu, gpuCounters, gpuCountersPerStep } from '../src/backend/webgpu.js';
import { loadConfig } from '../src/config/load.js';
import { loadSplits } from '../src/data/load.js';
import { Adam } from '../src/train/adam.js';
import { createVaeForConfig, makeVaeTask } from '../src/train/train-vae.js';
import { Rng } from '../src/random.js';

const batch = Number(process.argv[2] ?? 128);
const adapter = await loadWebgpu({ requireHardware: false });
const { config: cfg } = loadConfig({ config: 'configs/mnist.json', set: [`train.batchSize=${batch}`, 'data.limit=2048'] });
const train = (await loadSplits(cfg.data, ['train'])).train;
const vae = createVaeForConfig(cfg, train);
const adam = new Adam({ learningRate: cfg.train.learningRate });
const task = makeVaeTask(vae, adam, train, cfg, Rng.derive(1, 'eps'));
for (let i = 0; i < 3; i++) (await task.step(0, i)).stats.dispose();
await tf.tidy(() => tf.zeros([1])).data();

const steps = 5;
const start = gpuCounters();
const t0 = performance.now();
const pending: tf.Tensor[] = [];
for (let i = 0; i < steps; i++) pending.push((await task.step(0, 3 + i)).stats);
const all = tf.stack(pending);
await all.data();
const ms = (performance.now() - t0) / steps;
tf.dispose([all, ...pending]);
const per = gpuCountersPerStep(start, steps);
const prof = await tf.profile(async () => (await task.step(0, 10)).stats.dispose());
const kinds = new Map<string, number>();
for (const k of prof.kernels) kinds.set(k.name, (kinds.get(k.name) ?? 0) + 1);
console.log(JSON.stringify({ adapter: adapter.name, batch, msPerStep: ms, perStep: per, kernelsPerStep: prof.kernels.length, kernels: Object.fromEntries([...kinds].sort((a, b) => b[1] - a[1])) }, null, 1));
process.exit(0);
