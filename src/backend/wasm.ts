/** The embedded default: tfjs-backend-wasm (SIMD), with XNNPACK for every dense-layer product. */
import { tf } from '../tf.js';
import { installWasmMatMul } from './wasm-matmul.js';
import { firstLine } from './optional.js';
import { BackendUnavailable } from './unavailable.js';

export async function loadWasm(): Promise<string> {
  let mod: { getThreadsCount?: () => number };
  try {
    mod = (await import('@tensorflow/tfjs-backend-wasm')) as typeof mod;
  } catch (err) {
    throw new BackendUnavailable('wasm', `@tensorflow/tfjs-backend-wasm failed to load: ${firstLine(err)}`, 'run npm install');
  }
  // XNNPACK for every dense-layer product, transposed ones included (the backward pass): ~4x
  // faster training steps on the reference MLP. See wasm-matmul.ts.
  const fast = installWasmMatMul();
  // Threads: tfjs-backend-wasm turns its threaded build off in Node (WASM_HAS_MULTITHREAD_SUPPORT
  // is false there), and it caps XNNPACK's pool at half the logical cores, so this is the
  // single-threaded SIMD build. Forcing the threaded build with 2 threads on a 2-core machine made
  // steps slower (37 vs 23 ms, docs/performance.md; bench/wasm-threads.ts), so we keep it; the
  // device line below says how many threads run.
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailable('wasm', 'the WebAssembly module did not initialise');
  const threads = mod.getThreadsCount?.() ?? 1;
  return `WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'}${fast ? '' : ' (without the XNNPACK matmul: about 4x slower training)'}`;
}

