/**
 * Seeded randomness (src/random.ts): binarisation in WebAssembly draws exactly the stream
 * uniform() gives, value for value, and leaves the generator where uniform() would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/random.js';

test('binarize makes the same draws as uniform(), in order, and continues the stream', () => {
  for (const n of [0, 1, 3, 784, 128 * 784 + 5, 300_000]) {
    const source = Rng.derive(11, 'probabilities', n);
    const p = Float32Array.from({ length: n }, (_, i) => (i % 97 === 0 ? NaN : i % 13 === 0 ? 1 : i % 17 === 0 ? 0 : source.uniform()));
    const viaJs = Rng.derive(7, 'binarize', n);
    const expected = p.map((v) => (viaJs.uniform() < v ? 1 : 0));
    const viaWasm = Rng.derive(7, 'binarize', n);
    const got = viaWasm.binarize(p.slice());
    assert.deepEqual(Array.from(got), Array.from(expected), `n=${n}`);
    assert.equal(viaWasm.uniform(), viaJs.uniform(), 'the next draw is the same');
    assert.deepEqual(viaWasm.state(), viaJs.state());
    if (n > 1000) {
      const ones = got.reduce((a, b) => a + b, 0) / n;
      assert.ok(ones > 0.3 && ones < 0.7, `about half ones (${ones})`);
    }
  }
});

test('binarize keeps a Box-Muller spare and a restored state', () => {
  const a = Rng.derive(3, 'x');
  a.normal(); // leaves a spare
  const b = Rng.fromState(a.state());
  a.binarize(new Float32Array(100).fill(0.5));
  for (let i = 0; i < 100; i++) b.uniform();
  assert.equal(a.normal(), b.normal(), 'the spare survives');
  assert.equal(a.normal(), b.normal());
});

test('binarize refuses a state Alea cannot be in (its integer loop would draw another stream)', () => {
  const state = Rng.derive(5, 'x').state();
  const bad = Rng.fromState({ ...state, alea: { ...state.alea, s1: state.alea.s1 + 2 ** -40 } });
  assert.throws(() => bad.binarize(new Float32Array(4).fill(0.5)), /not a state of Alea/);
});
