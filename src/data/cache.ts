/**
 * A binary cache of a decoded image folder, so that later commands (and resumed runs) do not
 * decode every image with sharp again.
 *
 * One file per part, `<cacheDir>/data-train.cache` and `data-test.cache`, replaced whole when
 * stale (so a cache directory never accumulates old copies). Layout:
 *
 *   "VAEDATA1"                 8 bytes, the format
 *   header length              uint32, little-endian
 *   header                     UTF-8 JSON: key, n, shape, classes, labels?, warnings, sha256
 *   pixels                     n * H * W * C bytes (the [0, 1] intensities times 255: exact,
 *                              since every pixel came from a byte)
 *   labels                     n bytes, when the data has labels
 *
 * The key is a SHA-256 over everything the decoded pixels depend on: the folder's resolved path,
 * data.size, data.channels, the class names, the part (it seeds the shuffle), the sharp and
 * libvips versions, this loader's version, and every listed file's relative path, size and
 * modification time. A cache is used only when its key matches and its payload's SHA-256 checks
 * out; anything else (stale, truncated, damaged, another format) is ignored and rewritten.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ensureDir, writeFileAtomic } from '../util/atomic.js';
import { dimOf, type ImageSet } from './dataset.js';
import type { FolderListing, FolderPartName } from './folder.js';

const MAGIC = 'VAEDATA1';
/** Bump when decoding changes in a way the key does not see (resize fit, flatten colour, shuffle). */
const LOADER_VERSION = 1;

/** A decoded folder part as it goes into (and comes out of) a cache file. */
export interface CachedPart {
  part: FolderPartName;
  key: string;
  set: ImageSet;
  /** Warning lines from decoding (skipped files, ignored images): shown again on a cached load. */
  warnings: string[];
  /** The cache file it was read from, if any (not stored). */
  from?: string;
}

interface Header {
  key: string;
  n: number;
  shape: [number, number, number];
  classes: string[] | null;
  labels: boolean;
  warnings: string[];
  sha256: string;
}

export function cacheFile(dir: string, part: FolderPartName): string {
  return path.join(dir, `data-${part}.cache`);
}

export function folderKey(listing: FolderListing, opts: { size: number | null; channels: 1 | 3; part: FolderPartName }): string {
  const h = crypto.createHash('sha256');
  h.update(
    JSON.stringify({
      loader: LOADER_VERSION,
      sharp: sharp.versions.sharp,
      vips: sharp.versions.vips,
      root: listing.root,
      size: opts.size,
      channels: opts.channels,
      part: opts.part,
      classes: listing.classes,
    }),
  );
  for (const f of listing.files) h.update(`\n${f.rel}\0${f.bytes}\0${f.mtimeMs}`);
  return h.digest('hex');
}

/** Back to bytes: every intensity is b / 255 for a byte b, so rounding recovers b exactly. */
function toBytes(images: Float32Array): Uint8Array {
  const out = new Uint8Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = Math.round(images[i] * 255);
  return out;
}

function fromBytes(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

export function encodeCache(c: CachedPart): Buffer {
  const pixels = toBytes(c.set.images.subarray(0, c.set.n * dimOf(c.set)));
  const labels = c.set.labels ? c.set.labels.subarray(0, c.set.n) : null;
  const hash = crypto.createHash('sha256').update(pixels);
  if (labels) hash.update(labels);
  const header: Header = {
    key: c.key,
    n: c.set.n,
    shape: c.set.shape,
    classes: c.set.classes ?? null,
    labels: labels !== null,
    warnings: c.warnings,
    sha256: hash.digest('hex'),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  return Buffer.concat([Buffer.from(MAGIC, 'latin1'), len, json, pixels, ...(labels ? [labels] : [])]);
}

export type CacheRead = { ok: true; part: CachedPart } | { ok: false; reason: 'missing' | 'stale' | 'damaged'; detail?: string };

/** Decode a cache file's bytes, checking the format, the key, the sizes and the checksum. */
export function decodeCache(buf: Uint8Array, key: string, part: FolderPartName): CacheRead {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const damaged = (detail: string): CacheRead => ({ ok: false, reason: 'damaged', detail });
  if (b.length < 12 || b.toString('latin1', 0, 8) !== MAGIC) return damaged('not a vae data cache');
  const hlen = b.readUInt32LE(8);
  if (12 + hlen > b.length) return damaged('truncated header');
  let h: Header;
  try {
    h = JSON.parse(b.toString('utf8', 12, 12 + hlen)) as Header;
  } catch {
    return damaged('unreadable header');
  }
  if (h.key !== key) return { ok: false, reason: 'stale' };
  const shapeOk = Array.isArray(h.shape) && h.shape.length === 3 && h.shape.every((x) => Number.isInteger(x) && x > 0);
  if (!shapeOk || !Number.isInteger(h.n) || h.n < 1) return damaged('bad header');
  const d = h.shape[0] * h.shape[1] * h.shape[2];
  const start = 12 + hlen;
  const end = start + h.n * d + (h.labels ? h.n : 0);
  if (b.length !== end) return damaged(`${b.length} bytes where the header needs ${end}`);
  const payload = b.subarray(start, end);
  if (crypto.createHash('sha256').update(payload).digest('hex') !== h.sha256) return damaged('checksum mismatch');
  const labels = h.labels ? new Uint8Array(payload.subarray(h.n * d)) : null;
  if (labels && h.classes && labels.some((l) => l >= h.classes!.length)) return damaged('label out of range');
  const set: ImageSet = { images: fromBytes(payload.subarray(0, h.n * d)), labels, n: h.n, shape: h.shape };
  if (h.classes) set.classes = h.classes;
  return { ok: true, part: { part, key, set, warnings: Array.isArray(h.warnings) ? h.warnings.map(String) : [] } };
}

export function readCache(file: string, key: string, part: FolderPartName): CacheRead {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return { ok: false, reason: 'missing' };
  }
  const r = decodeCache(buf, key, part);
  if (r.ok) r.part.from = path.resolve(file);
  return r;
}

/**
 * Write one part's cache atomically (a crash leaves the old file or the new one), unless the part
 * was read from that very file. Returns the file. Throws VaeError.
 */
export function writeCache(dir: string, c: CachedPart): string {
  const file = cacheFile(dir, c.part);
  if (c.from === path.resolve(file)) return file;
  ensureDir(dir);
  writeFileAtomic(file, encodeCache(c));
  return file;
}
