/**
 * Loading the webgpu backend: @tensorflow/tfjs-backend-webgpu over Dawn's Node binding (the `webgpu`
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
import { tf } from '../../tf.js';
import { firstLine, importOptional, isMissingModule } from '../optional.js';
import { BackendUnavailable } from '../unavailable.js';
import { installGpuCounters } from './counters.js';
import { addNInChunks, failOnDeviceErrors, firstDeviceError, patchUploads, setTrainingFlags, watchDevice, type DeviceLike, type ReadingBackend, type UploadingBackend } from './tfjs-patches.js';
import { probeDawnAdapter } from './probe.js';

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
    installGpuCounters(mod.globals);
    const usage = mod.globals.GPUBufferUsage as { STORAGE: number; COPY_SRC: number; COPY_DST: number };
    // VAE_WEBGPU_TFJS_UPLOADS=1 keeps tfjs's upload path, to measure the difference
    patchUploads(backendMod.WebGPUBackend, usage.STORAGE | usage.COPY_SRC | usage.COPY_DST, process.env.VAE_WEBGPU_TFJS_UPLOADS !== '1');
    // Dawn rounds timestamps to 65.536 us by default (a browser's guard against timing attacks),
    // which would hide every kernel of `vae bench --profile`; in Node there is nothing to guard
    return { gpu: mod.create(['disable-dawn-features=timestamp_quantization']), WebGPUBackend: backendMod.WebGPUBackend };
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
  openedDevice = device;
  tf.registerBackend('webgpu', () => failOnDeviceErrors(new WebGPUBackend(device, info) as unknown as ReadingBackend) as never, 3);
  addNInChunks(device.limits.maxStorageBuffersPerShaderStage - 1);
  setTrainingFlags();
  return { name, vendor, fallback };
}

let opened: WebgpuAdapter | undefined;
let openedDevice: DeviceLike | undefined;

/**
 * The GPU device tfjs runs on, once loadWebgpu has opened it, for code that drives WebGPU
 * directly (the fused training engine, src/engine/webgpu); undefined before. Typed loosely here
 * (the engine holds WebGPU's own types).
 */
export function webgpuDevice(): unknown {
  return openedDevice;
}

/** The first GPU error the device reported, or null: results computed after it cannot be trusted. */
export function webgpuDeviceError(): string | null {
  return firstDeviceError();
}

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
