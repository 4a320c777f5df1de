/**
 * The fused training engine: buffers, pipelines and one bind group made once; steps recorded
 * into a compute pass, many per submit; statistics and state read back only when asked.
 * See index.ts for the design.
 */
import { kernelLikelihood, statsColumns, stepKernels, type KernelOptions } from './kernels.js';
import { makePlan, type Plan } from './plan.js';
import { streamKey, STREAM } from './rng.js';
import type { VaeSpec } from '../../model/vae.js';
import { RuntimeFailure } from '../../errors.js';
import { median } from '../../util/median.js';

/** What one step needs from the CPU: written into the step's row of the uniform buffer. */
export interface StepValues {
  /** examples in this batch (the last batch of an epoch may be short) */
  rows: number;
  /** the batch's first position in the epoch's permutation */
  start: number;
  epoch: number;
  /** optimisation steps done before this one (the noise's counter) */
  globalStep: number;
  klWeight: number;
  /** Adam's lr / (1 - beta1^t) and 1 / sqrt(1 - beta2^t) for this update */
  stepSize: number;
  invSqrtBc2: number;
  /**
   * With skipNonFinite: Adam's step count t and learning rate behind stepSize, and how many
   * skipped steps the caller has taken off t so far; the GPU recomputes the bias corrections when
   * it has skipped steps the caller does not know of yet
   */
  adamT?: number;
  lr?: number;
  knownSkips?: number;
}

export interface EngineOptions {
  spec: VaeSpec;
  /** rows per step (the batch size) */
  batch: number;
  /** training images, n x D in [0, 1] (already binarised for static binarisation) */
  images: Float32Array;
  n: number;
  binarize: 'dynamic' | 'none';
  seed: number;
  freeBits: number;
  gradClip: number | null;
  /** importance samples per example (1: the ELBO) */
  iwSamples: number;
  /** non-finite steps to skip before their updates go through (0: none) */
  skipNonFinite: number;
  adam: { beta1: number; beta2: number; epsilon: number };
  /** steps recorded before a submit (a read submits earlier) */
  stepsPerSubmit: number;
  /** the most steps between two reads of the statistics */
  statsCapacity: number;
}

/** Counted by the engine itself (Dawn's own calls are counted in backend/webgpu/counters.ts). */
export interface EngineCounts {
  steps: number;
  submits: number;
  dispatches: number;
  /** milliseconds of CPU spent recording steps and submitting them (not waiting for the GPU) */
  issueMs: number;
}

const ROW = 256; // bytes per step in the uniform buffer (the dynamic-offset alignment)
const STEP_BYTES = 48;

/** Thrown when the device cannot hold the model or data; the caller falls back. */
export class EngineUnsupported extends Error {}

/** Whether every value is a byte over 255 in float32, so images can travel 4 to a word. */
function asBytes(images: Float32Array): Uint8Array | null {
  const out = new Uint8Array(Math.ceil(images.length / 4) * 4);
  for (let i = 0; i < images.length; i++) {
    const k = Math.round(images[i] * 255);
    if (k < 0 || k > 255 || Math.fround(k / 255) !== images[i]) return null;
    out[i] = k;
  }
  return out;
}

export class WebgpuEngine {
  readonly plan: Plan;
  /** each step's statistics row: its width and where the gradient norm and the skipped flag are */
  readonly columns: ReturnType<typeof statsColumns>;
  readonly statsWidth: number;
  readonly counts: EngineCounts = { steps: 0, submits: 0, dispatches: 0, issueMs: 0 };
  private readonly kernels: { pipeline: GPUComputePipeline; groups: [number, number]; label: string }[] = [];
  private readonly buffers: Record<'params' | 'grads' | 'act' | 'mv' | 'images' | 'perm' | 'stats' | 'uniform' | 'statsRead', GPUBuffer>;
  private readonly bindGroup: GPUBindGroup;
  private readonly uniforms: ArrayBuffer;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** steps recorded since the last submit */
  private window = 0;
  /** steps whose statistics have not been read */
  private unread = 0;
  private destroyed = false;

  private constructor(
    private readonly device: GPUDevice,
    private readonly opts: EngineOptions,
    private readonly deviceError: () => string | null,
  ) {
    this.plan = makePlan(opts.spec, opts.batch, opts.iwSamples);
    const plan = this.plan;
    this.columns = statsColumns(opts);
    this.statsWidth = this.columns.width;
    const bytes = asBytes(opts.images);
    const imageBytes = bytes ?? new Uint8Array(opts.images.buffer, opts.images.byteOffset, opts.images.byteLength);
    const limit = device.limits.maxStorageBufferBindingSize;
    const sizes = { images: imageBytes.byteLength, activations: plan.arena.size * 4, 'Adam moments': plan.P * 8 };
    for (const [what, size] of Object.entries(sizes)) {
      if (size > limit) throw new EngineUnsupported(`the ${what} (${(size / 2 ** 20).toFixed(0)} MiB) exceed the device's storage buffer limit (${(limit / 2 ** 20).toFixed(0)} MiB)`);
    }
    const U = GPUBufferUsage;
    const make = (label: string, size: number, usage: number) => device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
    this.buffers = {
      params: make('params', plan.P * 4, U.STORAGE | U.COPY_SRC | U.COPY_DST),
      grads: make('grads', plan.P * 4, U.STORAGE | U.COPY_SRC),
      act: make('activations', plan.arena.size * 4, U.STORAGE | U.COPY_SRC | U.COPY_DST),
      mv: make('adam moments', plan.P * 8, U.STORAGE | U.COPY_SRC | U.COPY_DST),
      images: make('images', imageBytes.byteLength, U.STORAGE | U.COPY_DST),
      perm: make('permutation', opts.n * 4, U.STORAGE | U.COPY_DST),
      stats: make('statistics', opts.statsCapacity * this.statsWidth * 4, U.STORAGE | U.COPY_SRC),
      uniform: make('step values', opts.stepsPerSubmit * ROW, U.UNIFORM | U.COPY_DST),
      statsRead: make('statistics readback', opts.statsCapacity * this.statsWidth * 4, U.MAP_READ | U.COPY_DST),
    };
    device.queue.writeBuffer(this.buffers.images, 0, imageBytes.buffer, imageBytes.byteOffset, Math.ceil(imageBytes.byteLength / 4) * 4);
    this.uniforms = new ArrayBuffer(opts.stepsPerSubmit * ROW);

    const storage = (binding: number, readOnly = false): GPUBindGroupLayoutEntry => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: readOnly ? 'read-only-storage' : 'storage' } });
    const layout = device.createBindGroupLayout({
      label: 'engine',
      entries: [
        storage(0),
        storage(1),
        storage(2),
        storage(3),
        storage(4, true),
        storage(5, true),
        storage(6),
        { binding: 7, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: STEP_BYTES } },
      ],
    });
    const b = this.buffers;
    this.bindGroup = device.createBindGroup({
      layout,
      entries: [
        ...[b.params, b.grads, b.act, b.mv, b.images, b.perm, b.stats].map((buffer, binding) => ({ binding, resource: { buffer } })),
        { binding: 7, resource: { buffer: b.uniform, size: STEP_BYTES } },
      ],
    });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const likelihood = kernelLikelihood(opts.spec);
    if (!likelihood) throw new EngineUnsupported(`the ${opts.spec.likelihood} likelihood is not in the engine`);
    const kopts: KernelOptions = {
      likelihood,
      binarize: opts.binarize,
      byteImages: bytes !== null,
      freeBits: opts.freeBits,
      gradClip: opts.gradClip,
      skipNonFinite: opts.skipNonFinite,
      adam: opts.adam,
      keys: { binarize: streamKey(opts.seed, STREAM.binarize), eps: streamKey(opts.seed, STREAM.eps) },
    };
    for (const k of stepKernels(plan, kopts)) {
      const module = device.createShaderModule({ label: k.label, code: k.code });
      const pipeline = device.createComputePipeline({ label: k.label, layout: pipelineLayout, compute: { module, entryPoint: 'main' } });
      this.kernels.push({ pipeline, groups: k.groups, label: k.label });
    }
  }

  /** Build the engine on a device; fails with the GPU's own message if a kernel does not compile. */
  static async create(device: GPUDevice, opts: EngineOptions, deviceError: () => string | null = () => null): Promise<WebgpuEngine> {
    device.pushErrorScope('validation');
    let engine: WebgpuEngine | undefined;
    try {
      engine = new WebgpuEngine(device, opts, deviceError);
    } finally {
      const err = await device.popErrorScope();
      if (err) {
        engine?.destroy();
        throw new Error(`the fused engine's GPU set-up failed: ${err.message.split('\n')[0]}`);
      }
    }
    return engine;
  }

  /** Kernels per step (each one dispatch). */
  get dispatchesPerStep(): number {
    return this.kernels.length;
  }

  get kernelLabels(): string[] {
    return this.kernels.map((k) => k.label);
  }

  /** Steps recorded but not yet submitted. */
  get recorded(): number {
    return this.window;
  }

  /** The epoch's data order (positions into the images); call before its first step. */
  setOrder(order: Uint32Array): void {
    if (order.length !== this.opts.n) throw new Error(`the order has ${order.length} entries for ${this.opts.n} images`);
    this.flush();
    this.device.queue.writeBuffer(this.buffers.perm, 0, order.buffer, order.byteOffset, order.byteLength);
  }

  /** Record one training step (nothing runs until a submit). */
  step(s: StepValues): void {
    if (this.destroyed) throw new Error('the engine was destroyed');
    if (this.unread >= this.opts.statsCapacity) throw new Error(`more than ${this.opts.statsCapacity} steps without reading their statistics`);
    if (s.rows < 1 || s.rows > this.plan.B || s.start + s.rows > this.opts.n) throw new Error(`bad batch: ${s.rows} rows from ${s.start}`);
    const t0 = performance.now();
    if (!this.pass) {
      this.encoder = this.device.createCommandEncoder({ label: 'training steps' });
      this.pass = this.encoder.beginComputePass({ label: 'training steps' });
    }
    const row = this.window;
    this.pack(row, s);
    const pass = this.pass;
    pass.setBindGroup(0, this.bindGroup, [row * ROW]);
    for (const k of this.kernels) {
      pass.setPipeline(k.pipeline);
      pass.dispatchWorkgroups(k.groups[0], k.groups[1]);
    }
    this.counts.dispatches += this.kernels.length;
    this.counts.steps++;
    this.window++;
    this.unread++;
    this.counts.issueMs += performance.now() - t0;
    if (this.window >= this.opts.stepsPerSubmit) this.submit();
  }

  /** Write a step's values into row `row` of the uniform staging copy (its statistics go to row `unread`). */
  private pack(row: number, s: StepValues): void {
    const u32 = new Uint32Array(this.uniforms, row * ROW, STEP_BYTES / 4);
    const f = new Float32Array(this.uniforms, row * ROW, STEP_BYTES / 4);
    u32.set([s.rows, s.start, s.epoch, s.globalStep >>> 0, this.unread, 0, s.adamT ?? 0, s.knownSkips ?? 0]);
    f[8] = s.klWeight;
    f[9] = s.stepSize;
    f[10] = s.invSqrtBc2;
    f[11] = s.lr ?? 0;
  }

  /**
   * GPU time of each kernel over `steps` training steps with the values `s`, each kernel in a
   * compute pass of its own with timestamps at its start and end: the median per kernel, in
   * microseconds, in step order. The weights, Adam's moments and the skip count are put back
   * afterwards, so profiling leaves training as it was. Null when the device has no timestamp
   * queries. For `vae bench --profile`; training never calls it.
   */
  async profile(s: StepValues, steps: number): Promise<{ label: string; us: number }[] | null> {
    if (!this.device.features.has('timestamp-query')) return null;
    if (this.unread >= this.opts.statsCapacity) throw new Error('read the statistics before profiling');
    const saved = await this.readState();
    const slots = await this.readBuffer('act', this.plan.arena.norm, 4);
    const n = this.kernels.length;
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * n });
    const resolved = this.device.createBuffer({ label: 'timestamps', size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = this.device.createBuffer({ label: 'timestamps readback', size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const times: number[][] = this.kernels.map(() => []);
    try {
      for (let r = 0; r < steps; r++) {
        this.pack(0, s);
        this.device.queue.writeBuffer(this.buffers.uniform, 0, this.uniforms, 0, ROW);
        const enc = this.device.createCommandEncoder({ label: 'profiled step' });
        this.kernels.forEach((k, i) => {
          const pass = enc.beginComputePass({ label: k.label, timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          pass.setBindGroup(0, this.bindGroup, [0]);
          pass.setPipeline(k.pipeline);
          pass.dispatchWorkgroups(k.groups[0], k.groups[1]);
          pass.end();
        });
        enc.resolveQuerySet(querySet, 0, 2 * n, resolved, 0);
        enc.copyBufferToBuffer(resolved, 0, read, 0, 16 * n);
        this.device.queue.submit([enc.finish()]);
        this.counts.submits++;
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        for (let i = 0; i < n; i++) times[i].push(Number(t[2 * i + 1] - t[2 * i]) / 1000);
      }
    } finally {
      querySet.destroy();
      resolved.destroy();
      read.destroy();
      this.writeState(saved.params, saved.m, saved.v);
      this.device.queue.writeBuffer(this.buffers.act, this.plan.arena.norm * 4, slots.buffer, slots.byteOffset, slots.byteLength);
    }
    const err = this.deviceError();
    if (err) throw new RuntimeFailure(`the GPU reported an error while profiling: ${err}`);
    return this.kernels.map((k, i) => ({ label: k.label, us: median(times[i]) }));
  }

  /** Submit the recorded steps, with extra copies appended to the same command buffer. */
  private submit(copies?: (enc: GPUCommandEncoder) => void): void {
    if (!this.encoder && !copies) return;
    const t0 = performance.now();
    let enc = this.encoder;
    if (this.pass) {
      this.pass.end();
      this.device.queue.writeBuffer(this.buffers.uniform, 0, this.uniforms, 0, this.window * ROW);
    }
    enc ??= this.device.createCommandEncoder({ label: 'engine copies' });
    copies?.(enc);
    this.device.queue.submit([enc.finish()]);
    this.counts.submits++;
    this.encoder = null;
    this.pass = null;
    this.window = 0;
    this.counts.issueMs += performance.now() - t0;
  }

  /** Submit whatever is recorded (a submit boundary: the GPU then holds every step so far). */
  flush(): void {
    this.submit();
  }

  private async read(source: GPUBuffer, offset: number, bytes: number, target?: GPUBuffer): Promise<Float32Array> {
    const dst = target ?? this.device.createBuffer({ label: 'readback', size: Math.max(16, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      this.submit((enc) => enc.copyBufferToBuffer(source, offset, dst, 0, bytes));
      await dst.mapAsync(GPUMapMode.READ, 0, Math.max(16, bytes));
      const out = new Float32Array(dst.getMappedRange(0, bytes).slice(0));
      dst.unmap();
      const err = this.deviceError();
      if (err) {
        throw new RuntimeFailure(`the GPU reported an error, so results computed on it cannot be trusted: ${err}`, {
          hint: 'train on --backend wasm instead, and please report this with `vae backends` output',
        });
      }
      return out;
    } finally {
      if (!target) dst.destroy();
    }
  }

  /** The statistics of every step since the last read, statsWidth values per step, in order. */
  async readStats(): Promise<Float32Array> {
    const n = this.unread;
    if (n === 0) return new Float32Array(0);
    const out = await this.read(this.buffers.stats, 0, n * this.statsWidth * 4, this.buffers.statsRead);
    this.unread = 0;
    return out;
  }

  /** Parameters (flat, plan order) and Adam's moments (m then v, each P long). */
  async readState(): Promise<{ params: Float32Array; m: Float32Array; v: Float32Array }> {
    const P = this.plan.P;
    const params = await this.read(this.buffers.params, 0, P * 4);
    const mv = await this.read(this.buffers.mv, 0, P * 8);
    return { params, m: mv.subarray(0, P), v: mv.subarray(P) };
  }

  /** The last step's activations or gradients (tests). */
  async readBuffer(which: 'act' | 'grads', offset: number, count: number): Promise<Float32Array> {
    return this.read(this.buffers[which], offset * 4, count * 4);
  }

  /** Replace the parameters and moments (flat, plan order; moments default to zero). */
  writeState(params: Float32Array, m?: Float32Array, v?: Float32Array): void {
    const P = this.plan.P;
    if (params.length !== P || (m && m.length !== P) || (v && v.length !== P)) throw new Error('state of the wrong size');
    this.flush();
    const q = this.device.queue;
    q.writeBuffer(this.buffers.params, 0, params.buffer, params.byteOffset, P * 4);
    const zeros = new Float32Array(P);
    for (const [arr, at] of [
      [m ?? zeros, 0],
      [v ?? zeros, P * 4],
    ] as const) {
      q.writeBuffer(this.buffers.mv, at, arr.buffer, arr.byteOffset, P * 4);
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.pass) this.pass.end();
    this.pass = null;
    this.encoder = null;
    for (const b of Object.values(this.buffers)) b.destroy();
  }
}
