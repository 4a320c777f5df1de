/**
 * The importance-weight graph (importance-graph.ts) on an onnxruntime session: `vae eval`'s
 * decoder rows on onnxruntime's threads and GEMMs. The decoder's and the likelihood's
 * parameters (batch norm's running averages among them) are fed from the model's arrays on
 * every call (views, not copies).
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import type { VaeSpec } from '../../model/vae.js';
import { createSession, describe, engineThreads, loadOrt, type Ort } from './engine.js';
import { buildImportanceGraph } from './importance-graph.js';

export class ImportanceEngine {
  /** what it runs on, in words ("onnxruntime 1.31.1, 2 threads") */
  readonly device: string;
  private readonly paramFeeds: Record<string, OrtTensor>;

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    private readonly spec: VaeSpec,
    params: { shape: number[]; values: Float32Array }[],
    threads: number,
  ) {
    this.device = describe(ort, threads);
    this.paramFeeds = Object.fromEntries(params.map((p, i) => [`p${i}`, new ort.Tensor('float32', p.values, p.shape)]));
  }

  /** `values(name)`: a decoder or likelihood parameter's values (the graph's order is the model's). */
  static async create(spec: VaeSpec, values: (name: string) => Promise<Float32Array>, threads = engineThreads()): Promise<ImportanceEngine> {
    const ort = await loadOrt();
    const graph = buildImportanceGraph(spec);
    const params = [];
    for (const p of graph.params) params.push({ shape: p.shape, values: await values(p.name) });
    return new ImportanceEngine(ort, await createSession(ort, graph.model, threads), spec, params, threads);
  }

  /** log w [G, k] for G examples (x [G, D], mu and logvar [G, J]) and their draws eps [G, k, J]. */
  async logWeights(x: Float32Array, mu: Float32Array, logvar: Float32Array, eps: Float32Array, G: number, k: number): Promise<Float32Array> {
    const { inputDim: D, latentDim: J } = this.spec;
    const out = await this.session.run({
      ...this.paramFeeds,
      x: new this.ort.Tensor('float32', x, [G, D]),
      mu: new this.ort.Tensor('float32', mu, [G, J]),
      logvar: new this.ort.Tensor('float32', logvar, [G, J]),
      eps: new this.ort.Tensor('float32', eps, [G, k, J]),
    });
    return out.logW.data as Float32Array;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
