/**
 * Worker threads for the importance sampler, one per core (sampler-worker.ts), each with its own
 * copy of the model on its own wasm (or cpu) backend. A task's examples are split between the
 * workers; each example's result is the same as on the main thread (its own random stream, its
 * own rows), so the numbers do not depend on the number of workers. The main thread only waits,
 * so Ctrl-C and the spinner stay responsive.
 */
import { Worker } from 'node:worker_threads';
import type { ConcreteBackend } from '../backend/registry.js';
import type { Vae } from '../model/vae.js';
import type { WorkerInit, WorkerReply, WorkerTask } from './sampler-worker.js';

/** The worker's module: the compiled .js beside this file, or the .ts source under tsx (tests). */
const fromSource = import.meta.url.endsWith('.ts');
const workerUrl = new URL(fromSource ? './sampler-worker.ts' : './sampler-worker.js', import.meta.url);

/** Under tsx (the tests run the TypeScript sources) a worker must register tsx before importing its module. */
function sourceWorker(): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); });`, { eval: true });
}

export class SamplerPool {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (b: Float64Array) => void; reject: (e: Error) => void; onRows?: (rows: number) => void }>();

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      w.on('message', (m: WorkerReply) => {
        if (m.type === 'ready') return;
        const p = this.pending.get(m.id);
        if (!p) return;
        if (m.type === 'rows') p.onRows?.(m.rows);
        else {
          this.pending.delete(m.id);
          if (m.type === 'done') p.resolve(m.bounds);
          else p.reject(new Error(`importance sampler worker: ${m.message}`));
        }
      });
      w.on('error', (err) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Start `count` workers holding a copy of the model, on `backend`. */
  static async start(count: number, backend: ConcreteBackend, vae: Vae): Promise<SamplerPool> {
    const params = await Promise.all([...vae.params].map(async ([name, v]) => ({ name, shape: v.shape, values: (await v.data()) as Float32Array })));
    const init: WorkerInit = { type: 'init', backend, spec: vae.spec, params };
    const workers = await Promise.all(
      Array.from({ length: count }, async () => {
        const w = fromSource ? sourceWorker() : new Worker(workerUrl);
        const ready = new Promise<void>((resolve, reject) => {
          w.once('error', reject);
          w.on('message', (m: WorkerReply) => m.type === 'ready' && resolve());
        });
        w.postMessage(init);
        await ready;
        return w;
      }),
    );
    return new SamplerPool(workers);
  }

  /** Per-example L_K for n examples, split between the workers. */
  async bounds(task: Omit<WorkerTask, 'type' | 'id'>, onRows?: (rows: number) => void): Promise<Float64Array> {
    const { n } = task;
    const D = task.x.length / n;
    const J = task.mu.length / n;
    const per = Math.ceil(n / this.workers.length);
    const parts = this.workers.flatMap((w, i) => {
      const a = i * per;
      const b = Math.min(n, a + per);
      if (a >= b) return [];
      const id = this.nextId++;
      const msg: WorkerTask = {
        ...task,
        type: 'task',
        id,
        n: b - a,
        first: task.first + a,
        x: task.x.slice(a * D, b * D),
        mu: task.mu.slice(a * J, b * J),
        logvar: task.logvar.slice(a * J, b * J),
      };
      return [
        new Promise<{ a: number; bounds: Float64Array }>((resolve, reject) => {
          this.pending.set(id, { resolve: (bounds) => resolve({ a, bounds }), reject, onRows });
          w.postMessage(msg);
        }),
      ];
    });
    const out = new Float64Array(n);
    for (const { a, bounds } of await Promise.all(parts)) out.set(bounds, a);
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
