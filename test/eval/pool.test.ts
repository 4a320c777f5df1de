/**
 * The importance sampler on worker threads (src/eval/sampler-pool.ts): the same per-example
 * L_K as on the main thread, on cpu and on wasm, and the workers shut down cleanly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { selectBackend } from '../../src/backend/index.js';
import type { ConcreteBackend } from '../../src/backend/registry.js';
import { evaluateSplit } from '../../src/eval/elbo.js';
import { SamplerPool } from '../../src/eval/sampler-pool.js';
import { createVae, type VaeSpec } from '../../src/model/vae.js';
import { Rng } from '../../src/random.js';
import { binaryData, useCpu } from '../support/helpers.js';

const SPEC: VaeSpec = { arch: 'mlp', inputDim: 64, inputShape: [8, 8, 1], hidden: [32], latentDim: 4, activation: 'relu', likelihood: 'bernoulli' };

after(useCpu);

for (const backend of ['cpu', 'wasm'] as ConcreteBackend[]) {
  test(`eval L_K on 2 worker threads equals the main thread's, example by example (${backend})`, async () => {
    await selectBackend(backend);
    const vae = createVae(SPEC, Rng.derive(3, 'init'));
    const set = { images: binaryData(37, 64, 5), labels: null, n: 37, shape: [8, 8, 1] as [number, number, number] };
    const opts = { seed: 2, binarize: false, samples: 40, chunkRows: 100, batchSize: 16 };
    const main = await evaluateSplit(vae, set, opts);
    const pool = await SamplerPool.start(2, backend, vae);
    try {
      let rows = 0;
      const onWorkers = await evaluateSplit(vae, set, { ...opts, pool, onProgress: (done) => (rows = done) });
      assert.deepEqual(Array.from(onWorkers.iw!.perExample), Array.from(main.iw!.perExample));
      assert.equal(onWorkers.elbo, main.elbo);
      assert.equal(rows, 37, 'progress reached the end');
    } finally {
      await pool.close();
      for (const v of vae.params.values()) v.dispose();
    }
    assert.equal(tf.getBackend(), backend);
  });
}
