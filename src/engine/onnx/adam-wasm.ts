/**
 * Adam's update as one pass of WebAssembly SIMD over every parameter at once. onnxruntime would
 * run the update as a dozen elementwise nodes per parameter, each a pass over memory, and pay
 * its per-node cost for each; here one loop reads the gradient, both moments and the value four
 * floats at a time and writes the new moments and value in place.
 *
 * The arithmetic is the step graph's and src/train/adam.ts's, term for term (float32 throughout):
 *
 *   g' = g s                       s: gradient clipping's scale (1 without clipping)
 *   m' = m beta1 + g' (1 - beta1)
 *   v' = v beta2 + g'^2 (1 - beta2)
 *   p' = p - (m' / (sqrt(v') + epsHat)) stepSize
 *
 * with Adam's bias corrections folded into stepSize and epsHat. The module is written byte by
 * byte (src/util/wasm.ts; a few hundred bytes, no toolchain needed) and works on a memory the
 * engine creates, so onnxruntime's inputs and outputs can be views of the same memory.
 */

import { F32, I32, instantiateKernel, op, V128, type KernelSpec, type WasmMemory } from '../../util/wasm.js';

/** The kernel's parameters, in order: byte offsets of p, m, v and g, the byte count, then the scalars. */
const PARAMS = [I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32];
const [P, M, V, G, BYTES, BETA1, C1, BETA2, C2, STEP, EPS, SCALE] = PARAMS.map((_, i) => i);
// locals after the parameters: the byte index, the scalars splatted, three temporaries
const I = PARAMS.length;
const [sBETA1, sC1, sBETA2, sC2, sSTEP, sEPS, sSCALE, tG, tM, tV] = Array.from({ length: 10 }, (_, k) => I + 1 + k);

const at = (base: number) => [...op.get(base), ...op.get(I), ...op.i32Add];
const load = (base: number) => [...at(base), ...op.v128Load];

const KERNEL: KernelSpec = {
  name: 'adam',
  params: PARAMS,
  locals: [I32, ...Array<number>(10).fill(V128)],
  code: [
    // the scalars, splatted once
    ...[
      [BETA1, sBETA1],
      [C1, sC1],
      [BETA2, sBETA2],
      [C2, sC2],
      [STEP, sSTEP],
      [EPS, sEPS],
      [SCALE, sSCALE],
    ].map(([from, to]) => [...op.get(from), ...op.f32x4Splat, ...op.set(to)]),
    op.block,
    op.loop,
    [...op.get(I), ...op.get(BYTES), ...op.i32GeU, ...op.brIf(1)],
    // g' = g s
    [...load(G), ...op.get(sSCALE), ...op.f32x4Mul, ...op.set(tG)],
    // m' = m beta1 + g' (1 - beta1)
    [...at(M), ...load(M), ...op.get(sBETA1), ...op.f32x4Mul, ...op.get(tG), ...op.get(sC1), ...op.f32x4Mul, ...op.f32x4Add, ...op.tee(tM), ...op.v128Store],
    // v' = v beta2 + g'^2 (1 - beta2)
    [...at(V), ...load(V), ...op.get(sBETA2), ...op.f32x4Mul, ...op.get(tG), ...op.get(tG), ...op.f32x4Mul, ...op.get(sC2), ...op.f32x4Mul, ...op.f32x4Add, ...op.tee(tV), ...op.v128Store],
    // p' = p - (m' / (sqrt(v') + epsHat)) stepSize
    [...at(P), ...load(P), ...op.get(tM), ...op.get(tV), ...op.f32x4Sqrt, ...op.get(sEPS), ...op.f32x4Add, ...op.f32x4Div, ...op.get(sSTEP), ...op.f32x4Mul, ...op.f32x4Sub, ...op.v128Store],
    [...op.get(I), ...op.i32(16), ...op.i32Add, ...op.set(I)],
    op.br(0),
    op.end,
    op.end,
  ],
};

export interface AdamScalars {
  beta1: number;
  beta2: number;
  stepSize: number;
  epsHat: number;
  /** gradient clipping's scale (1: none) */
  gradScale: number;
}

type AdamFn = (p: number, m: number, v: number, g: number, bytes: number, beta1: number, c1: number, beta2: number, c2: number, step: number, eps: number, scale: number) => void;

/** The most the four regions may hold together: 2 GiB (the kernel's byte offsets are 32-bit integers). */
export const ARENA_MAX_BYTES = 2 ** 31;

/**
 * Four float32 regions of `floats` each (the values, both moments, the gradient) in one
 * WebAssembly memory, and the update over all of them. `floats` is rounded up to a multiple of
 * four; the padding holds zeros, which the update leaves at zero.
 */
export class AdamArena {
  readonly memory: WasmMemory;
  readonly floats: number;
  readonly p: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly g: Float32Array;
  private readonly run: AdamFn;

  constructor(floats: number) {
    this.floats = Math.ceil(floats / 4) * 4;
    const bytes = this.floats * 4;
    if (4 * bytes > ARENA_MAX_BYTES) throw new RangeError(`${floats} parameters need ${4 * bytes} bytes, above the arena's ${ARENA_MAX_BYTES}`);
    const { memory, fn } = instantiateKernel<AdamFn>(KERNEL, 4 * bytes);
    this.memory = memory;
    this.run = fn;
    const region = (k: number) => new Float32Array(memory.buffer, k * bytes, this.floats);
    [this.p, this.m, this.v, this.g] = [0, 1, 2, 3].map(region);
  }

  /** A view of `size` floats at `offset` in one region (offset a multiple of four keeps SIMD loads aligned). */
  view(region: 'p' | 'm' | 'v' | 'g', offset: number, size: number): Float32Array {
    const r = this[region];
    return new Float32Array(this.memory.buffer, r.byteOffset + offset * 4, size);
  }

  /** One Adam update of every value from the gradient region. */
  update(s: AdamScalars): void {
    this.run(this.p.byteOffset, this.m.byteOffset, this.v.byteOffset, this.g.byteOffset, this.floats * 4, s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.stepSize, s.epsHat, s.gradScale);
  }
}
