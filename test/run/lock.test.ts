/** The training lock on its own: taken atomically, refused while its holder lives, taken over when it is stale, released only by its holder. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOCK_FILE, lockRun, refuseIfLocked, trainerOf } from '../../src/run/lock.js';
import { createRunDir } from '../../src/run/run.js';

const fresh = () => fs.mkdtempSync(path.join(os.tmpdir(), 'vae-lock-'));

/** The pid of a process that has exited (a short-lived child). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

const record = (fields: Record<string, unknown>) => `${JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString(), procStart: null, token: 'x', ...fields })}\n`;

test('a second lock on the same run is refused, naming the holder; release frees it, and only once', () => {
  const dir = fresh();
  const lock = lockRun(dir);
  assert.equal(lock.tookOverFrom, null);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  assert.equal(trainerOf(dir), process.pid);
  assert.throws(() => lockRun(dir), (err: Error & { exitCode?: number; hint?: string }) => {
    assert.match(err.message, new RegExp(`is being trained by another vae \\(pid ${process.pid}, since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\)$`));
    assert.equal(err.exitCode, 2);
    assert.match(err.hint ?? '', new RegExp(`kill ${process.pid}.*delete .*${LOCK_FILE}`));
    return true;
  });
  assert.throws(() => refuseIfLocked(dir), /is being trained by another vae/);
  lock.release();
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
  assert.equal(trainerOf(dir), null);
  refuseIfLocked(dir);
  // A released lock does not remove a lock someone else took since.
  const next = lockRun(dir);
  lock.release();
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), true);
  next.release();
});

test('a lock whose process is gone (kill -9) is stale: taken over, and reported', () => {
  const dir = fresh();
  const pid = deadPid();
  fs.writeFileSync(path.join(dir, LOCK_FILE), record({ pid }));
  assert.equal(trainerOf(dir), null);
  refuseIfLocked(dir);
  const lock = lockRun(dir);
  assert.equal(lock.tookOverFrom, pid);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  assert.deepEqual(fs.readdirSync(dir), [LOCK_FILE], 'nothing left beside the lock');
  lock.release();
});

test('a pid given to another process since is stale too (Linux: the process start time differs)', { skip: fs.existsSync('/proc/self/stat') ? false : 'no /proc here' }, () => {
  const dir = fresh();
  fs.writeFileSync(path.join(dir, LOCK_FILE), record({ procStart: '1' }));
  const lock = lockRun(dir);
  assert.equal(lock.tookOverFrom, process.pid);
  lock.release();
});

test('a lock taken on another host, or one that names no process yet, is respected; an old empty one is stale', () => {
  const dir = fresh();
  const file = path.join(dir, LOCK_FILE);
  fs.writeFileSync(file, record({ pid: deadPid(), host: 'another-host' }));
  assert.throws(() => lockRun(dir), /being trained by another vae \(pid \d+ on another-host, since/);
  fs.writeFileSync(file, '');
  assert.throws(() => lockRun(dir), /is locked by another vae train/);
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(file, old, old);
  const lock = lockRun(dir);
  assert.equal(lock.tookOverFrom, null);
  lock.release();
});

test('the lock goes when the process exits, also by process.exit (a second Ctrl-C)', () => {
  const dir = fresh();
  const src = new URL('../../src/run/lock.ts', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `const { lockRun } = await import(${JSON.stringify(src)}); lockRun(${JSON.stringify(dir)}); process.exit(130);`]);
  assert.equal(r.status, 130, r.stderr.toString());
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
});

test('two new runs in one folder: the second createRunDir is refused by the lock of the first, before either has written a file', () => {
  const dir = path.join(fresh(), 'run');
  const lock = createRunDir(dir);
  assert.throws(() => createRunDir(dir), new RegExp(`run is being trained by another vae \\(pid ${process.pid}`));
  lock.release();
  // Free again, and still empty: a new run may start there.
  createRunDir(dir).release();
});
