/**
 * V8 garbage-collector settings for a process that runs training steps back to back.
 *
 * Each CPU-engine step gets its gradients back from onnxruntime-node as freshly allocated
 * ArrayBuffers (about 2.6 MB a step for the reference MLP; the binding copies every output).
 * With V8's default, adaptive heap growth, that garbage can set off a run of full mark-compacts,
 * one every few steps, each a few milliseconds, which often starts after the process sat
 * blocked for a moment; the step then takes 1.5-2.5x as long. And when the event loop goes
 * quiet, V8's memory reducer hands heap pages back to the system, which the next steps fault
 * back in. Both suit a process that mostly idles, not one that trains:
 *
 *   --heap-growing-percent  a fixed growth factor for the heap's limits (V8 picks one between
 *                           1.1 and 4 by itself): full collections stay occasional
 *   --no-memory-reducer     no page return on idle
 *
 * Measured on the reference MLP at batch 128 (the engine's step and Adam, 200 steps after each
 * of three 5-second pauses): 4.2-4.6 ms a step with V8's defaults, a mark-compact every ~60 ms;
 * 2.3-2.8 ms with --heap-growing-percent=200, and none. V8 reads both flags as it goes, so
 * setting them at start-up takes effect.
 */
import v8 from 'node:v8';

/** the V8 flags above (a growth factor of 200%: the limits are 3x what survives a collection) */
export const GC_FLAGS: readonly string[] = ['--heap-growing-percent=200', '--no-memory-reducer'];

/** Applies the settings above to this process (once, at start-up). */
export function tuneGcForTraining(): void {
  for (const flag of GC_FLAGS) v8.setFlagsFromString(flag);
}
