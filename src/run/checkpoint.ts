/**
 * Checkpoints: a manifest `checkpoint.json` and the tensor bytes in `weights-<step>-<tag>.bin`
 * beside it (format in docs/checkpoint.md). The weights file is written and fsynced first,
 * under a new name; then the manifest that points at it replaces the old manifest atomically;
 * then weights files no manifest points at are removed. So after a crash at any moment the
 * manifest names a complete weights file, whose size and SHA-256 it records.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { z } from 'zod';
import { VaeError } from '../errors.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';

export const CHECKPOINT_FORMAT = 'vae-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const MANIFEST = 'checkpoint.json';

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  /** byte offset in the weights file */
  offset: number;
  /** byte length */
  bytes: number;
}

export interface Manifest<M = Record<string, unknown>> {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  weights: string;
  weightsBytes: number;
  sha256: string;
  tensors: TensorEntry[];
  meta: M;
}

/**
 * A run file whose content is not what vae writes (truncated, garbled or edited by hand): one
 * line naming the file and the first thing wrong in it.
 */
export function damagedFile(file: string, what: string): VaeError {
  return new VaeError(`${file} is damaged or was edited: ${what}`, { hint: 'restore the run from a copy, or train it again' });
}

/** The first problem zod found, as 'where: what' ('meta.epoch: expected number, received string'); `under` prefixes the path. */
export function firstIssue(error: z.ZodError, under?: string): string {
  const issue = error.issues[0];
  const where = [...(under ? [under] : []), ...issue.path.map(String)].join('.');
  const what = issue.message.replace(/^Invalid (input|option): /, '').replace(/^Too (small|big): /, '');
  return where ? `${where}: ${what}` : what;
}

const count = z.number().int().min(0);
const manifestSchema = z.object({
  weights: z.string().regex(/^weights-[\w-]+\.bin$/, 'expected the name of a weights-*.bin file beside it'),
  weightsBytes: count,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 in hex'),
  tensors: z.array(z.object({ name: z.string(), shape: z.array(count), dtype: z.literal('float32'), offset: count, bytes: count })),
  meta: z.record(z.string(), z.unknown()),
});

export function saveCheckpoint<M>(dir: string, arrays: readonly NamedArray[], meta: M, step: number): Manifest<M> {
  ensureDir(dir);
  let total = 0;
  const tensors: TensorEntry[] = arrays.map((a) => {
    const bytes = a.data.byteLength;
    const e: TensorEntry = { name: a.name, shape: a.shape, dtype: 'float32', offset: total, bytes };
    total += bytes;
    return e;
  });
  const buf = Buffer.alloc(total);
  arrays.forEach((a, i) => {
    // Little-endian float32, whatever the machine (docs/checkpoint.md).
    const view = new DataView(buf.buffer, buf.byteOffset + tensors[i].offset, tensors[i].bytes);
    for (let j = 0; j < a.data.length; j++) view.setFloat32(j * 4, a.data[j], true);
  });
  const weights = `weights-${String(step).padStart(9, '0')}-${crypto.randomBytes(3).toString('hex')}.bin`;
  writeFileAtomic(path.join(dir, weights), buf);
  const manifest: Manifest<M> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    weights,
    weightsBytes: total,
    sha256: crypto.createHash('sha256').update(buf).digest('hex'),
    tensors,
    meta,
  };
  writeJsonAtomic(path.join(dir, MANIFEST), manifest);
  for (const f of fs.readdirSync(dir)) {
    if (/^weights-.*\.bin$/.test(f) && f !== weights) fs.rmSync(path.join(dir, f), { force: true });
  }
  return manifest;
}

export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, MANIFEST));
}

export function readManifest<M>(dir: string): Manifest<M> {
  const file = path.join(dir, MANIFEST);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VaeError(`${dir} has no checkpoint (no ${MANIFEST})`, { hint: 'train it first, or pick another run with --run' });
    }
    throw new VaeError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let m: Manifest<M>;
  try {
    m = JSON.parse(text) as Manifest<M>;
  } catch (err) {
    throw new VaeError(`${file} is not valid JSON (${(err as Error).message})`, { hint: 'the checkpoint is damaged; retrain or restore it from a copy' });
  }
  if (m === null || typeof m !== 'object' || m.format !== CHECKPOINT_FORMAT) {
    throw new VaeError(`${file} is not a vae checkpoint`);
  }
  if (m.version !== CHECKPOINT_VERSION) {
    throw new VaeError(`${file} has checkpoint format version ${m.version}; this vae reads version ${CHECKPOINT_VERSION}`, {
      hint: m.version > CHECKPOINT_VERSION ? 'upgrade vae' : 'retrain with this version of vae',
    });
  }
  if (!Array.isArray(m.tensors) || typeof m.weights !== 'string') throw new VaeError(`${file} is missing its tensor list`);
  const checked = manifestSchema.safeParse(m);
  if (!checked.success) throw damagedFile(file, firstIssue(checked.error));
  return m;
}

/** Read a checkpoint, checking the weights file's size and SHA-256 against the manifest. */
export function loadCheckpoint<M>(dir: string): { manifest: Manifest<M>; arrays: Map<string, NamedArray> } {
  const manifest = readManifest<M>(dir);
  const wfile = path.join(dir, path.basename(manifest.weights));
  let buf: Buffer;
  try {
    buf = fs.readFileSync(wfile);
  } catch {
    throw new VaeError(`checkpoint weights ${wfile} are missing`, { hint: 'the run directory is incomplete; retrain or restore it' });
  }
  if (buf.length !== manifest.weightsBytes) {
    throw new VaeError(`checkpoint weights ${wfile} are ${buf.length} bytes, expected ${manifest.weightsBytes} (truncated or damaged)`, {
      hint: 'restore the run from a copy or retrain',
    });
  }
  if (crypto.createHash('sha256').update(buf).digest('hex') !== manifest.sha256) {
    throw new VaeError(`checkpoint weights ${wfile} do not match their checksum (damaged)`, { hint: 'restore the run from a copy or retrain' });
  }
  const arrays = new Map<string, NamedArray>();
  for (const t of manifest.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.dtype !== 'float32' || t.bytes !== n * 4 || t.offset + t.bytes > buf.length) {
      throw new VaeError(`checkpoint tensor ${t.name} has an inconsistent entry in ${MANIFEST}`);
    }
    const view = new DataView(buf.buffer, buf.byteOffset + t.offset, t.bytes);
    const data = new Float32Array(n);
    for (let j = 0; j < n; j++) data[j] = view.getFloat32(j * 4, true);
    arrays.set(t.name, { name: t.name, shape: t.shape, data });
  }
  return { manifest, arrays };
}
