/**
 * A fused WebGPU training engine for MLP VAEs, written directly against WebGPU (Dawn's Node
 * binding) in our own WGSL. `vae train --backend webgpu` uses it for every config it supports
 * (`engineSupport` says which, and why not) and tfjs-backend-webgpu for the rest.
 *
 * Why: tfjs runs a training step of the reference model as ~231 separate kernels and 15
 * submits, each with its own uniform upload, bind group and bookkeeping on the CPU; the step's
 * arithmetic (~0.5 GFLOP at batch 128) is small next to that overhead. Here a step is 14
 * dispatches (configs/mnist.json) and many steps share one submit.
 *
 * Buffers (made once; plan.ts lays them out, in float32 elements):
 *   params   every parameter, flat, in the checkpoint's order (a layer's kernel, then its bias)
 *   grads    the same layout: each step's gradient
 *   mv       Adam's first moments, then its second moments (2 x params)
 *   act      the activation arena: the batch, each layer's output and delta, mu, log sigma^2,
 *            eps, z, per-dimension KL, per-pixel log p(x|z), per-row log p(x|z) and importance
 *            weights, the free-bits mask, the norm, the skip flag and count (plan.ts)
 *   images   the training set, uploaded once (as bytes when every pixel is k/255, else float32)
 *   perm     the epoch's data order (the same seeded permutation as every other backend)
 *   stats    one row of statistics per step since the last read (recon, kl, klWeighted,
 *            bound[, gradNorm][, skipped]), read back once per train.logEvery
 *   uniform  one 256-byte row of per-step values per step of a submit (batch size and start,
 *            epoch, step counter, KL weight, Adam's step size, bias correction, step count and
 *            learning rate), bound with a dynamic offset: one writeBuffer per submit, none
 *            between steps
 * One bind group layout and one bind group hold all eight; every kernel uses them.
 *
 * Kernels (kernels.ts; sizes and offsets are compile-time constants), per step, in order:
 *   gather      x = the batch's rows from images via perm, binarised on the fly (dynamic)
 *   forward     per encoder layer: act(x W + b), a tiled GEMM with the bias and activation fused
 *   latent      mu and log sigma^2 (both heads in one pass), clip, the closed-form KL per
 *               dimension, and for each of the K samples eps from the RNG, z = mu + sigma eps
 *   forward     per decoder hidden layer, on K * B rows (row k B + b: sample k of example b)
 *   output      the output layer's GEMM fused with log p(x|z) per pixel and d loss / d output
 *               (the discretised logistic: the GEMM, then a kernel pairing location and scale)
 *   per row     log p(x|z) and the KL of each row, one workgroup per row
 *   statistics  batch means into the step's stats row; the free-bits mask. With K > 1 instead:
 *               the log weights, their log-sum-exp (L_K) and normalised weights alpha; then
 *               each row's output gradient scaled by its alpha
 *   backward    per layer: the weight gradient as one GEMM whose extra row of ones gives the
 *               bias gradient (the bias follows its kernel in params), and the delta of the
 *               layer below as a GEMM with the activation's derivative fused
 *   latent grad d/d mu and d/d log sigma^2 through z and the KL (beta, warm-up, free bits)
 *   sigma grad  a learned Gaussian sigma's gradient (only then)
 *   norm        with train.gradClip or train.skipNonFinite: partial sums of squares and
 *               non-finite flags over many workgroups; then the global gradient norm (clipping)
 *   finite      with train.skipNonFinite: NaN/Inf in the loss or any gradient (by their bits)
 *               sets the skip flag while the allowance lasts, and the stats row's last column
 *   adam        one update over every parameter, clipping folded in; nothing on a skipped
 *               step, and after skips the CPU has not read yet, bias corrections for t - skips
 * 9 + 6 per hidden layer (forward, delta and weight gradient, in the encoder and the decoder):
 * 15 for 784-400-20, +2 with clipping, +1 for a learned sigma, +1 for the logistic, +1 for
 * IWAE (any K), +2 with train.skipNonFinite (+1 beside clipping).
 *
 * Large sums go through many workgroups first (per row, or per 4,096 gradients), so that a
 * GPU's many cores share them; a single workgroup only adds up the small results. (Free bits'
 * per-dimension KL and a learned per-pixel sigma's gradient remain a loop over the batch per
 * dimension or pixel.)
 *
 * Steps and submits: `step()` records a step's dispatches into the open compute pass (no GPU
 * work, no allocation); after `stepsPerSubmit` steps, or at `flush()`, `readStats()` or
 * `readState()`, the pass is ended, the window's step rows are written with one writeBuffer
 * and everything is submitted as one command buffer. A read appends its copy to that command
 * buffer. So the training loop can stop, read the weights (`readState`) or checkpoint at any
 * submit boundary; with the defaults (reads every train.logEvery = 20 steps) a step costs
 * 1/20 of a submit.
 *
 * Random numbers (rng.ts): a counter-based hash keyed by (seed, stream), so nothing is stored:
 * eps of step t, element i is normal(key_eps, t, i); the dynamic binarisation of pixel p of
 * example e in epoch k is uniform(key_bin, k, e * D + p) < intensity. Runs repeat on the same
 * device, a resumed run draws what an uninterrupted one would, and the same functions in
 * JavaScript let the tests give the cpu reference the GPU's own draws.
 *
 * State goes in and out as flat arrays (`writeState`, `readState`) in the checkpoint's order,
 * so the usual checkpoint format, `vae sample`, `vae eval` and `--resume` (on any backend)
 * work unchanged.
 */
import type { VaeSpec } from '../../model/vae.js';

import { kernelLikelihood } from './kernels.js';

export { WebgpuEngine, EngineUnsupported, type StepValues } from './engine.js';

/** What the engine needs to know about a training config to say whether it can run it. */
export interface EngineRequest {
  spec: VaeSpec;
}

/**
 * Whether the fused engine runs this config, and if not, why (said on the start line). Sizes are
 * checked against the device when the engine is made (EngineUnsupported).
 */
export function engineSupport(r: EngineRequest): { ok: true } | { ok: false; reason: string } {
  const no = (reason: string) => ({ ok: false as const, reason });
  if (r.spec.arch !== 'mlp') return no(`it runs mlp models only (model.arch is '${r.spec.arch}')`);
  if (!kernelLikelihood(r.spec)) return no(`the ${r.spec.likelihood} likelihood is not in it`);
  return { ok: true };
}
