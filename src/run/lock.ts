/**
 * One trainer per run directory. `vae train` (a new run, or `--resume`) holds `train.lock` in the
 * run directory for as long as it runs, so a second trainer on the same run is refused at once,
 * naming the first one's pid, and writes nothing there.
 *
 * The file is created with O_EXCL ('wx'), so of two trainers starting together exactly one gets
 * it. It records the holder's pid, host, start time and (on Linux) the kernel's start time of
 * that process. A lock whose process is gone (kill -9, a crash, a reboot) is stale: the next
 * trainer takes it over. The lock is removed when training ends, on an error and on Ctrl-C or
 * SIGTERM (a process 'exit' handler covers `process.exit` too); only kill -9 leaves it behind.
 *
 * Reading commands (sample, eval, encode, ...) never take it: every file a trainer writes is
 * replaced atomically, so a run can be read while it trains.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { VaeError } from '../errors.js';
import { writeError } from '../util/atomic.js';

export const LOCK_FILE = 'train.lock';

interface LockRecord {
  pid: number;
  host: string;
  /** ISO time the lock was taken */
  since: string;
  /** /proc/<pid>/stat's start time, to tell a reused pid from the holder (null off Linux) */
  procStart: string | null;
  /** tells this holder's lock from any other with the same pid */
  token: string;
}

export interface RunLock {
  /** Remove the lock (if it is still this process's). */
  release(): void;
  /** set when a stale lock was taken over: the pid that had left it */
  tookOverFrom: number | null;
}

/** The kernel's start time of a process (field 22 of /proc/<pid>/stat), or null where there is no /proc. */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces; field 3 follows ") ".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function parse(text: string): LockRecord | null {
  try {
    const r = JSON.parse(text) as LockRecord;
    return r !== null && typeof r === 'object' && Number.isInteger(r.pid) && r.pid > 0 && typeof r.host === 'string' ? r : null;
  } catch {
    return null;
  }
}

/** Whether the process a lock names still runs. On another host we cannot tell, so it counts as running. */
function holderAlive(r: LockRecord): boolean {
  if (r.host !== os.hostname()) return true;
  try {
    process.kill(r.pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // The pid runs, but it may have been given to another process since.
  const start = processStart(r.pid);
  return !(r.procStart && start && start !== r.procStart);
}

interface Found {
  text: string;
  record: LockRecord | null;
  /** ms since the file was last written */
  age: number;
}

function readLock(file: string): Found | null {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return { text, record: parse(text), age: Date.now() - fs.statSync(file).mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new VaeError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * A lock is stale when its process is gone. One that names no process is being written this very
 * moment by another trainer, or (a few seconds on) was left empty by a crash.
 */
function isStale(found: Found): boolean {
  return found.record ? !holderAlive(found.record) : found.age > 5000;
}

function heldError(dir: string, file: string, r: LockRecord | null): VaeError {
  if (!r) {
    return new VaeError(`${dir} is locked by another vae train (${file} names no process)`, { hint: `if no vae trains it, delete ${file}` });
  }
  const where = r.host === os.hostname() ? '' : ` on ${r.host}`;
  const since = typeof r.since === 'string' ? `, since ${r.since.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}` : '';
  return new VaeError(`${dir} is being trained by another vae (pid ${r.pid}${where}${since})`, {
    hint: `wait for it to finish${where ? '' : ` or stop it with kill ${r.pid}`}; if pid ${r.pid} is not vae, delete ${file}`,
  });
}

/** The pid of the live trainer holding the run in `dir`, or null (reading only). */
export function trainerOf(dir: string): number | null {
  const found = readLock(path.join(dir, LOCK_FILE));
  return found && !isStale(found) ? (found.record?.pid ?? null) : null;
}

/**
 * Refuse at once (reading only) when a live trainer holds the run in `dir`. `lockRun` is what
 * decides; this lets a command say so before it starts a backend or loads data.
 */
export function refuseIfLocked(dir: string): void {
  const file = path.join(dir, LOCK_FILE);
  const found = readLock(file);
  if (found && !isStale(found)) throw heldError(dir, file, found.record);
}

/**
 * Move a stale lock aside, but only if it is still the one judged stale: another trainer may
 * have taken it over meanwhile, and then its new lock is put back. True when the way is clear.
 */
function takeOver(file: string, staleText: string): boolean {
  const aside = `${file}.stale-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw writeError(file, err);
  }
  const moved = fs.readFileSync(aside, 'utf8');
  if (moved !== staleText) {
    try {
      fs.linkSync(aside, file);
    } catch {
      /* a third trainer holds it now */
    }
    fs.rmSync(aside, { force: true });
    return false;
  }
  fs.rmSync(aside, { force: true });
  return true;
}

/** Take the training lock of the run in `dir` (which must exist), or refuse naming its holder. */
export function lockRun(dir: string): RunLock {
  const file = path.join(dir, LOCK_FILE);
  const record: LockRecord = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), procStart: processStart(process.pid), token: crypto.randomBytes(8).toString('hex') };
  const text = `${JSON.stringify(record)}\n`;
  let tookOverFrom: number | null = null;
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, text, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(file, err);
    }
    const found = readLock(file);
    if (!found) continue; // released just now
    if (!isStale(found) || attempt >= 3 || !takeOver(file, found.text)) throw heldError(dir, file, readLock(file)?.record ?? found.record);
    tookOverFrom = found.record?.pid ?? null;
  }
  const ours = () => readLock(file)?.record?.token === record.token;
  const remove = () => {
    try {
      if (ours()) fs.rmSync(file, { force: true });
    } catch {
      /* leaving the process: a lock that cannot be removed is stale once we are gone */
    }
  };
  process.on('exit', remove);
  return {
    tookOverFrom,
    release() {
      process.off('exit', remove);
      remove();
    },
  };
}
