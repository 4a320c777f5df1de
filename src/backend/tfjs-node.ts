/**
 * `cuda`: @tensorflow/tfjs-node-gpu, where someone installed it into node_modules (it is not a
 * dependency: its install script downloads libtensorflow from outside the registries). Loaded
 * lazily, its absence reported plainly. `tensorflow` is set up by vae itself: tensorflow.ts.
 */
import { tf } from '../tf.js';
import { firstLine, importOptional, isMissingModule } from './optional.js';
import { BackendUnavailable } from './unavailable.js';

const NODE_HINT = 'vae does not set up a GPU TensorFlow yet, see docs/backends.md; use --backend wasm (the default) or cpu';

export async function loadTfjsNode(name: 'cuda' | 'tensorflow'): Promise<string> {
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

