/**
 * Where `vae setup tensorflow` puts the tensorflow backend, and the pinned versions it installs.
 * Read by the backend loader (is it set up? where is @tensorflow/tfjs-node?) and by src/setup.
 *
 *   <cache>/tensorflow/                 <cache>: $VAE_CACHE_DIR, else $XDG_CACHE_HOME/vae, else ~/.cache/vae
 *     tf-2.21.0-cpu/                    shared by every vae installation of this user
 *       lib/                            the wheel's two libraries and the links tfjs-node's build expects
 *       include/                        the 14 C API headers the binding includes
 *       tfjs-node-4.22.0.node           the binding, compiled once against these headers
 *     installs/<id>/                    one per vae installation (id: a hash of its folder)
 *       node_modules/@tensorflow/tfjs-node         with deps/lib -> ../../tf-2.21.0-cpu/lib
 *       node_modules/@tensorflow/tfjs, tfjs-core -> links to that installation's own copies
 *       setup.json                      written last: present means complete
 *
 * The links make tfjs-node register its backend on the very @tensorflow/tfjs-core instance vae
 * uses (not on a second copy, whose version could differ), and they survive `npm ci`, which
 * recreates node_modules at the same path. Nothing is written inside the vae package, so a global
 * install owned by root works too. See docs/backends.md.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The TensorFlow wheel whose C library the binding is built against. */
export const TF_WHEEL = {
  project: 'tensorflow-cpu',
  version: '2.21.0',
  file: 'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl',
  sha256: '2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c',
  /** pip's tags for the wheel itself: the C library does not depend on the Python running pip */
  platform: 'manylinux_2_27_x86_64',
  pythonVersion: '311',
  bytes: 273_829_956,
} as const;

export const TFJS_NODE_VERSION = '4.22.0';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VAE_CACHE_DIR) return path.resolve(env.VAE_CACHE_DIR);
  return path.join(env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'), 'vae');
}

/** The folder of this vae installation (the package root: above dist/ or src/). */
export function vaeRoot(): string {
  return fs.realpathSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'));
}

export interface TensorflowLayout {
  home: string;
  /** libraries, headers and the compiled binding, shared by all installations */
  tf: string;
  lib: string;
  include: string;
  binding: string;
  /** this installation's npm prefix holding @tensorflow/tfjs-node */
  install: string;
  tfjsNode: string;
  manifest: string;
}

export function tensorflowLayout(env: NodeJS.ProcessEnv = process.env, root = vaeRoot()): TensorflowLayout {
  const home = path.join(cacheRoot(env), 'tensorflow');
  const tf = path.join(home, `tf-${TF_WHEEL.version}-cpu`);
  const id = crypto.createHash('sha256').update(root).digest('hex').slice(0, 12);
  const install = path.join(home, 'installs', id);
  return {
    home,
    tf,
    lib: path.join(tf, 'lib'),
    include: path.join(tf, 'include'),
    binding: path.join(tf, `tfjs-node-${TFJS_NODE_VERSION}.node`),
    install,
    tfjsNode: path.join(install, 'node_modules', '@tensorflow', 'tfjs-node'),
    manifest: path.join(install, 'setup.json'),
  };
}

export interface SetupManifest {
  vaeRoot: string;
  tensorflow: string;
  tfjsNode: string;
  wheel: string;
  /** bytes on disk of what setup wrote (libraries, headers, binding, this installation) */
  bytes: number;
  seconds: number;
  date: string;
}

/** The manifest of a complete setup for this installation, or null. */
export function readManifest(layout = tensorflowLayout()): SetupManifest | null {
  try {
    return JSON.parse(fs.readFileSync(layout.manifest, 'utf8')) as SetupManifest;
  } catch {
    return null;
  }
}
