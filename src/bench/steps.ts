/**
 * Timing training steps: the config's model on the current backend, warmed up and profiled,
 * then timed exactly as `vae train` runs its steps (batching and binarisation on the JavaScript
 * side, statistics read back every train.logEvery steps).
 */
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import type { Config } from '../config/schema.js';
import { loadSplits } from '../data/load.js';
import type { BackendReport } from '../backend/index.js';
import { gpuCounters, gpuCountersPerStep, type GpuCounters } from '../backend/webgpu/counters.js';
import { Adam } from '../train/adam.js';
import { checkFitsInMemory, createVaeForConfig } from '../train/model-from-config.js';
import { makeVaeTask } from '../train/vae-step.js';
import { fusedTaskFor } from '../train/fused-task.js';
import { cpuEngineTaskFor } from '../train/cpu-engine-task.js';
import { yieldToEvents } from '../ui/progress.js';

/** What a backend's step looks like, measured once before timing. */
export interface StepProfile {
  backend: string;
  device: string;
  batch: number;
  kernelsPerStep: number;
  /** how many of each kernel one step runs */
  kernelCounts: Record<string, number>;
  /** tensors and bytes a step leaves allocated (0 when nothing leaks) */
  netTensorsPerStep: number;
  netBytesPerStep: number;
  /** webgpu only: CPU-GPU traffic per step (uploads, buffer allocations, dispatches, submits, readbacks) */
  gpuPerStep?: GpuCounters;
  /**
   * webgpu only: milliseconds the CPU spends issuing one step: recording or enqueueing its
   * kernels and submitting them, not waiting for the GPU (the fused engine's own count; for
   * tfjs, the time inside the step call). A GPU cannot run steps faster than this.
   */
  issueMsPerStep?: number;
  /** the fused engine with --profile: GPU microseconds per kernel per step (null: the adapter has no timestamp queries) */
  kernelUs?: { label: string; us: number }[] | null;
}

export interface StepBench {
  info: StepProfile;
  /** ms per step over n steps */
  time(n: number): Promise<number>;
  /** seconds for one full epoch */
  epoch(): Promise<number>;
  dispose(): void;
}

/** Profiled steps per kernel timing with --profile (the median is reported). */
export const PROFILE_STEPS = 10;

/**
 * On webgpu the fused engine times the steps, as `vae train` runs them (opts.tfjs: tfjs-webgpu
 * op by op); `say` gets the line saying which.
 */
export async function prepareStepBench(
  report: BackendReport,
  cfg: Config,
  warmup: number,
  opts: { tfjs: boolean; profile?: boolean; say: (line: string) => void },
): Promise<StepBench> {
  const train = (await loadSplits(cfg.data, ['train'])).train;
  checkFitsInMemory(cfg, train, report.name);
  const vae = createVaeForConfig(cfg, train);
  const adam = new Adam({ learningRate: cfg.train.learningRate });
  const epsRng = Rng.derive(cfg.train.seed, 'eps');
  const fused = opts.tfjs ? { task: null, line: '' } : await fusedTaskFor(report, vae, adam, train, cfg, epsRng);
  if (fused.line) opts.say(fused.line);
  const cpuEngine = opts.tfjs || fused.task ? { task: null, line: '' } : await cpuEngineTaskFor(report, vae, adam, train, cfg, epsRng);
  if (cpuEngine.line) opts.say(cpuEngine.line);
  const task = fused.task ?? cpuEngine.task ?? makeVaeTask(vae, adam, train, cfg, epsRng);
  const steps = task.stepsInEpoch(0);
  const B = Math.min(cfg.train.batchSize, train.n);
  let i = 0;
  let issueMs = 0;
  const run = async (n: number) => {
    const pending: tf.Tensor[] = [];
    let unread = 0;
    for (let k = 0; k < n; k++, i++) {
      const t0 = performance.now();
      const r = await task.step(0, i % steps);
      issueMs += performance.now() - t0;
      if (r.stats) pending.push(r.stats);
      unread++;
      await yieldToEvents(); // Ctrl-C and the spinner, as in training (a few microseconds a step)
      // read back at the training loop's interval, as training does
      if (unread === cfg.train.logEvery || k === n - 1) {
        if (fused.task) {
          await fused.task.readStats(unread);
        } else {
          const s = tf.stack(pending);
          await s.data();
          tf.dispose([s, ...pending]);
          pending.length = 0;
        }
        unread = 0;
      }
    }
  };
  await run(warmup);
  const kernelCounts: Record<string, number> = {};
  let prof = { kernels: [] as { name: string }[], newTensors: 0, newBytes: 0 };
  let kernelUs: StepProfile['kernelUs'];
  if (fused.task) {
    for (const label of fused.task.engine.kernelLabels) kernelCounts[label] = (kernelCounts[label] ?? 0) + 1;
    if (opts.profile) kernelUs = await fused.task.profile(0, i++ % steps, PROFILE_STEPS);
    prof.kernels = fused.task.engine.kernelLabels.map((name) => ({ name }));
  } else if (cpuEngine.task) {
    // one onnxruntime call per step; tf.profile still counts what the step leaves behind
    prof = { ...(await tf.profile(async () => (await task.step(0, i++ % steps)).stats?.dispose())), kernels: [{ name: 'onnxruntime step' }] };
    kernelCounts['onnxruntime step'] = 1;
  } else {
    prof = await tf.profile(async () => {
      (await task.step(0, i++ % steps)).stats?.dispose();
    });
    for (const k of prof.kernels) kernelCounts[k.name] = (kernelCounts[k.name] ?? 0) + 1;
  }
  // CPU-GPU traffic of the training loop's own rhythm (reads every logEvery steps)
  let gpuPerStep: GpuCounters | undefined;
  let issueMsPerStep: number | undefined;
  if (report.name === 'webgpu') {
    const n = Math.max(cfg.train.logEvery, 10);
    const start = gpuCounters();
    issueMs = 0;
    const engineMs = fused.task?.engine.counts.issueMs ?? 0;
    await run(n);
    gpuPerStep = gpuCountersPerStep(start, n);
    // the engine counts its recording and submits itself (its submits happen in the reads, outside
    // the step call); tfjs enqueues and submits inside the step call
    issueMsPerStep = (fused.task ? fused.task.engine.counts.issueMs - engineMs : issueMs) / n;
  }
  return {
    info: { backend: fused.task ? 'webgpu (fused)' : cpuEngine.task ? `${report.name} (engine)` : report.name === 'webgpu' ? 'webgpu (tfjs)' : report.name, device: cpuEngine.task ? cpuEngine.task.engine.device : report.device, batch: B, kernelsPerStep: prof.kernels.length, kernelCounts, netTensorsPerStep: prof.newTensors, netBytesPerStep: prof.newBytes, gpuPerStep, issueMsPerStep, kernelUs },
    async time(n) {
      const t0 = performance.now();
      await run(n);
      return (performance.now() - t0) / n;
    },
    async epoch() {
      const e0 = performance.now();
      i = 0;
      await run(steps);
      return (performance.now() - e0) / 1000;
    },
    dispose() {
      fused.task?.dispose();
      cpuEngine.task?.dispose();
      adam.dispose();
      for (const v of vae.params.values()) v.dispose();
    },
  };
}
