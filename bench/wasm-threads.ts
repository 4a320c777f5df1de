/**
 * Experiment (not used by the program): tfjs-backend-wasm's threaded SIMD build in Node, timed
 * on the reference MLP's training step. tfjs disables threads in Node (WASM_HAS_MULTITHREAD_SUPPORT
 * is false there) because its loader hands Emscripten a blob: URL for the pthread worker, which
 * Node's worker_threads cannot open; and its C++ caps the pool at half the logical cores (1 on a
 * 2-core machine). This script works around all three for the measurement only:
 *   - worker_threads.Worker is wrapped to run the worker source (eval) instead of the blob: URL,
 *     and the worker's importScripts is pointed at the threaded glue file on disk;
 *   - os.cpus() reports twice the cores while the module initialises.
 *   node --import tsx bench/wasm-threads.ts <threads> [steps]
 * Compare `... 1` and `... 2` alternately; on the 2-core machines 2 threads were slower.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import wt from 'node:worker_threads';
import { tf } from '../src/tf.js';
import { installWasmMatMul } from '../src/backend/wasm-matmul.js';
import { Rng } from '../src/random.js';
import { loadConfig } from '../src/config/load.js';
import { loadSplits } from '../src/data/load.js';
import { createVae } from '../src/model/vae.js';
import { Adam } from '../src/train/adam.js';
import { makeVaeTask } from '../src/train/vae-step.js';
import { specFromConfig } from '../src/train/model-from-config.js';

const threads = Number(process.argv[2] ?? 2);
const steps = Number(process.argv[3] ?? 100);
const require = createRequire(import.meta.url);
const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as { setThreadsCount(n: number): void; getThreadsCount(): number };
const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '..', 'wasm-out');
const glue = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
const { wasmWorkerContents } = require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
// tfjs escapes newlines the same way before making its blob
const workerSource =
  wasmWorkerContents.replace(/\n/g, '\\n') +
  `;(function(){var orig=global.importScripts;global.importScripts=function(f){return orig(typeof f==="string"&&f.startsWith("blob:")?${JSON.stringify(glue)}:f)}})();`;
const PlainWorker = wt.Worker;
class BlobWorker extends PlainWorker {
  constructor(file: string | URL, opts?: wt.WorkerOptions) {
    if (typeof file === 'string' && file.startsWith('blob:')) super(workerSource, { ...opts, eval: true });
    else super(file, opts);
  }
}
const cpus = os.cpus;
(wt as { Worker: unknown }).Worker = BlobWorker;
(os as { cpus: unknown }).cpus = () => [...cpus(), ...cpus()];
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
wasm.setThreadsCount(threads);
installWasmMatMul();
const ok = await tf.setBackend('wasm');
(wt as { Worker: unknown }).Worker = PlainWorker;
(os as { cpus: unknown }).cpus = cpus;
if (!ok) throw new Error('wasm did not initialise');
console.error(`wasm ${threads > 1 ? 'threaded-simd' : 'simd'} build, ${wasm.getThreadsCount()} thread(s)`);

const cfg = loadConfig({ config: 'mnist.json', set: [] }).config;
const train = (await loadSplits(cfg.data, ['train'])).train;
const vae = createVae(specFromConfig(cfg, train), Rng.derive(0, 'init'));
const adam = new Adam({ learningRate: cfg.train.learningRate });
const task = makeVaeTask(vae, adam, train, cfg, Rng.derive(0, 'eps'));
for (let i = 0; i < 10; i++) (await task.step(0, i)).stats.dispose();
const t0 = performance.now();
for (let i = 0; i < steps; i++) (await task.step(0, 10 + i)).stats.dispose();
console.log(JSON.stringify({ threads: wasm.getThreadsCount(), msPerStep: (performance.now() - t0) / steps }));
process.exit(0); // the pthread workers would keep the process alive
