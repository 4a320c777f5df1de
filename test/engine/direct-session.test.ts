/**
 * The onnxruntime session driven through its C API (src/engine/onnx/direct-session.ts): it reads
 * its inputs from and writes its outputs into the caller's own memory, at the given offsets of a
 * WebAssembly memory, without copying; a rebinding takes effect on the next run; onnxruntime's
 * errors arrive as one message; a released session refuses to run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOrt } from '../../src/engine/onnx/engine.js';
import { DirectSession, directSessionUnavailable } from '../../src/engine/onnx/direct-session.js';
import { Graph } from '../../src/engine/onnx/graph.js';
import { AdamArena } from '../../src/engine/onnx/adam-wasm.js';
import { skipWithoutOrt } from '../support/ort.js';

const skip = (await skipWithoutOrt()) || (await directSessionUnavailable()) || false;
if (!skip) await loadOrt();

/** y = a * b + a, and s = sum(a), for a and b of shape [rows, 3]. */
function model(): Uint8Array {
  const g = new Graph();
  const a = g.input('a', [-1, 3]);
  const b = g.input('b', [-1, 3]);
  g.outputAs(g.op('Add', [g.op('Mul', [a, b]), a]), 'y', [-1, 3]);
  g.outputAs(g.op('ReduceSum', [a], { keepdims: 0 }), 's', []);
  return g.encode('direct-session-test');
}

test('a direct session reads and writes the bound memory in place, at its offsets', { skip }, async () => {
  const session = await DirectSession.create(model(), 2);
  try {
    // views at odd offsets into the engine's WebAssembly memory (the Adam arena's four regions)
    const arena = new AdamArena(16);
    arena.v.fill(7);
    const a = arena.view('p', 2, 6);
    const b = arena.view('m', 1, 6);
    const y = arena.view('v', 3, 6);
    const s = arena.view('g', 9, 1);
    a.set([1, 2, 3, 4, 5, 6]);
    b.set([0.5, -1, 2, 0, 3, -2]);
    session.bindInput('a', a, [2, 3]);
    session.bindInput('b', b, [2, 3]);
    session.bindOutput('y', y, [2, 3]);
    session.bindOutput('s', s, []);
    session.run();
    assert.deepEqual(Array.from(y), [1.5, 0, 9, 4, 20, -6]);
    assert.equal(s[0], 21);
    assert.deepEqual([...arena.v.subarray(0, 3), ...arena.v.subarray(9)], Array<number>(10).fill(7), 'nothing written beside y');

    // the same arrays, changed in place, are read again; a rebinding to other rows takes effect
    a[0] = 10;
    session.run();
    assert.equal(y[0], 15);
    const a1 = Float32Array.from([1, 1, 1]);
    const b1 = Float32Array.from([2, 3, 4]);
    const y1 = new Float32Array(3);
    session.bindInput('a', a1, [1, 3]);
    session.bindInput('b', b1, [1, 3]);
    session.bindOutput('y', y1, [1, 3]);
    session.run();
    assert.deepEqual(Array.from(y1), [3, 4, 5]);
    assert.equal(s[0], 3);
  } finally {
    session.release();
  }
});

test("a direct session reports onnxruntime's errors in one message, and refuses to run once released", { skip }, async () => {
  const session = await DirectSession.create(model(), 1);
  session.bindInput('a', new Float32Array(3), [1, 3]);
  session.bindOutput('y', new Float32Array(3), [1, 3]);
  assert.throws(() => session.run(), (err: Error) => /^onnxruntime: .*\bb\b/.test(err.message) && !err.message.includes('\n'));
  session.bindInput('b', new Float32Array(3), [1, 3]);
  session.run();
  assert.throws(() => session.bindInput('a', new Float32Array(4), [1, 3]), /4 values for shape \[1, 3\]/);
  session.release();
  session.release();
  assert.throws(() => session.run(), /released/);
  await assert.rejects(DirectSession.create(Uint8Array.from([1, 2, 3]), 1), /^Error: onnxruntime: /);
});
