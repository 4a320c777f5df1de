/**
 * The PyTorch reference (bench/torch_reference.py): finding it and a Python that can run it,
 * and running it with the same model sizes and batch as the config being timed.
 */
import { spawnSync } from 'node:child_process';
import type { Launcher } from './launcher.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VaeError } from '../errors.js';
import { mnistDataDir } from '../data/mnist.js';
import type { Config } from '../config/schema.js';

/** What the reference prints (one JSON line). */
export interface TorchResult {
  ms_per_step: number;
  impl: string;
  threads: number;
  epoch_s?: number;
  /** cpu or cuda */
  device: string;
}

/** The reference script shipped with the package (bench/ beside dist/ and src/). */
export const DEFAULT_TORCH_SCRIPT = fileURLToPath(new URL('../../bench/torch_reference.py', import.meta.url));

/** Where a Python with torch is looked for, in order: $VAE_PYTHON, a virtual environment in the working folder, then the PATH's. */
const PYTHON_CANDIDATES = (cwd: string): string[] => {
  const venvs = ['.venv', 'venv'].map((d) => path.resolve(cwd, d, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python')).filter((p) => fs.existsSync(p));
  return [...new Set([process.env.VAE_PYTHON, ...venvs, 'python3', 'python', '/usr/bin/python3'].filter((p): p is string => !!p))];
};

/** How to get a current PyTorch (README says the same). */
const TORCH_INSTALL_HINT = 'install a current one: python3 -m venv .venv && .venv/bin/pip install torch numpy (then vae bench --torch finds .venv by itself)';

/** torch's version as `python` imports it (with numpy), or null where it cannot. */
function torchVersion(python: string): string | null {
  const r = spawnSync(python, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  return r.status === 0 ? r.stdout.trim().split('\n').pop()! : null;
}

/** The major version of a torch version string ('2.13.0+cpu' -> 2). */
function torchMajor(version: string): number {
  return Number.parseInt(version, 10);
}

/** One line when the torch found is older than 2.0, whose CPU times are far slower than a current build's; else null. */
export function oldTorchWarning(found: { version: string }): string | null {
  if (!(torchMajor(found.version) < 2)) return null;
  const short = found.version.split('+')[0].split('.').slice(0, 2).join('.');
  return `PyTorch ${short} is an old build; its times flatter us (${TORCH_INSTALL_HINT})`;
}

/**
 * The Python to run the reference with and its torch version: `explicit` (--python) when given,
 * else the first of PYTHON_CANDIDATES whose torch is 2.0 or newer, else the first with any torch.
 */
export function findPython(explicit?: string, cwd = process.cwd()): { python: string; version: string } {
  if (explicit) {
    const version = torchVersion(explicit);
    if (!version) throw new VaeError(`--python ${explicit} cannot import torch and numpy`, { hint: 'install them (pip install torch numpy) or point --python at a Python that has them' });
    return { python: explicit, version };
  }
  const tried = PYTHON_CANDIDATES(cwd);
  let oldest: { python: string; version: string } | null = null;
  for (const python of tried) {
    const version = torchVersion(python);
    if (!version) continue;
    if (torchMajor(version) >= 2) return { python, version };
    oldest ??= { python, version };
  }
  if (oldest) return oldest;
  throw new VaeError(`no Python with torch and numpy found (tried ${tried.join(', ')})`, {
    hint: `${TORCH_INSTALL_HINT}, or name a Python with --python or VAE_PYTHON`,
  });
}

/** Refuse a CUDA device that the Python's torch cannot use, before anything is timed. */
export function checkTorchDevice(python: string, device: string): void {
  if (!device.startsWith('cuda')) return;
  const r = spawnSync(python, ['-c', 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) {
    throw new VaeError(`the PyTorch reference cannot use ${device}: ${python}'s torch sees no CUDA device`, {
      hint: 'time it on the CPU with --torch-device cpu, or name a Python whose torch has CUDA with --python',
    });
  }
}

/** The likelihoods bench/torch_reference.py models (its --likelihood choices). */
const REFERENCE_LIKELIHOODS: readonly string[] = ['bernoulli', 'logistic'];

/**
 * What the reference does not model in a config (it trains an MLP or a conv VAE, batch norm
 * included, on MNIST with a Bernoulli or discretised logistic likelihood, the ELBO or L_k, and
 * plain Adam), so a ratio would compare different steps.
 */
export function referenceDifferences(cfg: Config): string[] {
  const out: string[] = [];
  if (!REFERENCE_LIKELIHOODS.includes(cfg.model.likelihood)) out.push(`model.likelihood ${cfg.model.likelihood}`);
  if (cfg.data.dataset !== 'mnist' && cfg.data.dataset !== 'fashion-mnist') out.push(`data.dataset ${cfg.data.dataset} (it trains on MNIST)`);
  if (cfg.train.gradClip !== null) out.push('train.gradClip');
  if (cfg.train.freeBits > 0) out.push('train.freeBits');
  return out;
}

/** The script to run: the one given, or the shipped reference; it must exist. */
export function torchScript(given: string | true): string {
  const script = given === true ? DEFAULT_TORCH_SCRIPT : given;
  if (!fs.existsSync(script)) throw new VaeError(`--torch: '${script}' does not exist`, { hint: 'leave the path out to use the shipped bench/torch_reference.py' });
  return script;
}

export interface TorchRun {
  script: string;
  python: string;
  steps: number;
  device: string;
  /** starts each run (outside the bench's own process: src/bench/launcher.ts) */
  launcher: Launcher;
}

/** One timed run of the reference with the config's sizes (2 CPU threads on the CPU). */
export async function runTorch(run: TorchRun, cfg: Config, epoch: boolean): Promise<TorchResult> {
  const threads = run.device === 'cpu' ? ['--threads', '2'] : [];
  const args = [
    run.script,
    '--device', run.device,
    ...threads,
    '--batch', String(cfg.train.batchSize),
    '--steps', String(run.steps),
    '--arch', cfg.model.arch,
    ...(cfg.model.arch === 'conv' ? ['--channels', cfg.model.convChannels.join(','), '--kernel', String(cfg.model.kernelSize)] : []),
    '--hidden', cfg.model.hidden.join(','),
    '--latent', String(cfg.model.latentDim),
    '--activation', cfg.model.activation,
    '--iw-samples', String(cfg.train.iwSamples),
    // (a likelihood the reference lacks runs as its Bernoulli; referenceDifferences warns of it)
    '--likelihood', REFERENCE_LIKELIHOODS.includes(cfg.model.likelihood) ? cfg.model.likelihood : 'bernoulli',
    ...(cfg.model.arch === 'conv' && cfg.model.batchNorm ? ['--batch-norm'] : []),
    '--images', path.join(mnistDataDir(), 'train-images-idx3-ubyte'),
    ...(epoch ? ['--epoch'] : []),
  ];
  const r = await run.launcher.run(run.python, args);
  if (r.status !== 0) throw new VaeError(`the PyTorch reference failed: ${(r.stderr || r.error || '').trim().split('\n').pop()}`, { hint: 'check --python (it needs torch and numpy)' });
  return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Omit<TorchResult, 'device'>), device: run.device };
}
