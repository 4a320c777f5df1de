/**
 * Choosing the tfjs backend from the table in registry.ts: a named one, or for `auto` the first
 * that loads in the table's order (cuda only with a GPU, webgpu only on a real GPU, then
 * tensorflow, wasm, cpu).
 */
import os from 'node:os';
import { tf } from '../tf.js';
import { VaeError } from '../errors.js';
import { firstLine } from './optional.js';
import { BackendUnavailable } from './unavailable.js';
import { BACKENDS, BACKEND_NAMES, type BackendName, type ConcreteBackend } from './registry.js';

export { BACKEND_NAMES, type BackendName, type ConcreteBackend };

export interface BackendReport {
  name: ConcreteBackend;
  /** the tfjs backend name in use */
  tfjs: string;
  /** what it runs on, in words */
  device: string;
  /** for auto: why earlier choices were passed over */
  skipped: { name: ConcreteBackend; reason: string }[];
}

export function parseBackendName(name: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName;
  throw new VaeError(`unknown backend '${name}'`, { hint: `choose one of ${BACKEND_NAMES.join(', ')}` });
}

/** The most memory a backend can give tensors, and how to say so ("the wasm backend can address" 4 GiB). */
export function memoryLimit(name: ConcreteBackend): { bytes: number; what: string } {
  // WebAssembly's memory is 32-bit: its heap cannot grow past 4 GiB, whatever the machine has.
  if (name === 'wasm') return { bytes: 2 ** 32, what: 'the wasm backend can address' };
  // A GPU's own memory is not known before allocating; the machine's bounds it here.
  return { bytes: os.totalmem(), what: 'this machine has' };
}

/** Select and initialise a backend. Throws BackendUnavailable (one clear line) when it cannot. */
export async function selectBackend(requested: BackendName): Promise<BackendReport> {
  const skipped: BackendReport['skipped'] = [];
  const auto = requested === 'auto';
  for (const entry of BACKENDS.filter((b) => auto || b.name === requested)) {
    try {
      const device = await entry.load(auto);
      await tf.ready();
      return { name: entry.name, tfjs: tf.getBackend(), device, skipped };
    } catch (err) {
      if (!auto || !(err instanceof BackendUnavailable)) throw err;
      skipped.push({ name: entry.name, reason: err.reason });
    }
  }
  throw new VaeError('no backend could be loaded');
}

/** Probe every backend (for `vae backends`). Leaves the cpu backend selected. */
export async function probeBackends(): Promise<{ name: ConcreteBackend; description: string; ok: boolean; device?: string; reason?: string; hint?: string }[]> {
  const out = [];
  for (const { name, description, load } of BACKENDS) {
    try {
      out.push({ name, description, ok: true, device: await load(false) });
    } catch (err) {
      if (err instanceof BackendUnavailable) out.push({ name, description, ok: false, reason: err.reason, hint: err.hint });
      else out.push({ name, description, ok: false, reason: firstLine(err) });
    }
  }
  await tf.setBackend('cpu');
  return out;
}
