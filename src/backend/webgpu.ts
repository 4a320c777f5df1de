/**
 * The webgpu backend: @tensorflow/tfjs-backend-webgpu over Dawn's Node binding (the `webgpu`
 * npm package, which ships its own dawn.node). Both are optional dependencies. Dawn reaches the
 * GPU through Vulkan on Linux, so it needs the Vulkan loader (libvulkan.so.1) and a driver.
 *
 * We pick the adapter ourselves rather than let tfjs-backend-webgpu do it on import, so that we
 * can report its name and tell a real GPU from a software (fallback) adapter such as SwiftShader
 * or lavapipe: `auto` takes only a real GPU; `--backend webgpu` takes what Dawn offers and says
 * so when it is software.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../tf.js';
import { RuntimeFailure } from '../errors.js';
import { firstLine, importOptional, isMissingModule } from './optional.js';
import { BackendUnavailable } from './names.js';
import { probeDawnAdapter } from './webgpu-probe.js';

/** What Dawn's adapter says of itself (GPUAdapterInfo, plus Dawn's older fields). */
export interface WebgpuAdapter {
  /** e.g. "NVIDIA H100 80GB HBM3" or "SwiftShader Device (Subzero)" */
  name: string;
  vendor: string;
  /** a CPU/software implementation, not a GPU */
  fallback: boolean;
}

interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: Set<string>;
  limits: Record<string, number>;
  requestDevice(desc?: unknown): Promise<DeviceLike>;
}
interface DeviceLike {
  lost: Promise<{ message?: string; reason?: string }>;
  limits: Record<string, number>;
  onuncapturederror: ((e: { error: { message: string } }) => void) | null;
  destroy(): void;
}
interface GpuLike {
  requestAdapter(opts?: unknown): Promise<AdapterLike | null>;
}

const HINT =
  'webgpu needs a GPU with a Vulkan driver and the Vulkan loader (Debian: libvulkan1); use --backend wasm (the default) or cpu';

function unavailable(reason: string, hint = HINT): BackendUnavailable {
  return new BackendUnavailable('webgpu', reason, hint);
}

/**
 * Whether this machine shows any GPU device node. `auto` skips webgpu without loading Dawn when
 * there is none (loading it costs a second and its Vulkan loader prints warnings on stderr).
 */
export function gpuDeviceNodes(): string[] {
  const found: string[] = [];
  try {
    for (const f of readdirSync('/dev/dri')) if (f.startsWith('renderD')) found.push(`/dev/dri/${f}`);
  } catch {
    /* no DRI */
  }
  if (existsSync('/dev/nvidia0')) found.push('/dev/nvidia0');
  if (existsSync('/dev/dxg')) found.push('/dev/dxg'); // WSL2
  return found;
}

function describe(info: AdapterInfoLike): { name: string; vendor: string } {
  // Dawn gives `device` as a slug of the device's name ("nvidia-h100-80gb-hbm3") and
  // `description` as the driver's own words; show both when they differ.
  const device = (info.device || info.architecture || '').trim();
  const description = (info.description ?? '').trim();
  const name = device && description && device !== description ? `${device} (${description})` : device || description || 'unnamed adapter';
  return { name, vendor: (info.vendor ?? '').trim() };
}

/** Flags worth setting for training: see docs/performance.md (webgpu). */
function setTrainingFlags(): void {
  // Small ops whose inputs still sit on the CPU would otherwise run there and read results back.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
}

/**
 * Vulkan's window-system code looks for a Wayland session as it loads and, with no
 * XDG_RUNTIME_DIR, prints "error: XDG_RUNTIME_DIR is invalid" twice on stderr. We draw nothing on
 * screen, so give it a private empty folder instead (only when the variable is unset).
 */
function quietVulkan(): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const dir = path.join(os.tmpdir(), `vae-runtime-${process.getuid?.() ?? 'user'}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  } catch {
    /* only cosmetic */
  }
}

/**
 * GPU errors are asynchronous: an invalid pipeline makes a kernel do nothing (wrong numbers, no
 * exception), and Dawn only reports it to this callback (and prints it). We keep the first one and
 * fail the next read of any tensor with it, so that no result computed after it is used or saved.
 */
let deviceError: string | null = null;

function watchDevice(device: DeviceLike): void {
  device.onuncapturederror = (e) => {
    deviceError ??= e.error.message.split('\n')[0].trim();
  };
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') deviceError ??= `the GPU device was lost: ${info.message ?? 'no reason given'}`;
  });
}

interface ReadingBackend {
  read(dataId: object): Promise<unknown>;
}

function failOnDeviceErrors(backend: ReadingBackend): ReadingBackend {
  const read = backend.read.bind(backend);
  backend.read = async (dataId) => {
    const values = await read(dataId);
    if (deviceError) {
      throw new RuntimeFailure(`the GPU reported an error, so results computed on it cannot be trusted: ${deviceError}`, {
        hint: 'train on --backend wasm instead, and please report this with `vae backends` output',
      });
    }
    return values;
  };
  return backend;
}

/**
 * tfjs-backend-webgpu's AddN puts all its inputs in one shader, one storage buffer each, and
 * WebGPU caps storage buffers per shader (8 by default): gradients summed over more than 7 uses
 * of a tensor (IWAE with gradient clipping, for one) made an invalid pipeline and silently wrong
 * gradients. Concat splits its inputs; AddN does not, so we wrap it to sum in chunks.
 */
function addNInChunks(maxInputs: number): void {
  const original = tf.getKernel('AddN', 'webgpu');
  if (!original || maxInputs < 2) return;
  type Info = { dataId: object; shape: number[]; dtype: string };
  type Backend = { disposeData(id: object): void };
  const kernelFunc = original.kernelFunc as unknown as (args: { inputs: Info[]; backend: Backend }) => Info;
  const sum = (inputs: Info[], backend: Backend): Info => {
    if (inputs.length <= maxInputs) return kernelFunc({ inputs, backend });
    const partials: Info[] = [];
    for (let i = 0; i < inputs.length; i += maxInputs) partials.push(sum(inputs.slice(i, i + maxInputs), backend));
    const out = sum(partials, backend);
    for (const p of partials) backend.disposeData(p.dataId);
    return out;
  };
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({ ...original, kernelFunc: (({ inputs, backend }: { inputs: Info[] | Record<string, Info>; backend: Backend }) => sum(Object.values(inputs), backend)) as never });
}

/** What crossed between the CPU and the GPU, counted by wrapping Dawn's entry points. */
export interface GpuCounters {
  /** GPU buffer allocations (tfjs's own upload path makes one per upload) */
  buffersCreated: number;
  /** tensors uploaded from the CPU (a batch, the noise, every fresh scalar) */
  uploads: number;
  uploadBytes: number;
  /** queue.writeBuffer calls (tfjs writes each kernel's uniforms this way) */
  writes: number;
  writeBytes: number;
  /** command buffers submitted */
  submits: number;
  /** readbacks (buffer maps for reading) */
  readbacks: number;
  /** compute dispatches (kernels run) */
  dispatches: number;
}

const counters: GpuCounters = { buffersCreated: 0, uploads: 0, uploadBytes: 0, writes: 0, writeBytes: 0, submits: 0, readbacks: 0, dispatches: 0 };

/** A copy of the counters so far (all zero until webgpu loads). */
export function gpuCounters(): GpuCounters {
  return { ...counters };
}

/** The mean traffic per step over the `steps` steps run since `start` was taken. */
export function gpuCountersPerStep(start: GpuCounters, steps: number): GpuCounters {
  const out = { ...counters };
  for (const k of Object.keys(out) as (keyof GpuCounters)[]) out[k] = (out[k] - start[k]) / steps;
  return out;
}

type Proto = Record<string, (...args: never[]) => unknown>;

function count(cls: unknown, method: string, tally: (args: unknown[]) => void): void {
  const proto = (cls as { prototype?: Proto } | undefined)?.prototype;
  const original = proto?.[method];
  if (!proto || typeof original !== 'function') return;
  proto[method] = function (this: unknown, ...args: never[]) {
    tally(args);
    return original.apply(this, args);
  };
}

function countTraffic(globals: Record<string, unknown>): void {
  count(globals.GPUDevice, 'createBuffer', () => counters.buffersCreated++);
  count(globals.GPUQueue, 'writeBuffer', (a) => {
    counters.writes++;
    counters.writeBytes += (a[4] as number | undefined) ?? (a[2] as ArrayBufferView).byteLength ?? 0;
  });
  count(globals.GPUQueue, 'submit', () => counters.submits++);
  count(globals.GPUBuffer, 'mapAsync', () => counters.readbacks++);
  count(globals.GPUComputePassEncoder, 'dispatchWorkgroups', () => counters.dispatches++);
}

interface TensorData {
  resource: unknown;
  values: ArrayLike<number> | null;
  dtype: string;
  shape: number[];
}
interface UploadingBackend {
  tensorMap: { get(id: object): TensorData };
  bufferManager: { acquireBuffer(size: number, usage: number): unknown };
  queue: { writeBuffer(buffer: unknown, offset: number, data: ArrayBufferLike, dataOffset: number, size: number): void };
  uploadToGPU(dataId: object): void;
}

/**
 * Uploads through queue.writeBuffer into a pooled buffer. tfjs-backend-webgpu uploads each fresh
 * tensor (a batch, the noise, a scalar) through a new mapped staging buffer that it destroys
 * after the next submit: a GPU allocation per upload, the per-op cost that kept steps at ~100 ms
 * on an H100. writeBuffer goes through Dawn's own reusable staging memory instead. It is safe
 * for the same reason tfjs's uniform writes are: a buffer from the pool is used by no recorded,
 * unsubmitted command (tfjs defers releasing those until the submit), and the write is ordered
 * before every later submit. Other dtypes and empty tensors keep tfjs's own path.
 */
function patchUploads(backendClass: { prototype: UploadingBackend }, usage: number, writeBuffer: boolean): void {
  const proto = backendClass.prototype;
  const original = proto.uploadToGPU;
  proto.uploadToGPU = function (this: UploadingBackend, dataId: object) {
    const data = this.tensorMap.get(dataId);
    const n = data.shape.reduce((a, b) => a * b, 1);
    if (data.resource == null && data.values != null) {
      counters.uploads++;
      counters.uploadBytes += n * 4;
    }
    if (!writeBuffer || data.resource != null || data.values == null || n === 0 || !['float32', 'int32', 'bool'].includes(data.dtype)) {
      original.call(this, dataId);
      return;
    }
    const values =
      data.dtype === 'float32'
        ? data.values instanceof Float32Array ? data.values : Float32Array.from(data.values)
        : data.values instanceof Int32Array ? data.values : Int32Array.from(data.values);
    const buffer = this.bufferManager.acquireBuffer(n * 4, usage);
    this.queue.writeBuffer(buffer, 0, values.buffer, values.byteOffset, n * 4);
    data.values = null;
    data.resource = buffer;
  };
}

type WebGPUBackendClass = (new (device: unknown, info: unknown) => unknown) & { prototype: UploadingBackend };

interface Dawn {
  gpu: GpuLike;
  WebGPUBackend: WebGPUBackendClass;
}

let dawn: Promise<Dawn> | undefined;

/**
 * Load Dawn and tfjs's webgpu backend, and patch them, once per process (a retry after a failed
 * adapter request must not wrap the same methods twice).
 */
function loadDawn(): Promise<Dawn> {
  dawn ??= (async () => {
    quietVulkan();
    let mod: DawnModule;
    try {
      mod = (await importOptional('webgpu')) as DawnModule;
    } catch (err) {
      if (isMissingModule(err, 'webgpu')) throw unavailable('the webgpu package (Dawn) is not installed (an optional dependency)', 'npm install webgpu @tensorflow/tfjs-backend-webgpu');
      throw unavailable(`Dawn (the webgpu package) failed to load: ${firstLine(err)}`);
    }
    // Import tfjs's backend before navigator.gpu exists, so that it does not register a factory
    // of its own that would pick an adapter behind our back.
    let backendMod: { WebGPUBackend: WebGPUBackendClass };
    try {
      backendMod = (await importOptional('@tensorflow/tfjs-backend-webgpu')) as typeof backendMod;
    } catch (err) {
      if (isMissingModule(err, '@tensorflow/tfjs-backend-webgpu')) throw unavailable('@tensorflow/tfjs-backend-webgpu is not installed (an optional dependency)', 'npm install @tensorflow/tfjs-backend-webgpu');
      throw err;
    }
    // WebGPU's constants (GPUBufferUsage, GPUMapMode, ...) as globals, as in a browser.
    for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    countTraffic(mod.globals);
    const usage = mod.globals.GPUBufferUsage as { STORAGE: number; COPY_SRC: number; COPY_DST: number };
    // VAE_WEBGPU_TFJS_UPLOADS=1 keeps tfjs's upload path, to measure the difference
    patchUploads(backendMod.WebGPUBackend, usage.STORAGE | usage.COPY_SRC | usage.COPY_DST, process.env.VAE_WEBGPU_TFJS_UPLOADS !== '1');
    return { gpu: mod.create([]), WebGPUBackend: backendMod.WebGPUBackend };
  })();
  // a failed load is not cached: it throws the same way next time
  dawn.catch(() => (dawn = undefined));
  return dawn;
}

/** Choose the adapter, open a device on it and register tfjs's webgpu backend there. */
async function openDevice(): Promise<WebgpuAdapter> {
  const { gpu, WebGPUBackend } = await loadDawn();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw unavailable('Dawn found no WebGPU adapter (no Vulkan driver, or a driver too old for Dawn)');
  const info = adapter.info ?? {};
  const { name, vendor } = describe(info);
  const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter);

  // tfjs-backend-webgpu checks navigator.gpu when it constructs its backend.
  const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: unknown };
  if (!nav.gpu) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });

  // The device, with the adapter's own limits (the defaults cap buffers at 128-256 MiB).
  const limits = adapter.limits;
  // maxStorageBuffersPerShaderStage too: tfjs's AddN binds one buffer per input (see addNInChunks).
  const wanted = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'];
  const requiredLimits = Object.fromEntries(wanted.filter((k) => limits[k] !== undefined).map((k) => [k, limits[k]]));
  const requiredFeatures = ['timestamp-query'].filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  watchDevice(device);
  tf.registerBackend('webgpu', () => failOnDeviceErrors(new WebGPUBackend(device, info) as unknown as ReadingBackend) as never, 3);
  addNInChunks(device.limits.maxStorageBuffersPerShaderStage - 1);
  setTrainingFlags();
  return { name, vendor, fallback };
}

let opened: WebgpuAdapter | undefined;

/**
 * Load Dawn, open a device on its adapter (once per process) and select tfjs's webgpu backend.
 * With requireHardware (auto), a software adapter is refused. Throws BackendUnavailable with one
 * clear reason when it cannot.
 */
export async function loadWebgpu(opts: { requireHardware: boolean }): Promise<WebgpuAdapter> {
  // Without an adapter, say so in one line, without loading Dawn (and its warnings) here.
  quietVulkan();
  if (!opened && (await probeDawnAdapter()).adapter === false) throw unavailable('Dawn found no WebGPU adapter (no Vulkan driver, or a driver too old for Dawn)');
  opened ??= await openDevice();
  if (opts.requireHardware && opened.fallback) throw unavailable(`only a software adapter (${opened.name})`);
  if (!(await tf.setBackend('webgpu'))) throw unavailable('the webgpu backend did not initialise');
  return opened;
}

export function webgpuDeviceLine(a: WebgpuAdapter): string {
  const who = a.vendor && !a.name.toLowerCase().includes(a.vendor.toLowerCase()) ? `${a.vendor} ${a.name}` : a.name;
  return a.fallback ? `WebGPU on ${who} (a software adapter on the CPU: slow, for testing only)` : `WebGPU on ${who}`;
}
