/**
 * What one training step of configs/mnist.json sends between CPU and GPU on webgpu: uploads,
 * uniform writes, submits, readbacks, dispatches, and which kernels run. Hardware-independent
 * counts, so they can be taken on a software adapter (SwiftShader) too:
 *   VK_ICD_FILENAMES=$PWD/.cache/software-vulkan/icd.json npx tsx bench/webgpu-traffic.ts [batch]
 */
import { tf } from '../src/tf.js';
import { selectBackend } from '../src/backend/index.js';
import { enableGpuCounters, gpuCounters, gpuCountersPerStep } from '../src/backend/webgpu/counters.js';
import { loadConfig } from '../src/config/load.js';
import { prepareStepBench } from '../src/bench/steps.js';

const batch = Number(process.argv[2] ?? 128);
enableGpuCounters();
const report = await selectBackend('webgpu');
const { config: cfg } = loadConfig({ config: 'configs/mnist.json', set: [`train.batchSize=${batch}`, 'data.limit=2048'] });
const bench = await prepareStepBench(report, cfg, 3);
const steps = 5;
const start = gpuCounters();
const ms = await bench.time(steps);
const per = gpuCountersPerStep(start, steps);
const kinds = bench.info.kernelCounts;
console.log(JSON.stringify({ adapter: report.device, batch, msPerStep: ms, perStep: per, kernelsPerStep: bench.info.kernelsPerStep, kernels: Object.fromEntries(Object.entries(kinds).sort((a, b) => b[1] - a[1])) }, null, 1));
bench.dispose();
process.exit(0);
