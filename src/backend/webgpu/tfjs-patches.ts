/**
 * What we change in tfjs-backend-webgpu 4.22 so that training on it is correct and cheaper:
 * reads fail after any GPU error, AddN sums in chunks within the storage-buffer limit, uploads go
 * through queue.writeBuffer into pooled buffers, and small ops stay on the GPU.
 */
import { tf } from '../../tf.js';
import { RuntimeFailure } from '../../errors.js';
import { countUpload } from './counters.js';

/** Flags worth setting for training: see docs/performance.md (webgpu). */
export function setTrainingFlags(): void {
  // Small ops whose inputs still sit on the CPU would otherwise run there and read results back.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
}

export interface DeviceLike {
  lost: Promise<{ message?: string; reason?: string }>;
  limits: Record<string, number>;
  onuncapturederror: ((e: { error: { message: string } }) => void) | null;
  destroy(): void;
}

/**
 * GPU errors are asynchronous: an invalid pipeline makes a kernel do nothing (wrong numbers, no
 * exception), and Dawn only reports it to this callback (and prints it). We keep the first one and
 * fail the next read of any tensor with it, so that no result computed after it is used or saved.
 */
let deviceError: string | null = null;

export function watchDevice(device: DeviceLike): void {
  device.onuncapturederror = (e) => {
    deviceError ??= e.error.message.split('\n')[0].trim();
  };
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') deviceError ??= `the GPU device was lost: ${info.message ?? 'no reason given'}`;
  });
}

export interface ReadingBackend {
  read(dataId: object): Promise<unknown>;
}

export function failOnDeviceErrors(backend: ReadingBackend): ReadingBackend {
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
export function addNInChunks(maxInputs: number): void {
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

interface TensorData {
  resource: unknown;
  values: ArrayLike<number> | null;
  dtype: string;
  shape: number[];
}
export interface UploadingBackend {
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
export function patchUploads(backendClass: { prototype: UploadingBackend }, usage: number, writeBuffer: boolean): void {
  const proto = backendClass.prototype;
  const original = proto.uploadToGPU;
  proto.uploadToGPU = function (this: UploadingBackend, dataId: object) {
    const data = this.tensorMap.get(dataId);
    const n = data.shape.reduce((a, b) => a * b, 1);
    if (data.resource == null && data.values != null) countUpload(n * 4);
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

