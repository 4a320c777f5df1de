/**
 * The wasm backend's re-registered matmul kernels (src/backend/wasm-matmul.ts) against the cpu
 * backend, for every transpose combination, batch shapes, fused bias/activation, and gradients.
 *   node scripts/test.mjs test/backend/wasm-matmul.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { selectBackend } from '../../src/backend/index.js';
import { wasmMatMulActive } from '../../src/backend/wasm-matmul.js';

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

async function onBoth<T>(f: () => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[], number[][]]> {
  const run = async (name: 'wasm' | 'cpu') => {
    await selectBackend(name);
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const data = list.map((t) => t.dataSync() as Float32Array);
    const shapes = list.map((t) => t.shape);
    tf.dispose(list);
    return { data, shapes };
  };
  const w = await run('wasm');
  const c = await run('cpu');
  assert.deepEqual(w.shapes, c.shapes);
  return [w.data, c.data, w.shapes];
}

function close(a: Float32Array[], b: Float32Array[]): void {
  for (let k = 0; k < a.length; k++) {
    assert.equal(a[k].length, b[k].length);
    for (let i = 0; i < a[k].length; i++) assert.ok(Math.abs(a[k][i] - b[k][i]) <= 1e-4 * (1 + Math.abs(b[k][i])), `[${k}][${i}]: ${a[k][i]} vs ${b[k][i]}`);
  }
}

const cases: [number[], number[]][] = [
  [[5, 7], [7, 3]],
  [[4, 5, 7], [7, 3]],
  [[4, 5, 7], [1, 7, 3]],
  [[2, 3, 5, 7], [7, 3]],
  [[4, 5, 7], [4, 7, 3]],
  [[5, 7], [4, 7, 3]],
];

test('BatchMatMul on wasm matches cpu, all transposes and batch shapes', async () => {
  for (const [sa, sb] of cases) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const shapeA = ta ? [...sa.slice(0, -2), sa[sa.length - 1], sa[sa.length - 2]] : sa;
        const shapeB = tb ? [...sb.slice(0, -2), sb[sb.length - 1], sb[sb.length - 2]] : sb;
        const [w, c] = await onBoth(() => tf.matMul(rand(shapeA, 1), rand(shapeB, 2), ta, tb));
        close(w, c);
      }
    }
  }
});

test('fused matmul (bias, relu) on wasm matches cpu, with transposes and gradients', async () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const [w, c] = await onBoth(() => {
      // a batch of left operands against one right operand (the folded path)
      const a = rand(ta ? [4, 7, 5] : [4, 5, 7], 3);
      const b = rand(tb ? [1, 3, 7] : [1, 7, 3], 4);
      const bias = rand([3], 5);
      const out = tf.fused.matMul({ a: a as tf.Tensor3D, b: b as tf.Tensor3D, bias, activation: 'relu', transposeA: ta, transposeB: tb });
      // gradients (tfjs cannot differentiate a broadcast batch, so 2-D here, as a dense layer)
      const a2 = rand(ta ? [7, 5] : [5, 7], 6);
      const b2 = rand(tb ? [3, 7] : [7, 3], 7);
      const f = (x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.square(tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, bias, activation: 'relu', transposeA: ta, transposeB: tb })));
      const g = tf.grads(f)([a2, b2]);
      return [out, ...g];
    });
    close(w, c);
  }
});

test('no tensors, bytes or backend buffers left behind on wasm', async () => {
  await selectBackend('wasm');
  const a = rand([128, 30], 1);
  const b = rand([128, 20], 2);
  const ids = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
  const before = { ...tf.memory(), ids: ids() };
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      tf.matMul(a, b, true, false);
      tf.matMul(tf.reshape(a, [2, 64, 30]), rand([20, 30], 4), false, true);
      tf.fused.matMul({ a: tf.reshape(a, [1, 128, 30]) as tf.Tensor3D, b: tf.reshape(rand([20, 30], 3), [1, 20, 30]) as tf.Tensor3D, transposeB: true, bias: tf.ones([20]), activation: 'relu' });
    });
  }
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  assert.equal(ids(), before.ids);
  tf.dispose([a, b]);
});

test('the wasm backend comes up with the XNNPACK matmul installed (the 4x faster path)', async () => {
  const report = await selectBackend('wasm');
  assert.ok(wasmMatMulActive(), 'BatchMatMul and _FusedMatMul on wasm are not the wrappers from wasm-matmul.ts');
  assert.doesNotMatch(report.device, /without the XNNPACK matmul/);
});
