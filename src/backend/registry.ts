/**
 * Every compute backend in one table, in `auto`'s order of preference: its name, what it needs,
 * and its loader (which selects it in tfjs and returns the device in words, or throws
 * BackendUnavailable with one clear reason). The names users type, auto's order and
 * `vae backends` all read this table. Adding a backend: a loader file and one entry here.
 */
import { tf } from '../tf.js';
import { loadTfjsNode } from './tfjs-node.js';
import { loadTensorflow } from './tensorflow.js';
import { loadWasm } from './wasm.js';
import { loadWebgpuBackend } from './webgpu/backend.js';

interface BackendEntry {
  name: string;
  /** what it runs on and what it needs, for `vae backends` and the docs */
  description: string;
  /** auto=true: only a real GPU where the backend is a GPU one (never silently the CPU) */
  load(auto: boolean): Promise<string>;
}

export const BACKENDS = [
  { name: 'cuda', description: 'TensorFlow on an NVIDIA GPU (@tensorflow/tfjs-node-gpu)', load: () => loadTfjsNode('cuda') },
  { name: 'webgpu', description: 'WebGPU through Dawn and Vulkan (tfjs-backend-webgpu)', load: (auto) => loadWebgpuBackend(auto) },
  // before wasm: faster in every paired measurement (docs/performance.md#tensorflow)
  { name: 'tensorflow', description: 'TensorFlow 2.21 on the CPU (@tensorflow/tfjs-node, once `vae setup tensorflow` has run)', load: () => loadTensorflow() },
  { name: 'wasm', description: 'WebAssembly SIMD with XNNPACK: the embedded default', load: () => loadWasm() },
  {
    name: 'cpu',
    description: 'plain JavaScript: slow, always works',
    async load() {
      await tf.setBackend('cpu');
      return 'CPU (plain JavaScript)';
    },
  },
] as const satisfies readonly BackendEntry[];

export type ConcreteBackend = (typeof BACKENDS)[number]['name'];
export type BackendName = 'auto' | ConcreteBackend;
export const BACKEND_NAMES: readonly BackendName[] = ['auto', ...BACKENDS.map((b) => b.name)];
