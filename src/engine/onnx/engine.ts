/**
 * The CPU training engine: a step graph (step-graph.ts) on an onnxruntime session, with the
 * model's parameters and Adam's moments held here as flat float32 arrays in two sets. Each step
 * reads one set and writes the other (preallocated outputs, so a step allocates nothing large);
 * the sets swap when the step is committed, so a step skipped under train.skipNonFinite leaves
 * the state exactly as it was.
 */
import os from 'node:os';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { buildStepGraph, STEP_SCALARS, type StepGraph, type StepGraphOptions } from './step-graph.js';

/** Thrown when onnxruntime cannot be loaded on this machine (the reason goes on the start line). */
export class EngineUnavailable extends Error {}

type Ort = typeof import('onnxruntime-node');

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

/** Threads for onnxruntime's pool: VAE_THREADS, else one per CPU core. */
export function engineThreads(): number {
  const n = Number(process.env.VAE_THREADS);
  return Number.isInteger(n) && n > 0 ? n : Math.max(1, os.availableParallelism());
}

/** onnxruntime in words ("onnxruntime 1.31.1, 2 threads"). */
function describe(ort: Ort, threads: number): string {
  return `onnxruntime ${ort.env.versions.node ?? ort.env.versions.common}, ${threads} thread${threads === 1 ? '' : 's'}`;
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

/** The per-step values (STEP_SCALARS). */
export interface StepScalars {
  invB: number;
  klWeight: number;
  stepSize: number;
  epsHat: number;
}

interface StateSet {
  params: Float32Array[];
  m: Float32Array[];
  v: Float32Array[];
  /** the same arrays as ort tensors, by input name (read) and output name (written) */
  asInputs: Record<string, OrtTensor>;
  asOutputs: Record<string, OrtTensor>;
}

export class CpuEngine {
  readonly graph: StepGraph;
  readonly threads: number;
  /** what the engine runs on, in words ("onnxruntime 1.31.1, 2 threads") */
  readonly device: string;
  private sets: [StateSet, StateSet];
  private readonly statsBuf: Float32Array;
  private readonly statsTensor: OrtTensor;
  private readonly scalarTensors: Record<string, OrtTensor>;
  private pending = false;

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    graph: StepGraph,
    threads: number,
  ) {
    this.graph = graph;
    this.threads = threads;
    this.device = describe(ort, threads);
    this.sets = [this.makeSet(), this.makeSet()];
    this.statsBuf = new Float32Array(graph.stats.length);
    this.statsTensor = new ort.Tensor('float32', this.statsBuf, [graph.stats.length]);
    this.scalarTensors = Object.fromEntries(STEP_SCALARS.map((s) => [s, new ort.Tensor('float32', new Float32Array(1), [])]));
  }

  static async create(opts: StepGraphOptions, threads = engineThreads()): Promise<CpuEngine> {
    const ort = await loadOrt();
    const graph = buildStepGraph(opts);
    const session = await ort.InferenceSession.create(graph.model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new CpuEngine(ort, session, graph, threads);
  }

  private makeSet(): StateSet {
    const make = () => this.graph.params.map((p) => new Float32Array(p.size));
    const set: StateSet = { params: make(), m: make(), v: make(), asInputs: {}, asOutputs: {} };
    this.graph.params.forEach((p, i) => {
      for (const [key, arrays] of [['p', set.params], ['m', set.m], ['v', set.v]] as const) {
        set.asInputs[`${key}${i}`] = new this.ort.Tensor('float32', arrays[i], p.shape);
        set.asOutputs[`${key}${i}.next`] = new this.ort.Tensor('float32', arrays[i], p.shape);
      }
    });
    return set;
  }

  /** Sets the parameters and moments, each flat in graph.params' order (zeros where a moment is missing). */
  writeState(params: Float32Array[], m: (Float32Array | null)[], v: (Float32Array | null)[]): void {
    if (this.pending) throw new Error('writeState during an uncommitted step');
    const s = this.sets[0];
    this.graph.params.forEach((p, i) => {
      if (params[i].length !== p.size) throw new Error(`${p.name}: ${params[i].length} values, expected ${p.size}`);
      s.params[i].set(params[i]);
      if (m[i]) s.m[i].set(m[i]!);
      else s.m[i].fill(0);
      if (v[i]) s.v[i].set(v[i]!);
      else s.v[i].fill(0);
    });
  }

  /** The current parameters and moments (views of the engine's arrays: copy before the next step). */
  state(): { params: Float32Array[]; m: Float32Array[]; v: Float32Array[] } {
    const s = this.sets[0];
    return { params: s.params, m: s.m, v: s.v };
  }

  /**
   * Runs one step on `rows` examples: x [rows, D], eps [rows, J]. Returns its statistics
   * (graph.stats' columns, a fresh array); the update takes effect on `commit()`.
   */
  async step(x: Float32Array, eps: Float32Array, rows: number, scalars: StepScalars): Promise<Float32Array> {
    if (this.pending) throw new Error('step before the previous one was committed or dropped');
    const [read, write] = this.sets;
    const feeds: Record<string, OrtTensor> = { ...read.asInputs };
    const D = x.length / rows;
    const J = eps.length / rows;
    feeds.x = new this.ort.Tensor('float32', x, [rows, D]);
    feeds.eps = new this.ort.Tensor('float32', eps, [rows, J]);
    for (const s of STEP_SCALARS) {
      (this.scalarTensors[s].data as Float32Array)[0] = scalars[s];
      feeds[s] = this.scalarTensors[s];
    }
    await this.session.run(feeds, { stats: this.statsTensor, ...write.asOutputs });
    this.pending = true;
    return this.statsBuf.slice();
  }

  /** Keeps the last step's update. */
  commit(): void {
    if (!this.pending) throw new Error('nothing to commit');
    this.sets = [this.sets[1], this.sets[0]];
    this.pending = false;
  }

  /** Leaves the last step's update out (a skipped step). */
  drop(): void {
    this.pending = false;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
