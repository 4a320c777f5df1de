/**
 * Writing an export's files into --out: all of them go into a fresh folder beside it first, which
 * is then renamed into place, so an interrupted export leaves no half-written model behind.
 * --out must not exist yet, or be an empty folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { VaeError } from '../errors.js';
import { ensureDir, writeError, writeFileAtomic } from '../util/atomic.js';
import type { ExportFiles } from './export-run.js';

/** Before any work: --out can receive an export. */
export function checkExportDir(out: string): void {
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new VaeError(`--out ${out} exists and is not a folder`, { hint: 'give a new folder name' });
    if (fs.readdirSync(out).length) throw new VaeError(`--out ${out} is not empty`, { hint: 'give a new folder name, or delete the old export first' });
  }
  const parent = path.dirname(path.resolve(out));
  if (!fs.existsSync(parent)) throw new VaeError(`cannot write ${out}: the folder ${parent} does not exist`, { hint: 'create it first or choose another path' });
}

export function writeExport(out: string, files: ExportFiles): void {
  checkExportDir(out);
  const target = path.resolve(out);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    for (const [rel, bytes] of files) {
      const file = path.join(tmp, rel);
      ensureDir(path.dirname(file));
      writeFileAtomic(file, bytes);
    }
    if (fs.existsSync(target)) fs.rmdirSync(target);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err instanceof VaeError ? err : writeError(target, err);
  }
}
