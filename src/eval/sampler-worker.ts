/**
 * A worker thread running the importance sampler (importance.ts) on its own tfjs backend, so
 * that `vae eval` can use every core: each worker takes a share of the examples. It receives
 * the model once ('init'), then tasks; it posts the decoder rows done after each chunk and the
 * per-example L_K at the end of a task.
 */
import { parentPort } from 'node:worker_threads';
import { tf } from '../tf.js';
import { selectBackend } from '../backend/index.js';
import type { ConcreteBackend } from '../backend/registry.js';
import { initTensor, type Params } from '../model/params.js';
import { isBuffer, vaeFromParams, type Vae, type VaeSpec } from '../model/vae.js';
import { importanceBounds } from './importance.js';

export interface WorkerInit {
  type: 'init';
  backend: ConcreteBackend;
  spec: VaeSpec;
  params: { name: string; shape: number[]; values: Float32Array }[];
}

export interface WorkerTask {
  type: 'task';
  id: number;
  x: Float32Array;
  mu: Float32Array;
  logvar: Float32Array;
  n: number;
  first: number;
  seed: number;
  samples: number;
  chunkRows: number;
  fused?: boolean;
}

export type WorkerReply = { type: 'ready' } | { type: 'rows'; id: number; rows: number } | { type: 'done'; id: number; bounds: Float64Array } | { type: 'error'; id: number; message: string };

const port = parentPort!;
let vae: Vae | null = null;

port.on('message', (msg: WorkerInit | WorkerTask) => {
  void (async () => {
    if (msg.type === 'init') {
      await selectBackend(msg.backend);
      const params: Params = new Map();
      for (const p of msg.params) initTensor(params, p.name, p.shape, p.values, !isBuffer(p.name));
      vae = vaeFromParams(msg.spec, params);
      port.postMessage({ type: 'ready' } satisfies WorkerReply);
      return;
    }
    try {
      const D = msg.x.length / msg.n;
      const J = msg.mu.length / msg.n;
      const x = tf.tensor2d(msg.x, [msg.n, D]);
      const mu = tf.tensor2d(msg.mu, [msg.n, J]);
      const logvar = tf.tensor2d(msg.logvar, [msg.n, J]);
      try {
        const bounds = await importanceBounds(vae!, x, msg.x, mu, logvar, msg.first, {
          seed: msg.seed,
          samples: msg.samples,
          chunkRows: msg.chunkRows,
          fused: msg.fused,
          onRows: (rows) => port.postMessage({ type: 'rows', id: msg.id, rows } satisfies WorkerReply),
        });
        port.postMessage({ type: 'done', id: msg.id, bounds } satisfies WorkerReply);
      } finally {
        tf.dispose([x, mu, logvar]);
      }
    } catch (err) {
      port.postMessage({ type: 'error', id: msg.id, message: (err as Error)?.message ?? String(err) } satisfies WorkerReply);
    }
  })();
});
