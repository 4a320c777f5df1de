/**
 * The `tensorflow` backend: @tensorflow/tfjs-node over TensorFlow's C library, as `vae setup
 * tensorflow` installs it (tensorflow-home.ts says where). It must register its backend on the
 * same @tensorflow/tfjs-core instance as ours; setup links it so, and that it reached our engine
 * is checked here, not assumed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { tf } from '../tf.js';
import { firstLine } from './optional.js';
import { BackendUnavailable } from './unavailable.js';
import { readManifest, tensorflowLayout } from './tensorflow-home.js';

const SETUP_HINT = 'run `vae setup tensorflow`: about a minute, on Linux x64 with pip, a C++ compiler and Node.js headers';
const REBUILD_HINT = 'run `vae setup tensorflow --force` to rebuild it';

interface Binding {
  TF_Version?: string;
}

/** Load tfjs-node from this installation's setup and select it; returns the device line. `setup`
 * loads it before its manifest is written, to verify it. */
export async function loadTensorflow(opts: { verifying?: boolean } = {}): Promise<string> {
  const layout = tensorflowLayout();
  if ((!opts.verifying && !readManifest(layout)) || !fs.existsSync(path.join(layout.tfjsNode, 'package.json'))) {
    throw new BackendUnavailable('tensorflow', 'it is not set up on this machine', SETUP_HINT);
  }
  // TensorFlow's C++ start-up notices are not for our users. The oneDNN one is printed whenever
  // oneDNN is on, before any log level applies; on the reference model it is not faster with
  // oneDNN (docs/performance.md), so it is off unless the user sets TF_ENABLE_ONEDNN_OPTS.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '0';
  try {
    createRequire(path.join(layout.install, 'package.json'))('@tensorflow/tfjs-node');
  } catch (err) {
    const line = firstLine(err);
    const lib = /lib[\w.+-]+\.so[.\d]*/.exec(line)?.[0];
    throw new BackendUnavailable('tensorflow', lib ? `@tensorflow/tfjs-node cannot load ${lib}` : `@tensorflow/tfjs-node failed to load: ${line}`, REBUILD_HINT);
  }
  if (!tf.findBackend('tensorflow')) {
    throw new BackendUnavailable('tensorflow', '@tensorflow/tfjs-node registered its backend on another copy of @tensorflow/tfjs-core', REBUILD_HINT);
  }
  if (!(await tf.setBackend('tensorflow'))) throw new BackendUnavailable('tensorflow', '@tensorflow/tfjs-node loaded but its backend did not initialise');
  const version = (tf.backend() as unknown as { binding?: Binding }).binding?.TF_Version;
  return `CPU (TensorFlow ${version ?? '?'} C library)`;
}
