/**
 * Bernoulli binarisation with seedrandom's Alea generator, as one WebAssembly loop: each value
 * p becomes 1 when the next uniform draw u is below p (u < p, in doubles, as JavaScript
 * compares them), else 0. It draws exactly the stream Alea's JavaScript `next()` would:
 *
 *   t = 2091639 s0 + c 2^-32;  s0 = s1;  s1 = s2;  c = t | 0;  s2 = t - c;  u = s2
 *
 * so a run binarises the same pixels whichever does the work. Alea's s are multiples of 2^-32
 * in [0, 1) and c an integer below 2091640, so every double in that line is exact: in units of
 * 2^-32 it is integer arithmetic on T = 2091639 S0 + c (below 2^53), with c the high bits of T
 * and S2 the low 32. The loop runs it on 64-bit integers, where the chain from one draw's c to
 * the next is an add and a shift (in doubles it was a multiply, an add and a floor, five times
 * as long, and it bounded the whole loop), and u = S2 2^-32 is the same double as Alea's s2.
 */
import { F64, I64, I32, instantiateKernel, op, type KernelSpec, type WasmMemory } from './wasm.js';

/** Alea's state, as seedrandom's `state()` gives it. */
export interface AleaState {
  s0: number;
  s1: number;
  s2: number;
  c: number;
}

const TWO_32 = 2 ** 32;

// the state lives at bytes 0..31 (S0, S1, S2 in units of 2^-32, and c, as doubles), the values from byte 32
const DATA = 32;
const [START, END] = [0, 1];
const [S0, S1, S2, C, T] = [2, 3, 4, 5, 6];

const KERNEL: KernelSpec = {
  name: 'binarize',
  params: [I32, I32],
  locals: [I64, I64, I64, I64, I64],
  code: [
    ...[S0, S1, S2, C].map((local, k) => [...op.i32(0), ...op.f64Load(8 * k), ...op.i64TruncF64U, ...op.set(local)]),
    op.block,
    op.loop,
    [...op.get(START), ...op.get(END), ...op.i32GeU, ...op.brIf(1)],
    // T = 2091639 S0 + c;  S0 = S1;  S1 = S2;  c = T >> 32;  S2 = T mod 2^32
    [...op.get(S0), ...op.i64(2091639), ...op.i64Mul, ...op.get(C), ...op.i64Add, ...op.set(T)],
    [...op.get(S1), ...op.set(S0), ...op.get(S2), ...op.set(S1)],
    [...op.get(T), ...op.i64(32), ...op.i64ShrU, ...op.set(C)],
    [...op.get(T), ...op.i64(TWO_32 - 1), ...op.i64And, ...op.set(S2)],
    // value = (u < p) as 0 or 1, u = S2 2^-32
    [...op.get(START), ...op.get(S2), ...op.f64ConvertI64U, ...op.f64(2 ** -32), ...op.f64Mul, ...op.get(START), ...op.f32Load, ...op.f64PromoteF32, ...op.f64Lt, ...op.f32ConvertI32U, ...op.f32Store],
    [...op.get(START), ...op.i32(4), ...op.i32Add, ...op.set(START)],
    op.br(0),
    op.end,
    op.end,
    ...[S0, S1, S2, C].map((local, k) => [...op.i32(0), ...op.get(local), ...op.f64ConvertI64U, ...op.f64Store(8 * k)]),
  ],
};

let kernel: { memory: WasmMemory; fn: (start: number, end: number) => void } | null = null;

/** Binarises `values` in place with the stream at `state`; returns the state after its draws. */
export function binarizeAlea(state: AleaState, values: Float32Array): AleaState {
  const bytes = DATA + values.length * 4;
  kernel ??= instantiateKernel(KERNEL, Math.max(bytes, 1 << 20));
  if (kernel.memory.buffer.byteLength < bytes) kernel.memory.grow(Math.ceil((bytes - kernel.memory.buffer.byteLength) / 65536));
  const buffer = kernel.memory.buffer;
  const s = new Float64Array(buffer, 0, 4);
  s.set([state.s0 * TWO_32, state.s1 * TWO_32, state.s2 * TWO_32, state.c]);
  if (!s.every((v) => Number.isInteger(v) && v >= 0 && v < TWO_32)) throw new Error(`not a state of Alea: ${JSON.stringify(state)}`);
  const data = new Float32Array(buffer, DATA, values.length);
  data.set(values);
  kernel.fn(DATA, bytes);
  values.set(data);
  return { s0: s[0] / TWO_32, s1: s[1] / TWO_32, s2: s[2] / TWO_32, c: s[3] };
}
