/**
 * Atomic file writes: write to a temporary file in the same directory, fsync it, rename it over
 * the target, fsync the directory. A crash at any moment leaves either the old file or the new
 * one, never a half-written one. A failed write (disk full, no permission) removes its temporary
 * file and leaves the old file as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { RuntimeFailure, VaeError } from '../errors.js';

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems do not support fsync on directories; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
    fsyncDir(dir);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    fs.rmSync(tmp, { force: true });
    throw writeError(target, err);
  }
}

export function writeJsonAtomic(target: string, value: unknown): void {
  writeFileAtomic(target, `${JSON.stringify(value, null, 2)}\n`);
}

/** A clear error for a failed write, saying that the previous file is untouched. */
export function writeError(target: string, err: unknown): VaeError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return new RuntimeFailure(`disk full while writing ${target}; the previous version is intact`, { hint: 'free some space and resume', cause: err });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new VaeError(`cannot write ${target}: permission denied`, { hint: 'choose a folder you can write to', cause: err });
  }
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new VaeError(`cannot write ${target}: the folder ${path.dirname(target)} does not exist`, { hint: 'create it first or choose another path', cause: err });
  }
  return new RuntimeFailure(`cannot write ${target}: ${(err as Error).message}`, { cause: err });
}

/** mkdir -p with a clear error. */
export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw writeError(path.join(dir, '.'), err);
  }
}
