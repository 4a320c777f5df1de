/**
 * Adam's WebAssembly update (src/engine/onnx/adam-wasm.ts) against the same formula in float32
 * JavaScript: bit for bit, over sizes that are not multiples of four, with clipping's scale.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/random.js';
import { AdamArena } from '../../src/engine/onnx/adam-wasm.js';

const f = Math.fround;

test('the wasm Adam update is the float32 formula, value for value, and leaves the padding at zero', () => {
  for (const n of [1, 7, 1000, 65_539]) {
    const a = new AdamArena(n);
    assert.equal(a.floats % 4, 0);
    const r = Rng.derive(2, 'adam', n);
    for (let i = 0; i < n; i++) {
      a.p[i] = r.normal();
      a.m[i] = r.normal() * 0.1;
      a.v[i] = r.uniform() * 0.01;
      a.g[i] = r.normal();
    }
    const p = a.p.slice(0, n);
    const m = a.m.slice(0, n);
    const v = a.v.slice(0, n);
    const s = { beta1: 0.9, beta2: 0.999, stepSize: 3e-3, epsHat: 1e-8, gradScale: 0.625 };
    for (let step = 0; step < 2; step++) {
      for (let i = 0; i < n; i++) {
        const g = f(a.g[i] * f(s.gradScale));
        m[i] = f(f(m[i] * f(s.beta1)) + f(g * f(1 - s.beta1)));
        v[i] = f(f(v[i] * f(s.beta2)) + f(f(g * g) * f(1 - s.beta2)));
        p[i] = f(p[i] - f(f(m[i] / f(f(Math.sqrt(v[i])) + f(s.epsHat))) * f(s.stepSize)));
      }
      a.update(s);
    }
    assert.deepEqual(Array.from(a.m.subarray(0, n)), Array.from(m), `m, n=${n}`);
    assert.deepEqual(Array.from(a.v.subarray(0, n)), Array.from(v), `v, n=${n}`);
    assert.deepEqual(Array.from(a.p.subarray(0, n)), Array.from(p), `p, n=${n}`);
    for (const region of [a.p, a.m, a.v]) assert.ok(region.subarray(n).every((x) => x === 0), 'padding stays zero');
    assert.deepEqual(Array.from(a.view('p', 0, Math.min(n, 3))), Array.from(p.subarray(0, 3)));
  }
});
