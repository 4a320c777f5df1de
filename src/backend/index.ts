/**
 * Choosing the tfjs backend. `tensorflow` (@tensorflow/tfjs-node over TensorFlow's C library)
 * exists once `vae setup tensorflow` has built it: see tensorflow.ts. `cuda`
 * (@tensorflow/tfjs-node-gpu) loads only where someone installed it; its absence is reported
 * plainly. `webgpu` (Dawn, also optional) runs on a GPU through Vulkan: see webgpu.ts.
 * `wasm` (SIMD) is the embedded default; `cpu` (pure JavaScript) always works. `auto` takes the
 * first of cuda (only with a GPU), webgpu (only a real GPU), tensorflow, wasm, cpu that loads.
 */
import { tf } from '../tf.js';
import { VaeError } from '../errors.js';
import { installWasmMatMul } from './wasm-matmul.js';
import { firstLine, importOptional, isMissingModule } from './optional.js';
import { gpuDeviceNodes, loadWebgpu, webgpuDeviceLine } from './webgpu.js';
import { loadTensorflow } from './tensorflow.js';
import { BackendUnavailable, BACKEND_NAMES, type BackendName, type ConcreteBackend } from './names.js';

export { BackendUnavailable, BACKEND_NAMES, type BackendName, type ConcreteBackend };

export interface BackendReport {
  name: ConcreteBackend;
  /** the tfjs backend name in use */
  tfjs: string;
  /** what it runs on, in words */
  device: string;
  /** for auto: why earlier choices were passed over */
  skipped: { name: ConcreteBackend; reason: string }[];
}

const NODE_HINT = 'vae does not set up a GPU TensorFlow yet (docs/backends.md); use --backend wasm (the default) or cpu';

async function loadTfjsNode(name: 'cuda' | 'tensorflow'): Promise<string> {
  const pkg = name === 'cuda' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  try {
    await importOptional(pkg);
  } catch (err) {
    if (isMissingModule(err, pkg)) {
      throw new BackendUnavailable(name, `${pkg} is not installed`, NODE_HINT);
    }
    const line = firstLine(err);
    const lib = /lib[\w.+-]+\.so[.\d]*/.exec(line)?.[0];
    throw new BackendUnavailable(
      name,
      lib ? `${pkg} cannot load ${lib}` : `${pkg} failed to load: ${line}`,
      name === 'cuda' ? 'tfjs-node-gpu 4.x needs CUDA 11.2 and cuDNN 8.1 on the library path' : undefined,
    );
  }
  if (!(await tf.setBackend('tensorflow'))) throw new BackendUnavailable(name, `${pkg} loaded but its backend did not initialise`);
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean | (() => boolean) };
  const gpu = typeof backend.isUsingGpuDevice === 'function' ? backend.isUsingGpuDevice() : backend.isUsingGpuDevice;
  if (name === 'cuda') {
    if (gpu === false) {
      throw new BackendUnavailable('cuda', 'TensorFlow loaded but registered no GPU (it would silently run on the CPU)', 'tfjs-node-gpu 4.x needs CUDA 11.2 and cuDNN 8.1; check nvidia-smi and LD_LIBRARY_PATH');
    }
    return 'CUDA GPU (libtensorflow)';
  }
  return 'CPU (libtensorflow)';
}

async function loadWasm(): Promise<string> {
  let mod: { getThreadsCount?: () => number };
  try {
    mod = (await import('@tensorflow/tfjs-backend-wasm')) as typeof mod;
  } catch (err) {
    throw new BackendUnavailable('wasm', `@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(err)}`, 'run npm install');
  }
  // XNNPACK for every dense-layer product, transposed ones included (the backward pass): ~4x
  // faster training steps on the reference MLP. See wasm-matmul.ts.
  installWasmMatMul();
  // Threads: tfjs-backend-wasm turns its threaded build off in Node (WASM_HAS_MULTITHREAD_SUPPORT
  // is false there), and it caps XNNPACK's pool at half the logical cores, so this is the
  // single-threaded SIMD build. Forcing the threaded build with 2 threads on a 2-core machine made
  // steps slower (37 vs 23 ms, docs/performance.md; bench/wasm-threads.ts), so we keep it; the
  // device line below says how many threads run.
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailable('wasm', 'the WebAssembly module did not initialise');
  const threads = mod.getThreadsCount?.() ?? 1;
  return `WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'}`;
}

async function loadWebgpuBackend(auto: boolean): Promise<string> {
  // auto: only a real GPU, and without loading Dawn on machines that show no GPU at all
  if (auto && gpuDeviceNodes().length === 0) throw new BackendUnavailable('webgpu', 'no GPU device (/dev/dri/renderD*, /dev/nvidia0)');
  try {
    return webgpuDeviceLine(await loadWebgpu({ requireHardware: auto }));
  } catch (err) {
    if (err instanceof BackendUnavailable) throw err;
    throw new BackendUnavailable('webgpu', firstLine(err), 'use --backend wasm (the default) or cpu');
  }
}

async function loadConcrete(name: ConcreteBackend, auto = false): Promise<string> {
  switch (name) {
    case 'cuda':
      return loadTfjsNode(name);
    case 'tensorflow':
      return loadTensorflow();
    case 'webgpu':
      return loadWebgpuBackend(auto);
    case 'wasm':
      return loadWasm();
    case 'cpu':
      await tf.setBackend('cpu');
      return 'CPU (plain JavaScript)';
  }
}

const AUTO_ORDER: ConcreteBackend[] = ['cuda', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

export function parseBackendName(name: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName;
  throw new VaeError(`unknown backend '${name}'`, { hint: `choose one of ${BACKEND_NAMES.join(', ')}` });
}

/** Select and initialise a backend. Throws BackendUnavailable (one clear line) when it cannot. */
export async function selectBackend(requested: BackendName): Promise<BackendReport> {
  const skipped: BackendReport['skipped'] = [];
  const order = requested === 'auto' ? AUTO_ORDER : [requested];
  for (const name of order) {
    try {
      const device = await loadConcrete(name, requested === 'auto');
      await tf.ready();
      return { name, tfjs: tf.getBackend(), device, skipped };
    } catch (err) {
      if (requested !== 'auto' || !(err instanceof BackendUnavailable)) throw err;
      skipped.push({ name, reason: err.reason });
    }
  }
  throw new VaeError('no backend could be loaded');
}

/** Probe every backend (for `vae backends`). Leaves the cpu backend selected. */
export async function probeBackends(): Promise<{ name: ConcreteBackend; ok: boolean; device?: string; reason?: string; hint?: string }[]> {
  const out = [];
  for (const name of ['cuda', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as ConcreteBackend[]) {
    try {
      out.push({ name, ok: true, device: await loadConcrete(name) });
    } catch (err) {
      if (err instanceof BackendUnavailable) out.push({ name, ok: false, reason: err.reason, hint: err.hint });
      else out.push({ name, ok: false, reason: firstLine(err) });
    }
  }
  await tf.setBackend('cpu');
  return out;
}
