/**
 * Writing small WebAssembly modules byte by byte: the binary format's integers, sections and
 * the handful of instructions this project's kernels use (Adam's update, binarisation). Each
 * kernel is one exported function over a memory the caller creates and imports as env.memory,
 * so JavaScript (and onnxruntime) can read and write the same floats without copies.
 */

/** WebAssembly's unsigned LEB128 integer. */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** WebAssembly's signed LEB128 integer (exact for |n| below 2^53). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = ((n % 128) + 128) % 128;
    n = Math.floor(n / 128);
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const utf8 = (s: string) => [...leb(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];

/** Value types */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** Instructions (those without immediates are their opcode; the others build their bytes). */
export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  br: (depth: number) => [0x0c, ...leb(depth)],
  brIf: (depth: number) => [0x0d, ...leb(depth)],
  end: [0x0b],
  get: (local: number) => [0x20, ...leb(local)],
  set: (local: number) => [0x21, ...leb(local)],
  tee: (local: number) => [0x22, ...leb(local)],
  /** a small non-negative i32 constant (below 64, one byte of signed LEB128) */
  i32: (value: number) => {
    if (!Number.isInteger(value) || value < 0 || value > 63) throw new Error(`i32 constant ${value}: below 64 only`);
    return [0x41, value];
  },
  /** an i64 constant (an integer below 2^53 in magnitude) */
  i64: (value: number) => {
    if (!Number.isSafeInteger(value)) throw new Error(`i64 constant ${value}: a safe integer only`);
    return [0x42, ...sleb(value)];
  },
  f64: (value: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    return [0x44, ...b];
  },
  i32Add: [0x6a],
  i32GeU: [0x4f],
  f32Load: [0x2a, 2, 0],
  f32Store: [0x38, 2, 0],
  f64Load: (offset: number) => [0x2b, 3, ...leb(offset)],
  f64Store: (offset: number) => [0x39, 3, ...leb(offset)],
  f64Lt: [0x63],
  f64Floor: [0x9c],
  f64Add: [0xa0],
  f64Sub: [0xa1],
  f64Mul: [0xa2],
  i64Add: [0x7c],
  i64Mul: [0x7e],
  i64And: [0x83],
  i64ShrU: [0x88],
  i64TruncF64U: [0xb1],
  f64ConvertI64U: [0xba],
  f32ConvertI32U: [0xb3],
  f64PromoteF32: [0xbb],
  // SIMD: the 0xfd prefix, then the instruction's number in LEB128
  v128Load: [0xfd, ...leb(0x00), 4, 0], // 16-byte alignment hint, offset 0
  v128Store: [0xfd, ...leb(0x0b), 4, 0],
  f32x4Splat: [0xfd, ...leb(0x13)],
  f32x4Sqrt: [0xfd, ...leb(0xe3)],
  f32x4Add: [0xfd, ...leb(0xe4)],
  f32x4Sub: [0xfd, ...leb(0xe5)],
  f32x4Mul: [0xfd, ...leb(0xe6)],
  f32x4Div: [0xfd, ...leb(0xe7)],
};

export interface KernelSpec {
  /** the exported function's name */
  name: string;
  params: number[];
  /** locals after the parameters, by type */
  locals: number[];
  /** the function's instructions (the closing `end` is added) */
  code: number[][];
}

/** A module importing env.memory (at least one page) and exporting one function. */
export function kernelModule(k: KernelSpec): Uint8Array {
  const runs: number[][] = [];
  for (const t of k.locals) {
    const last = runs[runs.length - 1];
    if (last && last[1] === t) last[0]++;
    else runs.push([1, t]);
  }
  const fn = [...vec(runs), ...k.code.flat(), ...op.end];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(k.params.map((t) => [t])), 0]])), // one type: params -> ()
    ...section(2, vec([[...utf8('env'), ...utf8('memory'), 0x02, 0x00, 0x01]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...utf8(k.name), 0x00, 0]])),
    ...section(10, vec([[...leb(fn.length), ...fn]])),
  ]);
}

/** The part of the WebAssembly JavaScript API used here (Node.js has it; this project's TypeScript libs do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number }) => WasmMemory;
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

export const WASM_PAGE = 65536;

/** A memory of at least `bytes` and the kernel instantiated on it. */
export function instantiateKernel<F>(k: KernelSpec, bytes: number): { memory: WasmMemory; fn: F } {
  const memory = new Wasm.Memory({ initial: Math.max(1, Math.ceil(bytes / WASM_PAGE)) });
  const instance = new Wasm.Instance(new Wasm.Module(kernelModule(k)), { env: { memory } });
  return { memory, fn: instance.exports[k.name] as F };
}
