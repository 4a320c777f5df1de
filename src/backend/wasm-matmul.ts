/**
 * Faster matrix products on the wasm backend, by re-registering its BatchMatMul and
 * _FusedMatMul kernels with thin wrappers.
 *
 * Why: tfjs-backend-wasm 4.22 sends a product to XNNPACK only when neither operand is
 * transposed and both have batch size 1; every other case runs a naive triple loop in C++.
 * Backpropagation through y = x W asks for exactly those cases (dx = dy W^T, dW = x^T dy), so on
 * the reference MLP (784-400-20, batch 128) the backward pass spent 78 of a step's 87 ms in the
 * slow loop: one 128x784x400 product takes 22 ms with a transpose flag and 1.7 ms without.
 * Transposing the operand first (the wasm Transpose kernel, 0.2 ms for 128x784) and folding a
 * batch of left operands against one shared right operand into a single taller matrix puts all
 * of them on the XNNPACK path. The arithmetic is the same products and sums, in XNNPACK's order.
 *
 * Products where both operands carry a batch (batch > 1 on each side) are passed through
 * unchanged: tfjs has no fast path for them to reach.
 */
import { tf } from '../tf.js';

type Info = tf.TensorInfo;
type Backend = { disposeData(dataId: object): void };
type Kernel = (args: { inputs: Record<string, Info | undefined>; backend: unknown; attrs?: Record<string, unknown> }) => Info;

const sizeOf = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

let installed = false;

/**
 * Wrap the wasm backend's matmul kernels (once; idempotent). Call after
 * `@tensorflow/tfjs-backend-wasm` is imported, before or after the backend is initialised (the
 * wrappers keep the original kernels' setup functions, and delegate to their kernel functions).
 * Returns false, changing nothing, when the kernels it needs are not registered.
 */
export function installWasmMatMul(): boolean {
  if (installed) return true;
  const bmm = tf.getKernel('BatchMatMul', 'wasm');
  const fused = tf.getKernel('_FusedMatMul', 'wasm');
  const transposeK = tf.getKernel('Transpose', 'wasm');
  const reshapeK = tf.getKernel('Reshape', 'wasm');
  if (!bmm || !fused || !transposeK || !reshapeK) return false;
  const transposeF = transposeK.kernelFunc as unknown as Kernel;
  const reshapeF = reshapeK.kernelFunc as unknown as Kernel;
  const bmmF = bmm.kernelFunc as unknown as Kernel;
  const fusedF = fused.kernelFunc as unknown as Kernel;

  /** x with its last two axes swapped (a fresh buffer). */
  const swapLast = (x: Info, backend: unknown): Info => {
    const r = x.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return transposeF({ inputs: { x }, backend, attrs: { perm } });
  };
  const reshape = (x: Info, shape: number[], backend: unknown): Info => reshapeF({ inputs: { x }, backend, attrs: { shape } });

  /**
   * The operands rewritten for the fast path, or null when there is none: a as [1, batchA*M, K],
   * b as [1, K, N], and the shape the [1, batchA*M, N] result must take.
   */
  const rewrite = (a: Info, b: Info, transposeA: boolean, transposeB: boolean, backend: unknown) => {
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
    if (sizeOf(a.shape) === 0 || sizeOf(b.shape) === 0) return null;
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    if (sizeOf(outerB) !== 1) return null; // batched right operand: no fast path to reach
    if (!transposeA && !transposeB && sizeOf(outerA) === 1) return null; // already fast
    const temps: Info[] = [];
    let a2 = a;
    let b2 = b;
    if (transposeA) temps.push((a2 = swapLast(a, backend)));
    if (transposeB) temps.push((b2 = swapLast(b, backend)));
    const [M, K] = a2.shape.slice(-2);
    const N = b2.shape[b2.shape.length - 1];
    const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB), M, N];
    const a3 = reshape(a2, [1, sizeOf(outerA) * M, K], backend);
    const b3 = reshape(b2, [1, K, N], backend);
    temps.push(a3, b3);
    return { a3, b3, outShape, temps };
  };

  const finish = (out: Info, outShape: number[], temps: Info[], backend: unknown): Info => {
    const shaped = reshape(out, outShape, backend);
    for (const t of [out, ...temps]) (backend as Backend).disposeData(t.dataId);
    return shaped;
  };

  const batchMatMul: Kernel = (args) => {
    const { a, b } = args.inputs as { a: Info; b: Info };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const r = rewrite(a, b, transposeA, transposeB, args.backend);
    if (!r) return bmmF(args);
    const out = bmmF({ inputs: { a: r.a3, b: r.b3 }, backend: args.backend, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    return finish(out, r.outShape, r.temps, args.backend);
  };

  const fusedMatMul: Kernel = (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as { a: Info; b: Info; bias?: Info; preluActivationWeights?: Info };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    // prelu weights broadcast against the output's shape, which folding would change
    const r = preluActivationWeights ? null : rewrite(a, b, transposeA, transposeB, args.backend);
    if (!r) return fusedF(args);
    const out = fusedF({ inputs: { a: r.a3, b: r.b3, bias }, backend: args.backend, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    return finish(out, r.outShape, r.temps, args.backend);
  };

  for (const [orig, kernelFunc] of [
    [bmm, batchMatMul],
    [fused, fusedMatMul],
  ] as const) {
    tf.unregisterKernel(orig.kernelName, 'wasm');
    tf.registerKernel({ ...orig, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    ours.add(kernelFunc);
  }
  installed = true;
  return true;
}

const ours = new Set<Kernel>();

/** Whether the wasm backend's two matmul kernels registered now are this file's wrappers. */
export function wasmMatMulActive(): boolean {
  const k = (name: string) => tf.getKernel(name, 'wasm')?.kernelFunc as unknown as Kernel | undefined;
  const bmm = k('BatchMatMul');
  const fused = k('_FusedMatMul');
  return !!bmm && !!fused && ours.has(bmm) && ours.has(fused);
}
