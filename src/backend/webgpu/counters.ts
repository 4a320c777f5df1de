/**
 * Opt-in counters of what crosses between the CPU and the GPU, for `vae bench` and
 * bench/webgpu-traffic.ts. Nothing is wrapped or counted unless enableGpuCounters() is called
 * before Dawn loads, so training and every other command pay nothing for them.
 */

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
let enabled = false;

/** Count from now on; call before the webgpu backend loads (its entry points are wrapped then). */
export function enableGpuCounters(): void {
  enabled = true;
}

/** A copy of the counters so far (all zero unless enabled and webgpu loaded). */
export function gpuCounters(): GpuCounters {
  return { ...counters };
}

/** The mean traffic per step over the `steps` steps run since `start` was taken. */
export function gpuCountersPerStep(start: GpuCounters, steps: number): GpuCounters {
  const out = { ...counters };
  for (const k of Object.keys(out) as (keyof GpuCounters)[]) out[k] = (out[k] - start[k]) / steps;
  return out;
}

/** Called by the upload patch for each tensor uploaded from the CPU. */
export function countUpload(bytes: number): void {
  if (!enabled) return;
  counters.uploads++;
  counters.uploadBytes += bytes;
}

type Proto = Record<string, (...args: never[]) => unknown>;

function wrap(cls: unknown, method: string, tally: (args: unknown[]) => void): void {
  const proto = (cls as { prototype?: Proto } | undefined)?.prototype;
  const original = proto?.[method];
  if (!proto || typeof original !== 'function') return;
  proto[method] = function (this: unknown, ...args: never[]) {
    tally(args);
    return original.apply(this, args);
  };
}

/** Wrap Dawn's entry points to count traffic, when counting was enabled (once, at load). */
export function installGpuCounters(globals: Record<string, unknown>): void {
  if (!enabled) return;
  wrap(globals.GPUDevice, 'createBuffer', () => counters.buffersCreated++);
  wrap(globals.GPUQueue, 'writeBuffer', (a) => {
    counters.writes++;
    counters.writeBytes += (a[4] as number | undefined) ?? (a[2] as ArrayBufferView).byteLength ?? 0;
  });
  wrap(globals.GPUQueue, 'submit', () => counters.submits++);
  wrap(globals.GPUBuffer, 'mapAsync', () => counters.readbacks++);
  wrap(globals.GPUComputePassEncoder, 'dispatchWorkgroups', () => counters.dispatches++);
}
