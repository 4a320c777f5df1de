/**
 * The CPU training engine: the step graph (step-graph.ts: forward, backward, gradient norm) on
 * an onnxruntime session, then Adam's update in one WebAssembly SIMD pass (adam-wasm.ts). The
 * parameters, Adam's moments and the gradients live in one WebAssembly memory, which the
 * session reads and writes directly (its inputs and preallocated outputs are views of it), so
 * a step copies nothing large. A step is run, then committed (the update, and the batch-norm
 * running averages from the step's batch moments) or dropped (a step skipped under
 * train.skipNonFinite: nothing changes).
 */
import os from 'node:os';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { BN_MOMENTUM } from '../../model/vae.js';
import { AdamArena, ARENA_MAX_BYTES } from './adam-wasm.js';
import { buildStepGraph, STEP_SCALARS, type StepGraph, type StepGraphOptions } from './step-graph.js';

/** A batch-norm layer's last batch moments (the step's outputs) and its running averages. */
interface BatchNormState {
  mean: Float32Array;
  variance: Float32Array;
  /** the values per channel the moments are over */
  count: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

/** Thrown when onnxruntime cannot be loaded on this machine (the reason goes on the start line). */
export class EngineUnavailable extends Error {}

export type Ort = typeof import('onnxruntime-node');

let ortModule: Promise<Ort> | null = null;

/** onnxruntime-node, loaded once on first use (it ships native binaries; a platform without them fails here). */
export function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as { default?: Ort }).default ?? m) as Ort,
    (err: unknown) => {
      throw new EngineUnavailable(`onnxruntime-node does not load here (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    },
  );
  return ortModule;
}

/** The tfjs backends whose work the CPU engine takes over where it can (cpu stays the plain-JavaScript reference). */
export const CPU_ENGINE_BACKENDS: readonly string[] = ['wasm', 'tensorflow'];

/** VAE_CPU_ENGINE=tfjs: everything op by op in tfjs. */
export function cpuEngineTurnedOff(): boolean {
  return process.env.VAE_CPU_ENGINE === 'tfjs';
}

/** Threads for onnxruntime's pool: VAE_THREADS, else one per CPU core. */
export function engineThreads(): number {
  const n = Number(process.env.VAE_THREADS);
  return Number.isInteger(n) && n > 0 ? n : Math.max(1, os.availableParallelism());
}

/** onnxruntime in words ("onnxruntime 1.31.1, 2 threads"). */
export function describe(ort: Ort, threads: number): string {
  return `onnxruntime ${ort.env.versions.node ?? ort.env.versions.common}, ${threads} thread${threads === 1 ? '' : 's'}`;
}

/** A session for one of the engine's graphs: `threads` for its operators, one node at a time. */
export function createSession(ort: Ort, model: Uint8Array, threads: number): Promise<InferenceSession> {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

/** Whether onnxruntime loads here: what it would run on, or why not (for `vae backends`). */
export async function probeCpuEngine(): Promise<{ ok: true; device: string } | { ok: false; reason: string }> {
  try {
    return { ok: true, device: describe(await loadOrt(), engineThreads()) };
  } catch (err) {
    if (err instanceof EngineUnavailable) return { ok: false, reason: err.message };
    throw err;
  }
}

/** The per-step values of the graph (STEP_SCALARS). */
export interface StepScalars {
  invB: number;
  klWeight: number;
}

/** Adam's per-step values, its bias corrections folded in: lr sqrt(1 - beta2^t) / (1 - beta1^t), epsilon sqrt(1 - beta2^t). */
export interface UpdateScalars {
  stepSize: number;
  epsHat: number;
}

export interface CpuEngineOptions extends StepGraphOptions {
  adam: { beta1: number; beta2: number; epsilon: number };
}

export class CpuEngine {
  readonly graph: StepGraph;
  readonly threads: number;
  /** what the engine runs on, in words ("onnxruntime 1.31.1, 2 threads") */
  readonly device: string;
  private readonly arena: AdamArena;
  /** each parameter's offset in the arena's regions (multiples of four floats) */
  private readonly offsets: number[];
  private readonly inputs: Record<string, OrtTensor> = {};
  private readonly outputs: Record<string, OrtTensor> = {};
  private readonly statsBuf: Float32Array;
  private readonly scalarTensors: Record<string, OrtTensor>;
  private pending: Float32Array | null = null;
  /** per batch-norm layer (graph.batchNorm's order): the last step's batch moments (outputs) and the running averages */
  private readonly norms: BatchNormState[];

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    graph: StepGraph,
    private readonly opts: CpuEngineOptions,
    threads: number,
  ) {
    this.graph = graph;
    this.threads = threads;
    this.device = describe(ort, threads);
    this.offsets = [];
    let floats = 0;
    for (const p of graph.params) {
      this.offsets.push(floats);
      floats += Math.ceil(p.size / 4) * 4;
    }
    this.arena = new AdamArena(floats);
    graph.params.forEach((p, i) => {
      this.inputs[`p${i}`] = new ort.Tensor('float32', this.arena.view('p', this.offsets[i], p.size), p.shape);
      this.outputs[`g${i}`] = new ort.Tensor('float32', this.arena.view('g', this.offsets[i], p.size), p.shape);
    });
    this.statsBuf = new Float32Array(graph.stats.length);
    graph.stats.forEach((_, i) => (this.outputs[`stat${i}`] = new ort.Tensor('float32', this.statsBuf.subarray(i, i + 1), [])));
    this.scalarTensors = Object.fromEntries(STEP_SCALARS.map((s) => [s, new ort.Tensor('float32', new Float32Array(1), [])]));
    this.norms = graph.batchNorm.map(({ channels }, i) => {
      const n = { mean: new Float32Array(channels), variance: new Float32Array(channels), count: new Float32Array(1), runningMean: new Float32Array(channels), runningVar: new Float32Array(channels).fill(1) };
      this.outputs[`bnMean${i}`] = new ort.Tensor('float32', n.mean, [channels]);
      this.outputs[`bnVar${i}`] = new ort.Tensor('float32', n.variance, [channels]);
      this.outputs[`bnCount${i}`] = new ort.Tensor('float32', n.count, []);
      return n;
    });
  }

  static async create(opts: CpuEngineOptions, threads = engineThreads()): Promise<CpuEngine> {
    const ort = await loadOrt();
    const graph = buildStepGraph(opts);
    const floats = graph.params.reduce((n, p) => n + Math.ceil(p.size / 4) * 4, 0);
    if (16 * floats > ARENA_MAX_BYTES) {
      // parameters, both moments and the gradients, four floats each
      throw new EngineUnavailable(`the model's ${floats.toLocaleString('en-US')} parameters are more than its ${ARENA_MAX_BYTES / 2 ** 30} GiB of WebAssembly memory holds (4 copies)`);
    }
    return new CpuEngine(ort, await createSession(ort, graph.model, threads), graph, opts, threads);
  }

  /** Sets the parameters and moments, each flat in graph.params' order (zeros where a moment is missing). */
  writeState(params: Float32Array[], m: (Float32Array | null)[], v: (Float32Array | null)[]): void {
    if (this.pending) throw new Error('writeState during an uncommitted step');
    const s = this.state();
    this.graph.params.forEach((p, i) => {
      if (params[i].length !== p.size) throw new Error(`${p.name}: ${params[i].length} values, expected ${p.size}`);
      s.params[i].set(params[i]);
      if (m[i]) s.m[i].set(m[i]!);
      else s.m[i].fill(0);
      if (v[i]) s.v[i].set(v[i]!);
      else s.v[i].fill(0);
    });
  }

  /** The current parameters and moments (views of the engine's memory: copy before the next step). */
  state(): { params: Float32Array[]; m: Float32Array[]; v: Float32Array[] } {
    const views = (region: 'p' | 'm' | 'v') => this.graph.params.map((p, i) => this.arena.view(region, this.offsets[i], p.size));
    return { params: views('p'), m: views('m'), v: views('v') };
  }

  /**
   * The batch-norm running averages, `<layer>.bn.runningMean` and `.runningVar` for each layer of
   * graph.batchNorm (views of the engine's arrays: copy before the next step, or write into them
   * before the first).
   */
  runningStats(): { name: string; values: Float32Array }[] {
    return this.graph.batchNorm.flatMap(({ layer }, i) => [
      { name: `${layer}.bn.runningMean`, values: this.norms[i].runningMean },
      { name: `${layer}.bn.runningVar`, values: this.norms[i].runningVar },
    ]);
  }

  /** The last step's gradients (views: valid until the next step). */
  gradients(): Float32Array[] {
    return this.graph.params.map((p, i) => this.arena.view('g', this.offsets[i], p.size));
  }

  /**
   * Runs the forward and backward pass on `rows` examples: x [rows, D], eps [k rows, J] (k draws
   * per example with train.iwSamples = k, row i rows + b for draw i of example b). Returns
   * the step's statistics (graph.stats' columns, a fresh array); the update happens on `commit()`.
   */
  async step(x: Float32Array, eps: Float32Array, rows: number, scalars: StepScalars): Promise<Float32Array> {
    if (this.pending) throw new Error('step before the previous one was committed or dropped');
    const feeds: Record<string, OrtTensor> = { ...this.inputs };
    const J = this.opts.spec.latentDim;
    feeds.x = new this.ort.Tensor('float32', x, [rows, x.length / rows]);
    feeds.eps = new this.ort.Tensor('float32', eps, [eps.length / J, J]); // rows x iwSamples
    for (const s of STEP_SCALARS) {
      (this.scalarTensors[s].data as Float32Array)[0] = scalars[s];
      feeds[s] = this.scalarTensors[s];
    }
    await this.session.run(feeds, this.outputs);
    this.pending = this.statsBuf.slice();
    return this.pending.slice();
  }

  /** Applies Adam's update from the last step's gradients (scaled by gradient clipping's factor where it is on). */
  commit(u: UpdateScalars): void {
    if (!this.pending) throw new Error('nothing to commit');
    const { gradClip, adam } = this.opts;
    let gradScale = 1;
    if (gradClip !== null) {
      // clipByGlobalNorm's scale, in float32 as tfjs computes it
      const norm = this.pending[this.graph.stats.indexOf('gradNorm')];
      gradScale = Math.fround(gradClip / Math.fround(Math.max(norm, gradClip)));
    }
    this.arena.update({ beta1: adam.beta1, beta2: adam.beta2, stepSize: u.stepSize, epsHat: u.epsHat, gradScale });
    for (const n of this.norms) foldMoments(n);
    this.pending = null;
  }

  /** Leaves the last step's update out (a skipped step). */
  drop(): void {
    this.pending = null;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * A batch-norm layer's running averages after a step, exactly as updateRunningStats
 * (src/model/vae.ts) computes them in float32: r <- r (1 - momentum) + m momentum, the variance
 * unbiased by count / (count - 1).
 */
function foldMoments(n: BatchNormState): void {
  const f = Math.fround;
  const keep = f(1 - BN_MOMENTUM);
  const take = f(BN_MOMENTUM);
  const count = n.count[0];
  const unbias = f(count / Math.max(count - 1, 1));
  for (let c = 0; c < n.mean.length; c++) {
    n.runningMean[c] = f(f(n.runningMean[c] * keep) + f(n.mean[c] * take));
    n.runningVar[c] = f(f(n.runningVar[c] * keep) + f(f(n.variance[c] * unbias) * take));
  }
}
