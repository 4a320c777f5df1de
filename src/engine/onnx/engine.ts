/**
 * The CPU training engine: the step graph (step-graph.ts: forward, backward, gradient norm) on
 * an onnxruntime session, then Adam's update in one WebAssembly SIMD pass (adam-wasm.ts). The
 * parameters, Adam's moments and the gradients live in one WebAssembly memory, which the
 * session reads and writes directly (its inputs and outputs are views of it). The session runs
 * through onnxruntime's C API (direct-session.ts), so a step copies nothing large; where that
 * does not load, or with VAE_ORT_DIRECT=0, it runs through onnxruntime-node, which copies the
 * outputs once more. A step is run, then committed (the update, and the batch-norm running
 * averages from the step's batch moments) or dropped (a step skipped under
 * train.skipNonFinite: nothing changes).
 */
import os from 'node:os';
import type { InferenceSession } from 'onnxruntime-node';
import { BN_MOMENTUM } from '../../model/vae.js';
import { AdamArena, ARENA_MAX_BYTES } from './adam-wasm.js';
import { buildStepGraph, STEP_SCALARS, type StepGraph, type StepGraphOptions } from './step-graph.js';
import { DirectSession, directSessionUnavailable } from './direct-session.js';

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

/** A named float32 array the step graph reads or writes, with its shape. */
interface Bound {
  name: string;
  data: Float32Array;
  dims: readonly number[];
}

/** How the step graph is run: the engine's arrays bound once, x and eps given per step. */
interface StepRunner {
  /** 'direct' (onnxruntime's C API, outputs written in place) or 'onnxruntime-node' */
  readonly calls: 'direct' | 'onnxruntime-node';
  run(x: Bound, eps: Bound): Promise<void>;
  release(): Promise<void>;
}

/** VAE_ORT_DIRECT=0: run the step through onnxruntime-node even where the C API path loads. */
function directTurnedOff(): boolean {
  return process.env.VAE_ORT_DIRECT === '0';
}

async function directRunner(model: Uint8Array, threads: number, inputs: Bound[], outputs: Bound[]): Promise<StepRunner> {
  const session = await DirectSession.create(model, threads);
  for (const b of inputs) session.bindInput(b.name, b.data, b.dims);
  for (const b of outputs) session.bindOutput(b.name, b.data, b.dims);
  return {
    calls: 'direct',
    run(x, eps) {
      session.bindInput(x.name, x.data, x.dims);
      session.bindInput(eps.name, eps.data, eps.dims);
      session.run();
      return Promise.resolve();
    },
    release() {
      session.release();
      return Promise.resolve();
    },
  };
}

async function bindingRunner(ort: Ort, model: Uint8Array, threads: number, inputs: Bound[], outputs: Bound[]): Promise<StepRunner> {
  const session = await createSession(ort, model, threads);
  const tensors = (list: Bound[]) => Object.fromEntries(list.map((b) => [b.name, new ort.Tensor('float32', b.data, b.dims)]));
  const feeds = tensors(inputs);
  const fetches = tensors(outputs);
  return {
    calls: 'onnxruntime-node',
    async run(x, eps) {
      feeds[x.name] = new ort.Tensor('float32', x.data, x.dims);
      feeds[eps.name] = new ort.Tensor('float32', eps.data, eps.dims);
      await session.run(feeds, fetches);
    },
    release: () => session.release(),
  };
}

/** A float32 array with an ArrayBuffer of its own (never on V8's heap, so it stays where it is while bound). */
function ownBuffer(n: number): Float32Array {
  return new Float32Array(new ArrayBuffer(4 * n));
}

export class CpuEngine {
  readonly graph: StepGraph;
  readonly threads: number;
  /** what the engine runs on, in words ("onnxruntime 1.31.1, 2 threads") */
  readonly device: string;
  private readonly arena: AdamArena;
  /** each parameter's offset in the arena's regions (multiples of four floats) */
  private readonly offsets: number[];
  private readonly statsBuf: Float32Array;
  private readonly scalars: Record<string, Float32Array>;
  private pending: Float32Array | null = null;
  /** per batch-norm layer (graph.batchNorm's order): the last step's batch moments (outputs) and the running averages */
  private readonly norms: BatchNormState[];
  private runner: StepRunner | null = null;

  private constructor(
    graph: StepGraph,
    private readonly opts: CpuEngineOptions,
    threads: number,
    ort: Ort,
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
    this.statsBuf = ownBuffer(graph.stats.length);
    const scalarBuf = ownBuffer(STEP_SCALARS.length);
    this.scalars = Object.fromEntries(STEP_SCALARS.map((s, i) => [s, scalarBuf.subarray(i, i + 1)]));
    this.norms = graph.batchNorm.map(({ channels }) => ({
      mean: ownBuffer(channels),
      variance: ownBuffer(channels),
      count: ownBuffer(1),
      runningMean: new Float32Array(channels),
      runningVar: new Float32Array(channels).fill(1),
    }));
  }

  /** The arrays the step graph reads (besides x and eps) and writes: all of them the engine's own. */
  private bindings(): { inputs: Bound[]; outputs: Bound[] } {
    const inputs: Bound[] = this.graph.params.map((p, i) => ({ name: `p${i}`, data: this.arena.view('p', this.offsets[i], p.size), dims: p.shape }));
    for (const s of STEP_SCALARS) inputs.push({ name: s, data: this.scalars[s], dims: [] });
    const outputs: Bound[] = this.graph.params.map((p, i) => ({ name: `g${i}`, data: this.arena.view('g', this.offsets[i], p.size), dims: p.shape }));
    this.graph.stats.forEach((_, i) => outputs.push({ name: `stat${i}`, data: this.statsBuf.subarray(i, i + 1), dims: [] }));
    this.graph.batchNorm.forEach(({ channels }, i) => {
      const n = this.norms[i];
      outputs.push({ name: `bnMean${i}`, data: n.mean, dims: [channels] }, { name: `bnVar${i}`, data: n.variance, dims: [channels] }, { name: `bnCount${i}`, data: n.count, dims: [] });
    });
    return { inputs, outputs };
  }

  /** How the step graph is called: 'direct' (onnxruntime's C API) or 'onnxruntime-node'. */
  get calls(): StepRunner['calls'] {
    return this.runner!.calls;
  }

  static async create(opts: CpuEngineOptions, threads = engineThreads()): Promise<CpuEngine> {
    const ort = await loadOrt();
    const graph = buildStepGraph(opts);
    const floats = graph.params.reduce((n, p) => n + Math.ceil(p.size / 4) * 4, 0);
    if (16 * floats > ARENA_MAX_BYTES) {
      // parameters, both moments and the gradients, four floats each
      throw new EngineUnavailable(`the model's ${floats.toLocaleString('en-US')} parameters are more than its ${ARENA_MAX_BYTES / 2 ** 30} GiB of WebAssembly memory holds (4 copies)`);
    }
    const engine = new CpuEngine(graph, opts, threads, ort);
    const { inputs, outputs } = engine.bindings();
    const direct = !directTurnedOff() && (await directSessionUnavailable()) === null;
    engine.runner = direct ? await directRunner(graph.model, threads, inputs, outputs) : await bindingRunner(ort, graph.model, threads, inputs, outputs);
    return engine;
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
    const J = this.opts.spec.latentDim;
    for (const s of STEP_SCALARS) this.scalars[s][0] = scalars[s];
    await this.runner!.run({ name: 'x', data: x, dims: [rows, x.length / rows] }, { name: 'eps', data: eps, dims: [eps.length / J, J] }); // eps: rows x iwSamples
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
    await this.runner?.release();
    this.runner = null;
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
