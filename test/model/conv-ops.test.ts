import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/tf.js';
import { Rng } from '../../src/random.js';
import { conv2dSame, deconv2dSame, filterGrad, sizesDown, type ConvImpl } from '../../src/model/conv-ops.js';
import { useCpu } from '../support/helpers.js';

type Shape4 = [number, number, number, number];

/** Seeded standard-normal data for one named purpose. */
function randn(shape: Shape4, name: string, seed = 3): Float32Array {
  return Rng.derive(seed, 'conv-ops', name).fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)));
}

/** |a - b| <= tol * max(1, max|b|): float32 sums of hundreds of products are only good relatively. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= tol * scale, `${what}: max abs error ${worst} > ${tol} * ${scale}`);
}

interface Case {
  hw: [number, number];
  k: number;
  s: number;
  cin: number;
  cout: number;
  b: number;
}

// 28->14, 7->4, 5->3, 32->16 with k = 3, 4, 5; odd/non-square sizes; stride 1; and k < s,
// where SAME pads nothing and the conv never reads the input's last rows.
const CASES: Case[] = [
  { hw: [28, 28], k: 4, s: 2, cin: 1, cout: 2, b: 2 },
  { hw: [28, 28], k: 3, s: 2, cin: 2, cout: 3, b: 1 },
  { hw: [7, 7], k: 4, s: 2, cin: 2, cout: 3, b: 2 },
  { hw: [7, 7], k: 3, s: 2, cin: 3, cout: 1, b: 1 },
  { hw: [5, 5], k: 5, s: 2, cin: 3, cout: 2, b: 2 },
  { hw: [5, 5], k: 3, s: 2, cin: 1, cout: 1, b: 1 },
  { hw: [32, 32], k: 4, s: 2, cin: 3, cout: 3, b: 1 },
  { hw: [32, 32], k: 5, s: 2, cin: 1, cout: 2, b: 1 },
  { hw: [9, 6], k: 3, s: 3, cin: 2, cout: 2, b: 2 },
  { hw: [6, 7], k: 3, s: 1, cin: 2, cout: 3, b: 1 },
  { hw: [7, 5], k: 2, s: 3, cin: 2, cout: 2, b: 2 },
  { hw: [8, 8], k: 1, s: 3, cin: 1, cout: 2, b: 1 },
  { hw: [7, 9], k: 2, s: 3, cin: 2, cout: 1, b: 1 }, // pads rows, crops columns
];

function label(c: Case): string {
  return `${c.hw[0]}x${c.hw[1]} k=${c.k} s=${c.s} ${c.cin}->${c.cout} b=${c.b}`;
}

function shapes(c: Case) {
  const [h, w] = sizesDown(c.hw, 1, c.s)[1];
  return {
    x: [c.b, c.hw[0], c.hw[1], c.cin] as Shape4,
    w: [c.k, c.k, c.cin, c.cout] as Shape4,
    y: [c.b, h, w, c.cout] as Shape4,
  };
}

interface Results {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
}

/** Forward and gradients wrt x and w of sum(conv(x, w) * r) on the current backend. */
function convResults(c: Case, impl: ConvImpl | 'tf'): Results {
  const sh = shapes(c);
  return tf.tidy(() => {
    const x = tf.tensor4d(randn(sh.x, `x ${label(c)}`), sh.x);
    const w = tf.tensor4d(randn(sh.w, `w ${label(c)}`), sh.w);
    const r = tf.tensor4d(randn(sh.y, `r ${label(c)}`), sh.y);
    const f = (a: tf.Tensor4D, b: tf.Tensor4D) => (impl === 'tf' ? tf.conv2d(a, b, c.s, 'same') : conv2dSame(a, b, c.s, { impl }));
    const y = f(x, w);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, w]);
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

/** The same for the transpose: deconv(y, w') with w' [k,k,cin,cout] mapping the conv's output (cout) back to its input (cin). */
function deconvResults(c: Case, impl: ConvImpl | 'tf'): Results {
  const sh = shapes(c);
  return tf.tidy(() => {
    const y = tf.tensor4d(randn(sh.y, `dy ${label(c)}`), sh.y);
    const w = tf.tensor4d(randn(sh.w, `dw ${label(c)}`), sh.w);
    const r = tf.tensor4d(randn(sh.x, `dr ${label(c)}`), sh.x);
    const f = (a: tf.Tensor4D, b: tf.Tensor4D) =>
      impl === 'tf' ? tf.conv2dTranspose(a, b, sh.x, c.s, 'same') : deconv2dSame(a, b, c.s, c.hw, { impl });
    const out = f(y, w);
    assert.deepEqual(out.shape, sh.x, `deconv output shape ${label(c)}`);
    const [dy, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), r)))([y, w]);
    return { y: out.dataSync() as Float32Array, dx: dy.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

function assertResultsClose(a: Results, b: Results, tol: number, what: string): void {
  assertClose(a.y, b.y, tol, `${what} forward`);
  assertClose(a.dx, b.dx, tol, `${what} d/dinput`);
  assertClose(a.dw, b.dw, tol, `${what} d/dfilter`);
}

test('sizesDown halves with ceil, odd sizes included', () => {
  assert.deepEqual(sizesDown([28, 28], 2, 2), [[28, 28], [14, 14], [7, 7]]);
  assert.deepEqual(sizesDown([5, 7], 3, 2), [[5, 7], [3, 4], [2, 2], [1, 1]]);
  assert.deepEqual(sizesDown([32, 32], 0, 2), [[32, 32]]);
  assert.deepEqual(sizesDown([9, 10], 1, 3), [[9, 10], [3, 4]]);
});

test('conv2dSame forward equals tf.conv2d same (cpu, both paths)', async () => {
  await useCpu();
  for (const c of CASES) {
    const sh = shapes(c);
    tf.tidy(() => {
      const x = tf.tensor4d(randn(sh.x, 'fx'), sh.x);
      const w = tf.tensor4d(randn(sh.w, 'fw'), sh.w);
      const want = tf.conv2d(x, w, c.s, 'same');
      assert.deepEqual(want.shape, sh.y);
      for (const impl of ['custom', 'native', 'auto'] as const) {
        const got = conv2dSame(x, w, c.s, { impl });
        assert.deepEqual(got.shape, sh.y, `${impl} ${label(c)}`);
        assertClose(got.dataSync(), want.dataSync(), 1e-5, `${impl} ${label(c)}`);
      }
    });
  }
});

test('deconv2dSame gives outHW and is the exact adjoint of conv2dSame (cpu, both paths)', async () => {
  await useCpu();
  for (const c of CASES) {
    const sh = shapes(c);
    tf.tidy(() => {
      const x = tf.tensor4d(randn(sh.x, 'ax'), sh.x);
      const y = tf.tensor4d(randn(sh.y, 'ay'), sh.y);
      const w = tf.tensor4d(randn(sh.w, 'aw'), sh.w);
      for (const impl of ['custom', 'native'] as const) {
        const up = deconv2dSame(y, w, c.s, c.hw, { impl });
        assert.deepEqual(up.shape, sh.x, `${impl} ${label(c)}`);
        const lhs = tf.sum(tf.mul(conv2dSame(x, w, c.s, { impl }), y)).dataSync()[0];
        const rhs = tf.sum(tf.mul(x, up)).dataSync()[0];
        const scale = Math.max(Math.abs(lhs), Math.abs(rhs), 1);
        assert.ok(Math.abs(lhs - rhs) <= 1e-4 * scale, `${impl} ${label(c)}: <conv(x),y> = ${lhs}, <x,deconv(y)> = ${rhs}`);
      }
      // and the custom transpose agrees with tfjs's own
      const want = tf.conv2dTranspose(y, w, sh.x, c.s, 'same');
      assertClose(deconv2dSame(y, w, c.s, c.hw, { impl: 'custom' }).dataSync(), want.dataSync(), 1e-5, `deconv ${label(c)}`);
    });
  }
});

test('deconv2dSame rejects an outHW that the stride does not map to the input', async () => {
  await useCpu();
  tf.tidy(() => {
    const y = tf.zeros([1, 7, 7, 2]) as tf.Tensor4D;
    const w = tf.zeros([4, 4, 1, 2]) as tf.Tensor4D;
    assert.throws(() => deconv2dSame(y, w, 2, [28, 28]), /does not map/);
    assert.deepEqual(deconv2dSame(y, w, 2, [13, 14]).shape, [1, 13, 14, 1]);
  });
});

test('filterGrad lays the gradient out as the [kh, kw, cin, cout] filter', async () => {
  await useCpu();
  tf.tidy(() => {
    // One batch, one output pixel: the gradient is the k x k input window times g.
    const k = 3;
    const xp = tf.tensor4d(Float32Array.from({ length: k * k * 2 }, (_, i) => i), [1, k, k, 2]);
    const g = tf.tensor4d([1, 10], [1, 1, 1, 2]);
    const dw = filterGrad(xp, g, k, 2).arraySync();
    for (let kh = 0; kh < k; kh++) {
      for (let kw = 0; kw < k; kw++) {
        for (let ci = 0; ci < 2; ci++) {
          const v = (kh * k + kw) * 2 + ci;
          assert.deepEqual(dw[kh][kw][ci], [v, 10 * v]);
        }
      }
    }
  });
});

test('custom gradients equal tfjs autograd of conv2d and conv2dTranspose (cpu)', async () => {
  await useCpu();
  for (const c of CASES) {
    assertResultsClose(convResults(c, 'custom'), convResults(c, 'tf'), 1e-4, `conv ${label(c)}`);
    assertResultsClose(deconvResults(c, 'custom'), deconvResults(c, 'tf'), 1e-4, `deconv ${label(c)}`);
  }
});

test('no tensor leaks across a gradient step (both paths)', async () => {
  await useCpu();
  const c = CASES[0];
  const sh = shapes(c);
  const x = tf.tensor4d(randn(sh.x, 'lx'), sh.x);
  const w1 = tf.variable(tf.tensor4d(randn([4, 4, 1, 3], 'lw1'), [4, 4, 1, 3]));
  const w2 = tf.variable(tf.tensor4d(randn([4, 4, 1, 3], 'lw2'), [4, 4, 1, 3]));
  try {
    for (const impl of ['custom', 'native'] as const) {
      const step = () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => {
            const h = tf.relu(conv2dSame(x, w1, 2, { impl }));
            const out = deconv2dSame(h, w2, 2, c.hw, { impl });
            return tf.mean(tf.square(tf.sub(out, x))) as tf.Scalar;
          });
          for (const g of Object.values(grads)) g.dataSync();
          return value.dataSync()[0];
        });
      step();
      const before = tf.memory().numTensors;
      step();
      assert.equal(tf.memory().numTensors, before, `${impl}: tensors leaked`);
    }
  } finally {
    tf.dispose([x, w1, w2]);
  }
});

test('wasm: forward and gradients (the default path) run and equal cpu', async (t) => {
  await useCpu();
  const want = CASES.map((c) => ({ conv: convResults(c, 'tf'), deconv: deconvResults(c, 'tf') }));
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) throw new Error('setBackend(wasm) returned false');
    await tf.ready();
  } catch (err) {
    await useCpu();
    t.skip(`wasm backend cannot load: ${String((err as Error)?.message ?? err).split('\n')[0]}`);
    return;
  }
  try {
    CASES.forEach((c, i) => {
      assertResultsClose(convResults(c, 'auto'), want[i].conv, 1e-4, `wasm conv ${label(c)}`);
      assertResultsClose(deconvResults(c, 'auto'), want[i].deconv, 1e-4, `wasm deconv ${label(c)}`);
    });
  } finally {
    await useCpu();
  }
});
