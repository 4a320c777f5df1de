/**
 * A folder of images as a data set (data.dataset 'folder'), decoded with sharp.
 *
 * The rules (docs/data.md has them with examples):
 *   - images are files ending in .png, .jpg, .jpeg or .webp (any case); names starting with '.'
 *     are skipped, other files are ignored;
 *   - the root's sub-folders are the classes: their names, sorted, get labels 0..K-1, and every
 *     image below a class folder (at any depth) has its label; images lying directly in a root
 *     that has class folders are ignored, with a warning; a root without sub-folders gives
 *     unlabelled data (labels null);
 *   - each image is turned upright by its EXIF orientation, flattened onto black (transparent
 *     pixels become 0, like MNIST's background), resized to data.size x data.size when set (fit
 *     'cover': the aspect ratio is kept and the overflow is cropped equally from both sides),
 *     and converted to greyscale (1 channel) or sRGB (3 channels) by data.channels;
 *   - files sharp cannot read are skipped and counted in one warning line;
 *   - files are listed in a fixed (code-unit) order of their paths, then the decoded examples are
 *     shuffled by a permutation from a fixed seed (Rng.derive(0, 'folder-order', part)): the
 *     listing is grouped by class, and the validation split is carved from the end, so without
 *     the shuffle it would hold only the last class. The seed is not train.seed on purpose: the
 *     validation examples must not change when only the training seed does.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { VaeError } from '../errors.js';
import { Rng } from '../random.js';
import { bytesToUnit, type ImageSet } from './dataset.js';

// libvips caches operations for reuse; every decode here is different, so the cache only grows.
sharp.cache(false);

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'] as const;
/** Labels are stored as Uint8Array. */
export const MAX_CLASSES = 256;
/** How many images are decoded at once: enough to keep sharp's threads busy, few enough to bound memory. */
export const DECODE_CONCURRENCY = 8;

export type FolderPartName = 'train' | 'test';

export interface FolderFile {
  /** Path relative to the root, for messages and the cache key. */
  rel: string;
  abs: string;
  bytes: number;
  mtimeMs: number;
  label: number | null;
}

export interface FolderListing {
  root: string;
  /** Class names by label, or null when the data has no labels. */
  classes: string[] | null;
  /** Sorted by rel. */
  files: FolderFile[];
  /** Warnings from the listing (ignored images), one line each. */
  warnings: string[];
}

function isImage(name: string): boolean {
  const ext = path.extname(name).toLowerCase();
  return (IMAGE_EXTENSIONS as readonly string[]).includes(ext);
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The visible entries of a folder, sorted, split into folders and image files (symlinks followed). */
function entries(dir: string): { dirs: string[]; images: string[]; others: number } {
  const dirs: string[] = [];
  const images: string[] = [];
  let others = 0;
  let list: fs.Dirent[];
  try {
    list = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new VaeError(`cannot read the folder '${dir}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  for (const e of list) {
    if (e.name.startsWith('.')) continue;
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const st = fs.statSync(path.join(dir, e.name));
        isDir = st.isDirectory();
        isFile = st.isFile();
      } catch {
        continue; // a dangling link
      }
    }
    if (isDir) dirs.push(e.name);
    else if (isFile && isImage(e.name)) images.push(e.name);
    else others++;
  }
  dirs.sort(byCodeUnits);
  images.sort(byCodeUnits);
  return { dirs, images, others };
}

/** Every image below dir (relative paths, sorted), guarding against symlink cycles. */
function walk(root: string, rel: string, seen: Set<string>, counts: { others: number }): string[] {
  const dir = path.join(root, rel);
  const real = fs.realpathSync(dir);
  if (seen.has(real)) return [];
  seen.add(real);
  const { dirs, images, others } = entries(dir);
  counts.others += others;
  const out = images.map((f) => path.join(rel, f));
  for (const d of dirs) out.push(...walk(root, path.join(rel, d), seen, counts));
  return out;
}

function statFile(root: string, rel: string, label: number | null): FolderFile {
  const abs = path.join(root, rel);
  const st = fs.statSync(abs);
  return { rel, abs, bytes: st.size, mtimeMs: st.mtimeMs, label };
}

/**
 * List a folder's images and their labels without decoding anything.
 *
 * @param key the config key that named the folder, for messages ('data.path', 'data.testPath')
 * @param classes for a test folder: the training folder's classes (its sub-folders must be among
 *   them), or null when the training data is unlabelled (then sub-folders are only organisation).
 *   Leave undefined for a training folder, whose sub-folders define the classes.
 */
export function listFolder(rootArg: string, key: string, classes?: string[] | null): FolderListing {
  const root = path.resolve(rootArg);
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch {
    throw new VaeError(`${key}: folder '${root}' not found`, { hint: "check the path; relative paths in a config file are relative to the config file's folder" });
  }
  if (!st.isDirectory()) {
    throw new VaeError(`${key}: '${root}' is a file, not a folder of images`, { hint: "for an IDX file use data.dataset 'idx'" });
  }
  const seen = new Set<string>();
  const counts = { others: 0 };
  const top = entries(root);
  counts.others += top.others;
  seen.add(fs.realpathSync(root));
  const warnings: string[] = [];
  let files: FolderFile[];
  let names: string[] | null;
  // Sub-folders without images are not classes.
  const perDir = top.dirs.map((d) => ({ dir: d, rels: walk(root, d, seen, counts) })).filter((x) => x.rels.length > 0);

  if (classes === null || perDir.length === 0) {
    // Unlabelled: every image at any depth (a test folder next to an unlabelled training folder
    // may use sub-folders for its own organisation).
    names = null;
    const rels = [...top.images, ...perDir.flatMap((x) => x.rels)];
    files = rels.sort(byCodeUnits).map((r) => statFile(root, r, null));
  } else {
    // Labelled: one class per sub-folder.
    if (classes === undefined) {
      names = perDir.map((x) => x.dir);
      if (names.length > MAX_CLASSES) {
        throw new VaeError(`${key}: '${root}' has ${names.length} class sub-folders, more than the ${MAX_CLASSES} labels supported`, {
          hint: `group the images into at most ${MAX_CLASSES} sub-folders, or put them all in one folder (unlabelled data)`,
        });
      }
    } else {
      names = classes;
      const unknown = perDir.find((x) => !classes.includes(x.dir));
      if (unknown) {
        const shown = classes.length > 10 ? `${classes.slice(0, 10).join(', ')}, ...` : classes.join(', ');
        throw new VaeError(`${key}: sub-folder '${unknown.dir}' of '${root}' is not a class of the training folder (${shown})`, {
          hint: 'a test folder must use the same class sub-folder names as data.path',
        });
      }
    }
    const label = new Map(names.map((n, i) => [n, i]));
    files = perDir.flatMap((x) => x.rels.map((r) => statFile(root, r, label.get(x.dir)!))).sort((a, b) => byCodeUnits(a.rel, b.rel));
    if (top.images.length > 0) {
      warnings.push(
        `ignored ${top.images.length} image${top.images.length === 1 ? '' : 's'} lying directly in ${root} (first: ${top.images[0]}): ` +
          'its sub-folders are the classes, so images must be inside one',
      );
    }
  }
  if (files.length === 0) {
    const exts = IMAGE_EXTENSIONS.join(', ');
    throw new VaeError(`${key}: no images found in '${root}' (looked for ${exts} files, in sub-folders too${counts.others ? `; found ${counts.others} other file${counts.others === 1 ? '' : 's'}` : ''})`, {
      hint: 'point it at a folder of PNG, JPEG or WebP images, optionally in one sub-folder per class',
    });
  }
  return { root, classes: names, files, warnings };
}

export interface DecodeOptions {
  size: number | null;
  channels: 1 | 3;
  /** Which part this is: seeds the shuffle. */
  part: FolderPartName;
  concurrency?: number;
}

export interface DecodedFolder {
  set: ImageSet;
  /** Warning lines (skipped files, ignored images), to show and to keep with a cache. */
  warnings: string[];
  /** How many files sharp was asked to decode. */
  decoded: number;
}

interface Pixels {
  data: Buffer;
  width: number;
  height: number;
}

/** One image to raw uint8 pixels, channels last (see the module comment for the steps). */
export async function decodeImage(file: string, size: number | null, channels: 1 | 3): Promise<Pixels> {
  let p = sharp(file).rotate().flatten({ background: '#000000' });
  if (size !== null) p = p.resize(size, size, { fit: 'cover', position: 'centre' });
  p = p.toColourspace(channels === 1 ? 'b-w' : 'srgb');
  const { data, info } = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== channels) throw new Error(`decoded to ${info.channels} channels, not ${channels}`);
  return { data, width: info.width, height: info.height };
}

/** The fixed shuffle of a folder part (see the module comment for why it exists). */
export function folderOrder(n: number, part: FolderPartName): Uint32Array {
  return Rng.derive(0, 'folder-order', part).permutation(n);
}

/** Decode a listed folder into an ImageSet (pixels in [0, 1], shuffled by folderOrder). */
export async function decodeFolder(listing: FolderListing, opts: DecodeOptions): Promise<DecodedFolder> {
  const { files } = listing;
  const results: (Pixels | null)[] = new Array(files.length).fill(null);
  // Shared by the workers below (an object, so that TypeScript does not narrow it to its initial value).
  const st = {
    next: 0,
    skipped: 0,
    /** The first unreadable file in listing order, so the message does not depend on timing. */
    firstFailure: null as { i: number; reason: string } | null,
    /** The first decoded image's size; every other must match when data.size is null. */
    ref: null as { i: number; w: number; h: number } | null,
    mismatch: null as VaeError | null,
  };

  const worker = async () => {
    while (st.mismatch === null && st.next < files.length) {
      const i = st.next++;
      let px: Pixels;
      try {
        px = await decodeImage(files[i].abs, opts.size, opts.channels);
      } catch (err) {
        st.skipped++;
        if (st.firstFailure === null || i < st.firstFailure.i) st.firstFailure = { i, reason: (err as Error).message.split('\n')[0] };
        continue;
      }
      const here = { i, w: px.width, h: px.height };
      if (st.ref === null) st.ref = here;
      else if (here.w !== st.ref.w || here.h !== st.ref.h) {
        const [a, b] = st.ref.i < i ? [st.ref, here] : [here, st.ref];
        st.mismatch = new VaeError(
          `images in '${listing.root}' have different sizes: ${files[a.i].rel} is ${a.w}x${a.h} but ${files[b.i].rel} is ${b.w}x${b.h}`,
          { hint: `set data.size to resize every image to size x size pixels (e.g. --set data.size=${Math.min(a.w, a.h, b.w, b.h)})` },
        );
        return;
      }
      results[i] = px;
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? DECODE_CONCURRENCY, files.length) }, worker));
  if (st.mismatch) throw st.mismatch;

  const failure = st.firstFailure ? `${files[st.firstFailure.i].rel}: ${st.firstFailure.reason}` : '';
  const ok = results.flatMap((r, i) => (r ? [i] : []));
  if (ok.length === 0 || st.ref === null) {
    throw new VaeError(`none of the ${files.length} image files in '${listing.root}' could be read (first: ${failure})`, {
      hint: 'check that the files are PNG, JPEG or WebP images',
    });
  }
  const warnings = [...listing.warnings];
  if (st.skipped > 0) {
    warnings.push(`skipped ${st.skipped} of ${files.length} files in ${listing.root} that are not readable images (first: ${failure})`);
  }
  const { w, h } = st.ref;
  const d = w * h * opts.channels;
  const n = ok.length;
  const order = folderOrder(n, opts.part);
  const bytes = new Uint8Array(n * d);
  const labels = listing.classes ? new Uint8Array(n) : null;
  for (let r = 0; r < n; r++) {
    const i = ok[order[r]];
    bytes.set(results[i]!.data, r * d);
    if (labels) labels[r] = files[i].label!;
  }
  const set: ImageSet = { images: bytesToUnit(bytes), labels, n, shape: [h, w, opts.channels] };
  if (listing.classes) set.classes = listing.classes;
  return { set, warnings, decoded: files.length };
}
