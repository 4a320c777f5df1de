/**
 * The Bernoulli's sum of log sigmoid(|l|) (products of pixel groups, one Log per group) against
 * the same sum pixel by pixel in float64, for row widths with and without a divisor to group by,
 * logits from -90 to 90 and both with and without the caller's sigmoid.
 *
 * The discretised logistic's per-pixel terms in the CPU engine's graphs (src/engine/onnx/terms.ts)
 * against the tfjs likelihood they stand for: log p and its derivatives by the location and the
 * raw log-scale, from tfjs's autograd on the cpu backend, pixel by pixel at hand-picked points
 * in each kind of bin (both ends, wide and narrow bins, a wide scale, the log-scale floor).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../../src/tf.js';
import { logistic } from '../../../src/model/likelihoods/logistic.js';
import { Graph } from '../../../src/engine/onnx/graph.js';
import { logisticTerms, sumLogSigmoidAbs } from '../../../src/engine/onnx/terms.js';
import { createSession, loadOrt } from '../../../src/engine/onnx/engine.js';
import { useCpu } from '../../support/helpers.js';
import { skipWithoutOrt } from '../../support/ort.js';

before(useCpu);

const skip = await skipWithoutOrt();

/** [x, location, raw log-scale, the bin's kind] */
const POINTS: [number, number, number, 'end' | 'wide' | 'narrow'][] = [
  [0, 0.3, Math.log(0.1), 'end'],
  [0, -0.2, -7.5, 'end'], // below the floor: no gradient into the raw log-scale
  [1, 0.6, -1, 'end'],
  [1, 1.3, -7, 'end'], // at the floor: the gradient passes
  [128 / 255, 0.48, Math.log(0.05), 'wide'],
  [128 / 255, 0.5, -8, 'wide'],
  [51 / 255, 0.201, 3, 'wide'], // a wide scale: 1 - e^-a for a of 2e-4
  [230 / 255, 0.05, Math.log(0.02), 'narrow'],
  [77 / 255, 0.9, -3, 'narrow'],
  [20 / 255, 0.7, Math.log(0.03), 'narrow'],
];

test("the engine's logistic terms equal tfjs's log p and autograd, bin by bin", { skip }, async () => {
  const N = POINTS.length;
  const [xs, locs, raws] = [0, 1, 2].map((k) => Float32Array.from(POINTS, (p) => p[k] as number));
  // tfjs: one pixel per row, so each row's log p is the pixel's and the gradients are per pixel
  const x = tf.tensor2d(xs, [N, 1]);
  const f = (loc: tf.Tensor, raw: tf.Tensor) => tf.sum(logistic.logProb(x, tf.concat([loc, raw], 1)));
  const refLogP = await logistic.logProb(x, tf.concat([tf.tensor2d(locs, [N, 1]), tf.tensor2d(raws, [N, 1])], 1)).data();
  const [gLoc, gRaw] = tf.grads(f)([tf.tensor2d(locs, [N, 1]), tf.tensor2d(raws, [N, 1])]);
  const [refLoc, refRaw] = [await gLoc.data(), await gRaw.data()];

  const g = new Graph();
  const inputs = ['x', 'loc', 'raw'].map((name) => g.input(name, [N]));
  // the decoder's layout: N locations, then N raw log-scales
  const t = logisticTerms(g, inputs[0], g.op('Concat', [inputs[1], inputs[2]], { axis: 0 }), N, 0, true);
  g.outputAs(t.logPx, 'logPx', [N]);
  g.outputAs(t.dLoc!, 'dLoc', [N]);
  g.outputAs(t.dRaw!, 'dRaw', [N]);
  const ort = await loadOrt();
  const session = await createSession(ort, g.encode('logistic-terms'), 1);
  const out = await session.run({ x: new ort.Tensor('float32', xs, [N]), loc: new ort.Tensor('float32', locs, [N]), raw: new ort.Tensor('float32', raws, [N]) });
  await session.release();
  const [logP, dLoc, dRaw] = ['logPx', 'dLoc', 'dRaw'].map((k) => out[k].data as Float32Array);

  const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
  POINTS.forEach(([px, , raw, kind], i) => {
    const at = `x ${px.toFixed(3)}, loc ${locs[i]}, raw ${raw.toFixed(2)} (${kind})`;
    // a narrow bin's mass is below 1e-5 (density x width there), a wide one's above
    if (kind === 'wide') assert.ok(refLogP[i] > Math.log(1e-5), `${at}: a wide bin (${refLogP[i]})`);
    if (kind === 'narrow') assert.ok(refLogP[i] < Math.log(1e-5), `${at}: a narrow bin (${refLogP[i]})`);
    assert.ok(close(logP[i], refLogP[i], 1e-5), `${at}: log p ${logP[i]}, tfjs ${refLogP[i]}`);
    assert.ok(close(dLoc[i], refLoc[i], 1e-4), `${at}: d/d loc ${dLoc[i]}, tfjs ${refLoc[i]}`);
    assert.ok(close(dRaw[i], refRaw[i], 1e-4), `${at}: d/d raw ${dRaw[i]}, tfjs ${refRaw[i]}`);
  });
  assert.ok(refRaw[1] === 0 && dRaw[1] === 0, 'below the floor no gradient reaches the raw log-scale');
  assert.notEqual(refRaw[3], 0, 'at the floor it does');
  tf.dispose([x, gLoc, gRaw]);
});

test("the Bernoulli's log sigmoid(|l|), summed by products of pixel groups, equals the sum of each pixel's log", { skip }, async () => {
  const ort = await loadOrt();
  // 784: groups of 112; 36: one group of 36; 787 is prime: pixel by pixel
  for (const D of [784, 36, 787]) {
    const rows = 5;
    const l = new Float32Array(rows * D);
    for (let i = 0; i < l.length; i++) l[i] = Math.fround(Math.sin(i * 12.9898) * 90 * ((i % 7) / 6)); // -90..90, many near 0
    l.fill(0, 0, D); // a row of even odds: 2^-D if the whole row were one product, 0 in float32
    for (let d = 0; d < D; d++) l[D + d] = Math.fround(0.01 * (d % 5)); // a row of near-even odds
    for (const withSigmoid of [false, true]) {
      const g = new Graph();
      const input = g.input('l', ['rows', D]);
      g.outputAs(sumLogSigmoidAbs(g, input, 2, D, withSigmoid ? g.op('Sigmoid', [input]) : undefined), 'sum', ['rows']);
      const session = await createSession(ort, g.encode('log-sigmoid-abs'), 1);
      const got = (await session.run({ l: new ort.Tensor('float32', l, [rows, D]) })).sum.data as Float32Array;
      await session.release();
      for (let r = 0; r < rows; r++) {
        let want = 0;
        for (let d = 0; d < D; d++) want -= Math.log1p(Math.exp(-Math.abs(l[r * D + d])));
        // float32 products of 112 values: a few 1e-6 of a nat per group, relative to the row's sum
        assert.ok(Math.abs(got[r] - want) <= 2e-6 * Math.abs(want) + 1e-5, `D ${D}, row ${r}, ${withSigmoid ? "the caller's sigmoid" : 'sigmoid(|l|)'}: ${got[r]} vs ${want}`);
      }
    }
  }
});
