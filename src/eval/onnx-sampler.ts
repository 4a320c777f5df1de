/**
 * The importance sampler on the CPU engine: the same per-example streams, chunks and reduction
 * as importance.ts, with each chunk's log weights from one onnxruntime call
 * (src/engine/onnx/importance.ts: the decoder and the log-likelihood on all cores) instead of
 * tfjs's kernels, for every model the engine trains (engineUnsupported); `vae eval` falls back
 * to the tfjs sampler otherwise.
 */
import { Rng } from '../random.js';
import type { Vae } from '../model/vae.js';
import { CPU_ENGINE_BACKENDS, cpuEngineTurnedOff, EngineUnavailable } from '../engine/onnx/engine.js';
import { ImportanceEngine } from '../engine/onnx/importance.js';
import { engineUnsupported } from '../engine/onnx/network.js';
import { yieldToEvents } from '../ui/progress.js';
import { logSumExp } from './importance.js';
import type { WorkerTask } from './sampler-worker.js';

export class OnnxSampler {
  private constructor(private readonly engine: ImportanceEngine) {}

  get device(): string {
    return this.engine.device;
  }

  static async start(vae: Vae): Promise<OnnxSampler> {
    const engine = await ImportanceEngine.create(vae.spec, async (name) => {
      const v = vae.params.get(name);
      if (!v) throw new Error(`the model has no ${name}`);
      return (await v.data()) as Float32Array;
    });
    return new OnnxSampler(engine);
  }

  /** Per-example L_K for n examples, exactly as importanceBounds draws and reduces them. */
  async bounds(task: Omit<WorkerTask, 'type' | 'id'>, onRows?: (rows: number) => void): Promise<Float64Array> {
    const { n, samples: K, chunkRows } = task;
    const D = task.x.length / n;
    const J = task.mu.length / n;
    const kc = Math.max(1, Math.min(K, chunkRows)); // samples per chunk
    const group = Math.max(1, Math.floor(chunkRows / kc)); // examples per chunk
    const out = new Float64Array(n);
    const e = new Float32Array(group * kc * J);
    for (let g0 = 0; g0 < n; g0 += group) {
      const g = Math.min(group, n - g0);
      const streams = Array.from({ length: g }, (_, b) => Rng.derive(task.seed, 'iw', task.first + g0 + b));
      const logW = Array.from({ length: g }, () => new Float64Array(K));
      const x = task.x.subarray(g0 * D, (g0 + g) * D);
      const mu = task.mu.subarray(g0 * J, (g0 + g) * J);
      const logvar = task.logvar.subarray(g0 * J, (g0 + g) * J);
      for (let k0 = 0; k0 < K; k0 += kc) {
        const kk = Math.min(kc, K - k0);
        // each example's draws continue its own stream: k then j, as if drawn one example at a time
        const eps = e.subarray(0, g * kk * J);
        for (let b = 0; b < g; b++) streams[b].fillNormal(eps.subarray(b * kk * J, (b + 1) * kk * J));
        const v = await this.engine.logWeights(x, mu, logvar, eps, g, kk);
        for (let b = 0; b < g; b++) for (let k = 0; k < kk; k++) logW[b][k0 + k] = v[b * kk + k];
        onRows?.(g * kk);
        await yieldToEvents();
      }
      for (let b = 0; b < g; b++) out[g0 + b] = logSumExp(logW[b]) - Math.log(K);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.engine.dispose();
  }
}

/**
 * The CPU engine's sampler for `vae eval` on `backend` where it applies (wasm and tensorflow, a
 * model the engine expresses, onnxruntime loading, VAE_CPU_ENGINE not tfjs), else null; `line` says which sampler runs, or why not ('' where it does not apply).
 */
export async function engineSamplerFor(vae: Vae, backend: string): Promise<{ sampler: OnnxSampler | null; line: string }> {
  if (!CPU_ENGINE_BACKENDS.includes(backend)) return { sampler: null, line: '' };
  const fallback = (reason: string) => ({ sampler: null, line: `sampler: tfjs-${backend} (the CPU engine does not run this model's weights: ${reason})` });
  const why = engineUnsupported(vae.spec);
  if (why) return fallback(why);
  if (cpuEngineTurnedOff()) return fallback('VAE_CPU_ENGINE=tfjs');
  try {
    const sampler = await OnnxSampler.start(vae);
    return { sampler, line: `sampler: ${sampler.device} (the CPU engine)` };
  } catch (err) {
    if (err instanceof EngineUnavailable) return fallback(err.message);
    throw err;
  }
}
