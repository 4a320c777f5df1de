/**
 * Child process of test/backend/webgpu.test.ts (it needs the Vulkan environment from its start): runs
 * the same training steps, from the same initial weights, batches and noise, on the cpu backend
 * and on webgpu, and prints both results as JSON on stdout.
 *   node --import tsx test/support/webgpu-steps.ts '<config overrides as JSON>'
 */
import { tf } from '../../src/tf.js';
import type * as tfc from '@tensorflow/tfjs-core';
import { loadWebgpu } from '../../src/backend/webgpu/loader.js';
import { defaultConfig } from '../../src/config/schema.js';
import { runTaskSteps } from './task-steps.js';
import type { ImageSet } from '../../src/data/dataset.js';
import { binaryData } from './helpers.js';

const over = JSON.parse(process.argv[2] ?? '{}') as { model?: object; train?: object; shape?: [number, number, number]; steps?: number };
const shape = over.shape ?? [8, 8, 1];
const D = shape[0] * shape[1] * shape[2];
const n = 48;
const set: ImageSet = { images: binaryData(n, D, 3), labels: null, n, shape };
const base = defaultConfig();
const cfg = { ...base, model: { ...base.model, hidden: [16], latentDim: 4, ...over.model }, train: { ...base.train, batchSize: 16, ...over.train } };

const run = () => runTaskSteps(cfg as typeof base, set, over.steps ?? 4);

/** The gradient of a value used 30 times: tfjs sums its 30 parts with one AddN of 30 inputs. */
async function manyUses(): Promise<number[]> {
  const g = tf.tidy(() => tf.grad((x: tfc.Tensor) => tf.addN(Array.from({ length: 30 }, (_, k) => tf.sum(tf.mul(x, k + 1)))))(tf.range(0, 6)));
  const v = Array.from(await g.data());
  g.dispose();
  return v;
}

await tf.setBackend('cpu');
const manyCpu = await manyUses();
const cpu = await run();
const adapter = await loadWebgpu({ requireHardware: false });
const webgpu = await run();
const many = { cpu: manyCpu, webgpu: await manyUses() };
const leaked = { cpu: cpu.leaked, webgpu: webgpu.leaked };
// exit once written: Dawn's device would keep the process alive
process.stdout.write(JSON.stringify({ adapter, backend: tf.getBackend(), leaked, cpu, webgpu, many }), () => process.exit(0));
