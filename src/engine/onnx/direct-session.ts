/**
 * An onnxruntime session driven through onnxruntime's C API (called with koffi), for the CPU
 * engine's training step. onnxruntime-node copies every output of every run into a fresh
 * ArrayBuffer, even an output the caller preallocated: at batch 128 that is the step's 2.6 MB of
 * gradients, about 1.1 ms of a 3.5 ms call, and garbage for V8 to collect. Here each input and
 * output is an OrtValue made once over memory the engine owns (its WebAssembly arena), and a run
 * is one synchronous call that writes the outputs in place and copies nothing.
 *
 * It loads the onnxruntime library that onnxruntime-node ships (load onnxruntime-node first: the
 * process then holds one onnxruntime). Only the C API's first 101 entries are used, which
 * onnxruntime keeps at fixed places in its function table (the table only grows), so the indices
 * below hold for every release since 1.14.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { KoffiFunction } from 'koffi';

/** A native pointer as koffi hands it over (an opaque external value; null for NULL). */
type Pointer = object | null;

/** The API version asked for: the oldest whose table has every entry used here. */
const API_VERSION = 14;
const LOG_WARNING = 2;
const LOG_FATAL = 4;
const ORT_SEQUENTIAL = 0;
const ORT_ENABLE_ALL = 99;
const ARENA_ALLOCATOR = 1;
const MEM_TYPE_DEFAULT = 0;
const FLOAT = 1;

/** The entries used, by their index in the OrtApi function table, and their C signatures. */
const ENTRIES = {
  GetErrorMessage: [2, 'const char *GetErrorMessage(void *status)'],
  CreateEnv: [3, 'void *CreateEnv(int level, const char *logid, _Out_ void **out)'],
  CreateSessionFromArray: [8, 'void *CreateSessionFromArray(void *env, void *model, size_t bytes, void *options, _Out_ void **out)'],
  Run: [9, 'void *Run(void *session, void *runOptions, void *inNames, void *inValues, size_t nIn, void *outNames, size_t nOut, void *outValues)'],
  CreateSessionOptions: [10, 'void *CreateSessionOptions(_Out_ void **out)'],
  SetSessionExecutionMode: [13, 'void *SetSessionExecutionMode(void *options, int mode)'],
  SetSessionLogSeverityLevel: [22, 'void *SetSessionLogSeverityLevel(void *options, int level)'],
  SetSessionGraphOptimizationLevel: [23, 'void *SetSessionGraphOptimizationLevel(void *options, int level)'],
  SetIntraOpNumThreads: [24, 'void *SetIntraOpNumThreads(void *options, int n)'],
  SetInterOpNumThreads: [25, 'void *SetInterOpNumThreads(void *options, int n)'],
  CreateTensorWithDataAsOrtValue: [49, 'void *CreateTensorWithDataAsOrtValue(void *info, void *data, size_t bytes, void *shape, size_t rank, int type, _Out_ void **out)'],
  CreateCpuMemoryInfo: [69, 'void *CreateCpuMemoryInfo(int allocator, int memType, _Out_ void **out)'],
  ReleaseStatus: [93, 'void ReleaseStatus(void *status)'],
  ReleaseSession: [95, 'void ReleaseSession(void *session)'],
  ReleaseValue: [96, 'void ReleaseValue(void *value)'],
  ReleaseSessionOptions: [100, 'void ReleaseSessionOptions(void *options)'],
} as const;

type CApi = { [K in keyof typeof ENTRIES]: KoffiFunction };

interface Native {
  koffi: Koffi;
  api: CApi;
  env: Pointer;
  memoryInfo: Pointer;
}

let native: Promise<Native> | null = null;

/** The onnxruntime library inside onnxruntime-node's package, for this platform. */
function libraryPath(): string {
  const root = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const names: Partial<Record<NodeJS.Platform, string>> = { linux: 'libonnxruntime.so.1', darwin: 'libonnxruntime.1.dylib', win32: 'onnxruntime.dll' };
  const name = names[process.platform];
  if (!name) throw new Error(`no onnxruntime library for ${process.platform}`);
  return path.join(root, 'bin', 'napi-v6', process.platform, process.arch, name);
}

/** Loads koffi and onnxruntime's C API once (rejects, with the reason, where either is missing). */
function loadNative(): Promise<Native> {
  native ??= import('koffi').then((m) => bind(((m as { default?: Koffi }).default ?? m) as Koffi));
  return native;
}

type Koffi = typeof import('koffi');

function bind(koffi: Koffi): Native {
  if (koffi.sizeof('void *') !== 8) throw new Error('onnxruntime through its C API needs a 64-bit platform');
  const lib = koffi.load(libraryPath());
  const base = lib.func('void *OrtGetApiBase()')() as Pointer;
  const getApi = koffi.decode(koffi.decode(base, 'void *'), koffi.proto('void *OrtGetApi(uint32_t version)')) as KoffiFunction;
  const table = getApi(API_VERSION) as Pointer;
  if (!table) throw new Error(`this onnxruntime does not offer C API version ${API_VERSION}`);
  const api = Object.fromEntries(
    Object.entries(ENTRIES).map(([name, [index, signature]]) => [name, koffi.decode(koffi.decode(table, 8 * index, 'void *'), koffi.proto(signature)) as KoffiFunction]),
  ) as CApi;
  const env = out(api, (o) => api.CreateEnv(LOG_WARNING, 'vae', o));
  const memoryInfo = out(api, (o) => api.CreateCpuMemoryInfo(ARENA_ALLOCATOR, MEM_TYPE_DEFAULT, o));
  return { koffi, api, env, memoryInfo };
}

/** Throws onnxruntime's message where a call returned a status (NULL means success). */
function check(api: CApi, status: Pointer): void {
  if (status === null) return;
  const message = (api.GetErrorMessage(status) as string).trim();
  api.ReleaseStatus(status);
  throw new Error(`onnxruntime: ${message}`);
}

/** Calls a function with one output pointer and returns it. */
function out(api: CApi, call: (o: Pointer[]) => Pointer): Pointer {
  const o: Pointer[] = [null];
  check(api, call(o));
  return o[0];
}

/** Whether the direct path loads here: null, or the reason it does not. */
export async function directSessionUnavailable(): Promise<string | null> {
  try {
    await loadNative();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message.split('\n')[0] : String(err);
  }
}

/** One bound value: an OrtValue over a Float32Array that must stay where it is while bound. */
interface Binding {
  name: string;
  value: Pointer;
  data: Float32Array;
}

/**
 * A session whose inputs and outputs are bound by name to float32 arrays. The arrays are read
 * and written in place by `run()`; each must keep its memory (a WebAssembly memory that does not
 * grow, or an ArrayBuffer of its own) for as long as it is bound.
 */
export class DirectSession {
  private readonly inputs: Binding[] = [];
  private readonly outputs: Binding[] = [];
  /** C strings of the bound names, and the arrays of pointers `Run` takes (rebuilt after a rebinding) */
  private names = new Map<string, Pointer>();
  private pointerArrays: { inNames: BigUint64Array; inValues: BigUint64Array; outNames: BigUint64Array; outValues: BigUint64Array } | null = null;
  private session: Pointer;

  private constructor(
    private readonly n: Native,
    session: Pointer,
  ) {
    this.session = session;
  }

  /** A session for `model` with `threads` for its operators, one node at a time (as createSession sets up onnxruntime-node's). */
  static async create(model: Uint8Array, threads: number): Promise<DirectSession> {
    const n = await loadNative();
    const { api } = n;
    const options = out(api, (o) => api.CreateSessionOptions(o));
    try {
      // a failing run's reason comes back in its status (thrown), not also printed by onnxruntime's logger
      check(api, api.SetSessionLogSeverityLevel(options, LOG_FATAL));
      check(api, api.SetIntraOpNumThreads(options, threads));
      check(api, api.SetInterOpNumThreads(options, 1));
      check(api, api.SetSessionExecutionMode(options, ORT_SEQUENTIAL));
      check(api, api.SetSessionGraphOptimizationLevel(options, ORT_ENABLE_ALL));
      const session = out(api, (o) => api.CreateSessionFromArray(n.env, model, model.byteLength, options, o));
      return new DirectSession(n, session);
    } finally {
      api.ReleaseSessionOptions(options);
    }
  }

  /** Binds a graph input to `data` with shape `dims` (replacing an earlier binding of the name). */
  bindInput(name: string, data: Float32Array, dims: readonly number[]): void {
    this.bind(this.inputs, name, data, dims);
  }

  /** Binds a graph output: `run()` writes it into `data`, which must hold exactly its shape. */
  bindOutput(name: string, data: Float32Array, dims: readonly number[]): void {
    this.bind(this.outputs, name, data, dims);
  }

  private bind(list: Binding[], name: string, data: Float32Array, dims: readonly number[]): void {
    const { api } = this.n;
    if (this.session === null) throw new Error('the session was released');
    if (dims.reduce((a, d) => a * d, 1) !== data.length) throw new Error(`${name}: ${data.length} values for shape [${dims.join(', ')}]`);
    const shape = BigInt64Array.from(dims, (d) => BigInt(d));
    const value = out(api, (o) => api.CreateTensorWithDataAsOrtValue(this.n.memoryInfo, data, data.byteLength, shape, dims.length, FLOAT, o));
    const at = list.findIndex((b) => b.name === name);
    if (at >= 0) {
      api.ReleaseValue(list[at].value);
      list[at] = { name, value, data };
      const arrays = this.pointerArrays;
      if (arrays) (list === this.inputs ? arrays.inValues : arrays.outValues)[at] = this.n.koffi.address(value);
    } else {
      list.push({ name, value, data });
      this.pointerArrays = null;
    }
  }

  /** Runs the graph on the bound inputs, writing the bound outputs (throws onnxruntime's message on failure). */
  run(): void {
    if (this.session === null) throw new Error('the session was released');
    const a = (this.pointerArrays ??= this.buildPointerArrays());
    check(this.n.api, this.n.api.Run(this.session, null, a.inNames, a.inValues, this.inputs.length, a.outNames, this.outputs.length, a.outValues));
  }

  private buildPointerArrays(): NonNullable<DirectSession['pointerArrays']> {
    const { koffi } = this.n;
    const cString = (name: string): Pointer => {
      let p = this.names.get(name);
      if (p === undefined) {
        const bytes = Buffer.from(`${name}\0`, 'utf8');
        p = koffi.alloc('uint8_t', bytes.length) as Pointer;
        new Uint8Array(koffi.view(p, bytes.length)).set(bytes);
        this.names.set(name, p);
      }
      return p;
    };
    const addresses = (list: Binding[], pick: (b: Binding) => Pointer) => BigUint64Array.from(list, (b) => koffi.address(pick(b)));
    return {
      inNames: addresses(this.inputs, (b) => cString(b.name)),
      inValues: addresses(this.inputs, (b) => b.value),
      outNames: addresses(this.outputs, (b) => cString(b.name)),
      outValues: addresses(this.outputs, (b) => b.value),
    };
  }

  /** Frees the session, its values and names (the bound arrays stay the caller's). */
  release(): void {
    const { api, koffi } = this.n;
    if (this.session === null) return;
    for (const b of [...this.inputs, ...this.outputs]) api.ReleaseValue(b.value);
    this.inputs.length = 0;
    this.outputs.length = 0;
    for (const p of this.names.values()) koffi.free(p);
    this.names.clear();
    this.pointerArrays = null;
    api.ReleaseSession(this.session);
    this.session = null;
  }
}
