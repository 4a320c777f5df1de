/**
 * The run directory describes itself (docs/checkpoint.md):
 *   config.json      the resolved config (defaults filled in)
 *   run.json         when, how (argv), backend and device, package versions
 *   checkpoint.json  + weights-*.bin: model and optimiser state after the last completed epoch
 *   best/            the same, model only, for the epoch with the best validation ELBO
 *   metrics.jsonl    one JSON object per epoch
 *   samples/epoch-NNN.png, recon/epoch-NNN.png
 * Commands that read a run need nothing else.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { tf } from '../tf.js';
import { VaeError } from '../errors.js';
import { validateConfig } from '../config/load.js';
import { ACTIVATIONS, LIKELIHOODS, type Config } from '../config/schema.js';
import { expectedShapes, isBuffer, vaeFromParams, type Vae, type VaeSpec } from '../model/vae.js';
import { variableOf, type Params } from '../model/params.js';
import type { RngState } from '../random.js';
import { RECIPES, recipeForDataset, type Recipe } from '../image/prepare.js';
import { ensureDir, writeJsonAtomic } from '../util/atomic.js';
import { damagedFile, firstIssue, hasCheckpoint, loadCheckpoint, MANIFEST, readManifest, saveCheckpoint, type NamedArray } from './checkpoint.js';
import { lockRun, refuseIfLocked, trainerOf, type RunLock } from './lock.js';

export const RUNS_ROOT = 'runs';

/** Where an epoch stopped part-way, so that it can be continued exactly. */
export interface PartialEpoch {
  stepInEpoch: number;
  /** example-weighted sums of each stat so far */
  sums: number[];
  examples: number;
  seconds: number;
}

/** What a checkpoint needs from an optimiser: its step count and its moment arrays. */
export interface OptimizerState {
  state(): Promise<{ t: number; arrays: NamedArray[] }>;
}

/** What a checkpoint's manifest carries beside the tensors. */
export interface CheckpointMeta {
  /** epochs completed */
  epoch: number;
  /** optimisation steps completed */
  step: number;
  model: VaeSpec;
  /** [height, width, channels] of the data */
  dataShape: [number, number, number];
  optimizer: { name: 'adam'; t: number } | null;
  /** random streams: reparameterisation noise, and (part-way through an epoch) its binarisation */
  rng: { eps: { alea: RngState; spare: number | null }; bin?: { alea: RngState; spare: number | null } | null } | null;
  /** set when the checkpoint was taken part-way through epoch `epoch + 1` */
  partial?: PartialEpoch | null;
  best: { epoch: number; valElbo: number } | null;
  savedAt: string;
}

const count = z.number().int().min(0);
const size = z.number().int().positive();
const rngStream = z.object({ alea: z.object({ c: z.number(), s0: z.number(), s1: z.number(), s2: z.number() }), spare: z.number().nullable() });
/** What a checkpoint's meta must hold for a run to be read and resumed (checked, not trusted: the file may have been edited). */
const metaSchema = z.object({
  epoch: count,
  step: count,
  dataShape: z.tuple([size, size, size]),
  model: z.looseObject({
    arch: z.enum(['mlp', 'conv']),
    inputDim: size,
    inputShape: z.tuple([size, size, size]).optional(),
    hidden: z.array(size),
    latentDim: size,
    activation: z.enum(ACTIVATIONS),
    likelihood: z.enum(LIKELIHOODS),
    convChannels: z.array(size).optional(),
    kernelSize: size.optional(),
    batchNorm: z.boolean().optional(),
  }),
  optimizer: z.object({ name: z.literal('adam'), t: count }).nullable(),
  rng: z.object({ eps: rngStream, bin: rngStream.nullable().optional() }).nullable(),
  partial: z.object({ stepInEpoch: count, sums: z.array(z.number().nullable()), examples: z.number().min(0), seconds: z.number().min(0) }).nullable().optional(),
  best: z.object({ epoch: count, valElbo: z.number().nullable() }).nullable(),
});

/** A checkpoint's meta (in `dir`, a run or its best/), checked against what vae writes. */
export function readRunMeta(dir: string): CheckpointMeta {
  const file = path.join(dir, MANIFEST);
  const meta = readManifest<CheckpointMeta>(dir).meta;
  if (!meta?.model) throw new VaeError(`${file} does not describe its model`);
  const checked = metaSchema.safeParse(meta);
  if (!checked.success) throw damagedFile(file, firstIssue(checked.error, 'meta'));
  const pixels = meta.dataShape.reduce((a, b) => a * b, 1);
  if (meta.model.inputDim !== pixels) throw damagedFile(file, `meta.model.inputDim is ${meta.model.inputDim}, but meta.dataShape [${meta.dataShape}] has ${pixels} values`);
  return meta;
}

export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export function defaultRunDir(name: string, root = RUNS_ROOT): string {
  const base = path.join(root, `${name}-${timestamp()}`);
  let dir = base;
  for (let i = 2; fs.existsSync(dir); i++) dir = `${base}-${i}`;
  return dir;
}

/**
 * Refuse, reading only, to start a new run in `dir` when it already holds a run or another
 * trainer is writing one there (before any data is loaded, so that the refusal comes at once).
 */
export function checkNewRunDir(dir: string): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw new VaeError(`--out ${dir} exists and is not a directory`);
  refuseIfLocked(dir);
  refuseIfRun(dir);
}

function refuseIfRun(dir: string): void {
  if (hasCheckpoint(dir) || isRunDir(dir)) throw new VaeError(`${dir} already holds a run`, { hint: 'choose another --out, or delete that run first' });
}

/**
 * Create a fresh run directory and take its training lock (lock.ts); refuse to train into one
 * that already holds a run or that another trainer holds.
 */
export function createRunDir(dir: string): RunLock {
  checkNewRunDir(dir);
  ensureDir(dir);
  const lock = lockRun(dir);
  // Another trainer may have finished a run here between the check and the lock.
  try {
    refuseIfRun(dir);
  } catch (err) {
    lock.release();
    throw err;
  }
  for (const sub of ['samples', 'recon']) ensureDir(path.join(dir, sub));
  return lock;
}

function isRunDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'config.json'));
}

/** A run directory that training left before its first checkpoint (or that is training towards it now). */
class NoCheckpointYet extends VaeError {
  constructor(dir: string) {
    const pid = trainerOf(dir);
    if (pid !== null) super(`${dir} is still training (pid ${pid}) and has no checkpoint yet`, { hint: 'wait for its first one, at the end of its first epoch or after train.checkpointMinutes' });
    else super(`${dir} stopped before its first checkpoint`, { hint: `\`vae train --resume ${dir}\` starts it again` });
  }
}
const noCheckpointYet = (dir: string) => new NoCheckpointYet(dir);

/**
 * Refuse, before any work, a run that has no checkpoint to read (`which`: the last one, or
 * best/), saying what to do instead.
 */
export function requireCheckpoint(dir: string, which: 'last' | 'best' = 'last'): void {
  if (!hasCheckpoint(dir)) {
    if (isRunDir(dir)) throw noCheckpointYet(dir);
    return; // readManifest says what is missing
  }
  if (which === 'best' && !hasCheckpoint(path.join(dir, 'best'))) {
    throw new VaeError(`${dir} has no best checkpoint yet: it has not finished an epoch`, { hint: 'leave out --best to use its last checkpoint' });
  }
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -Infinity;
  }
}

/**
 * The run under `root` whose checkpoint was written most recently. With `unstarted`, a run
 * that has no checkpoint yet counts too (by when its config was written), for `--resume`.
 */
export function findLatestRun(root = RUNS_ROOT, opts: { unstarted?: boolean } = {}): string {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(root);
  } catch {
    /* no runs yet */
  }
  let best: { dir: string; t: number } | null = null;
  let newestUnstarted: { dir: string; t: number } | null = null;
  for (const e of entries) {
    const dir = path.join(root, e);
    const t = mtime(path.join(dir, MANIFEST));
    if (t > -Infinity) {
      if (!best || t > best.t) best = { dir, t };
    } else if (isRunDir(dir)) {
      const c = mtime(path.join(dir, 'config.json'));
      if (!newestUnstarted || c > newestUnstarted.t) newestUnstarted = { dir, t: c };
    }
  }
  if (opts.unstarted && newestUnstarted && (!best || newestUnstarted.t > best.t)) return newestUnstarted.dir;
  if (!best) {
    if (newestUnstarted) throw noCheckpointYet(newestUnstarted.dir);
    throw new VaeError(`no trained run found under ./${root}`, {
      hint: 'train one with `vae train --config mnist.json`, or point at a run with --run DIR',
    });
  }
  return best.dir;
}

/** --run DIR, or the latest run. A folder of runs (such as runs/) means its latest run. */
export function resolveRun(arg?: string, opts: { unstarted?: boolean } = {}): string {
  if (!arg) return findLatestRun(RUNS_ROOT, opts);
  if (!fs.existsSync(arg)) throw new VaeError(`run directory '${arg}' does not exist`, { hint: 'check the path, or leave out --run to use the latest run' });
  if (!fs.statSync(arg).isDirectory()) throw new VaeError(`--run ${arg} is not a directory`);
  if (!isRunDir(arg) && !hasCheckpoint(arg)) {
    try {
      return findLatestRun(arg, opts);
    } catch (err) {
      if (err instanceof NoCheckpointYet) throw err;
      throw new VaeError(`'${arg}' is not a run directory (no config.json or checkpoint.json)`, { hint: 'point --run at a folder written by vae train' });
    }
  }
  return arg;
}

export function readRunConfig(dir: string): Config {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new VaeError(`${dir} has no config.json`, { hint: 'it is not a complete run directory' });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new VaeError(`${file} is not valid JSON (${(err as Error).message})`);
  }
  return validateConfig(raw, file);
}

async function paramArrays(params: Params): Promise<NamedArray[]> {
  return Promise.all([...params].map(async ([name, v]) => ({ name, shape: v.shape, data: (await v.data()) as Float32Array })));
}

/** Save model (and optimiser, when given) state to dir (the run, or its best/ folder). */
export async function saveRunCheckpoint(dir: string, vae: Vae, adam: OptimizerState | null, meta: Omit<CheckpointMeta, 'optimizer' | 'savedAt' | 'model'>): Promise<void> {
  const arrays = await paramArrays(vae.params);
  let optimizer: CheckpointMeta['optimizer'] = null;
  if (adam) {
    const s = await adam.state();
    optimizer = { name: 'adam', t: s.t };
    for (const a of s.arrays) arrays.push({ ...a, name: `optimizer/${a.name}` });
  }
  const full: CheckpointMeta = { ...meta, model: vae.spec, optimizer, savedAt: new Date().toISOString() };
  saveCheckpoint(dir, arrays, full, meta.step);
}

export interface LoadedRun {
  dir: string;
  config: Config;
  vae: Vae;
  meta: CheckpointMeta;
  /** optimiser state arrays ('<param>/m', '<param>/v'), when the checkpoint has them */
  optimizer: Map<string, NamedArray>;
}

/** The run's preparation recipe: recorded in run.json, or (older runs) from its data set's name. */
export function runRecipe(run: LoadedRun): Recipe {
  const recorded = readRunInfo(run.dir).prepare;
  return recorded !== undefined ? (recorded as Recipe) : recipeForDataset(run.config.data.dataset);
}

/**
 * config.json's model keys against the model the checkpoint describes: a config edited by hand
 * would otherwise resume (or prepare inputs for) a model other than the one saved.
 */
function agreesWithCheckpoint(dir: string, config: Config, meta: CheckpointMeta): void {
  const m = meta.model;
  const c = config.model;
  const pairs: [string, unknown, unknown][] = [
    ['arch', c.arch, m.arch],
    ['hidden', c.hidden, m.hidden],
    ['latentDim', c.latentDim, m.latentDim],
    ['activation', c.activation, m.activation],
    ['likelihood', c.likelihood, m.likelihood],
    ...(m.arch === 'conv' && m.convChannels ? ([['convChannels', c.convChannels, m.convChannels]] as [string, unknown, unknown][]) : []),
  ];
  const differ = pairs.filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b));
  if (differ.length) {
    throw new VaeError(`${path.join(dir, 'config.json')} does not match the model in ${path.join(dir, MANIFEST)}: ${differ.map(([k, a, b]) => `model.${k} is ${JSON.stringify(a)} there, ${JSON.stringify(b)} in the checkpoint`).join(', ')}`, {
      hint: 'one of them was edited; restore the run from a copy, or train a new run for another model',
    });
  }
}

/** Load a run's model from its last checkpoint (or from best/). */
export function loadRun(dir: string, which: 'last' | 'best' = 'last'): LoadedRun {
  const config = readRunConfig(dir);
  requireCheckpoint(dir, which);
  const cdir = which === 'best' ? path.join(dir, 'best') : dir;
  const meta = readRunMeta(cdir);
  agreesWithCheckpoint(dir, config, meta);
  const { arrays } = loadCheckpoint<CheckpointMeta>(cdir);
  const file = path.join(cdir, MANIFEST);
  const expected = expectedShapes(meta.model);
  const params: Params = new Map();
  for (const [name, shape] of expected) {
    const a = arrays.get(name);
    if (!a) throw new VaeError(`checkpoint in ${cdir} lacks tensor '${name}'`, { hint: `the tensors in ${file} do not match its model description; restore the run from a copy` });
    if (a.shape.join('x') !== shape.join('x')) {
      throw new VaeError(`checkpoint tensor '${name}' in ${file} has shape [${a.shape}] but the model needs [${shape}]`, { hint: 'restore the run from a copy' });
    }
    params.set(name, variableOf(tf.tensor(a.data, a.shape), !isBuffer(name)));
  }
  const optimizer = new Map<string, NamedArray>();
  for (const [name, a] of arrays) if (name.startsWith('optimizer/')) optimizer.set(name.slice('optimizer/'.length), a);
  return { dir, config, meta, optimizer, vae: vaeFromParams(meta.model, params) };
}

/** What run.json records about how a run was made (each training session adds to `resumes`). */
export interface RunInfo {
  created?: string;
  backend?: { name?: string; tfjs?: string; device?: string };
  resumes?: { backend?: { name?: string }; argv?: string[]; at?: string }[];
  [key: string]: unknown;
}

/**
 * run.json, or an empty record when there is none (it is informative, not needed to load a run).
 * One that is there but not a JSON object is refused, naming it: `--resume` adds to it, and would
 * otherwise replace what it held.
 */
export function readRunInfo(dir: string): RunInfo {
  const file = path.join(dir, 'run.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new VaeError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch (err) {
    throw damagedFile(file, `not valid JSON (${(err as Error).message})`);
  }
  if (info === null || typeof info !== 'object' || Array.isArray(info)) throw damagedFile(file, 'not a JSON object');
  const prepare = (info as RunInfo).prepare;
  if (prepare !== undefined && !(RECIPES as readonly unknown[]).includes(prepare)) throw damagedFile(file, `prepare is ${JSON.stringify(prepare)}, not one of ${RECIPES.join(', ')}`);
  return info as RunInfo;
}

/** The backend the run was last trained with. */
export function lastBackend(info: RunInfo): string | undefined {
  return info.resumes?.[info.resumes.length - 1]?.backend?.name ?? info.backend?.name;
}

export function writeRunJson(dir: string, name: string, value: unknown): void {
  writeJsonAtomic(path.join(dir, name), value);
}
