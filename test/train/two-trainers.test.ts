/**
 * Two trainers on one run, through the real binary (cpu, a tiny config): the second is refused
 * at once in one line naming the first's pid and writes nothing in the run; a lock left by a
 * kill -9'd trainer is taken over; two trainers started together on the same --out give one run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, runMetrics, runVae } from '../support/bin.js';
import { snapshot } from '../support/files.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-two-'));
const TINY = ['--backend', 'cpu', '--quiet', '--set', 'data.limit=256', '--set', 'data.validation=64', '--set', 'model.hidden=[16]', '--set', 'model.latentDim=2', '--set', 'train.batchSize=32'];
const vae = (args: string[]) => runVae(args, { cwd: work });
const lockOf = (run: string) => path.join(work, run, 'train.lock');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function start(args: string[]): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return { child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))), stderr: () => err };
}

async function until(what: string, ok: () => boolean, child: ChildProcess): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (child.exitCode !== null) throw new Error(`the trainer exited (${child.exitCode}) before ${what}`);
    if (Date.now() - t0 > 60_000) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function refusedFor(r: ReturnType<typeof vae>, run: string, pid: number): void {
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^vae: ${run} is being trained by another vae \\(pid ${pid}, since [^)]+\\) \\(wait for it to finish or stop it with kill ${pid}; if pid ${pid} is not vae, delete ${run}/train.lock\\)\\n$`));
  assert.equal(r.stdout.length, 0);
}

test('a second trainer on a running run is refused at once, names the pid, and writes nothing; the first releases the lock on Ctrl-C', async () => {
  const first = start(['train', ...TINY, '--set', 'train.epochs=1000', '--out', 'busy']);
  const pid = first.child.pid!;
  try {
    await until('the lock and the config', () => fs.existsSync(lockOf('busy')) && fs.existsSync(path.join(work, 'busy', 'run.json')), first.child);
    // Held still, so that the run can be compared before and after the second trainer.
    first.child.kill('SIGSTOP');
    if (!fs.existsSync(path.join(work, 'busy', 'checkpoint.json'))) {
      const s = vae(['sample', '--run', 'busy', '--out', 'busy.png']);
      assert.equal(s.code, 2);
      assert.equal(s.stderr, `vae: busy is still training (pid ${pid}) and has no checkpoint yet (wait for its first one, at the end of its first epoch or after train.checkpointMinutes)\n`);
    }
    first.child.kill('SIGCONT');
    await until('a checkpoint', () => fs.existsSync(path.join(work, 'busy', 'checkpoint.json')), first.child);
    first.child.kill('SIGSTOP');
    await sleep(200);
    const before = snapshot(path.join(work, 'busy'));
    // Refused before a backend starts: without --quiet, no other line comes first.
    refusedFor(vae(['train', '--resume', 'busy', '--backend', 'cpu']), 'busy', pid);
    refusedFor(vae(['train', '--resume', 'busy', '--set', 'train.epochs=2000', '--quiet']), 'busy', pid);
    refusedFor(vae(['train', ...TINY, '--out', 'busy']), 'busy', pid);
    assert.deepEqual(snapshot(path.join(work, 'busy')), before, 'the refused trainers changed the run');
    // Reading commands need no lock.
    assert.equal(vae(['sample', '--run', 'busy', '--n', '4', '--out', 'busy.png']).code, 0);
    first.child.kill('SIGCONT');
    first.child.kill('SIGINT');
    assert.equal(await first.exited, 130, first.stderr());
    assert.equal(fs.existsSync(lockOf('busy')), false, 'the lock is released on Ctrl-C');
  } finally {
    first.child.kill('SIGKILL');
  }
  // Now the run is free; a second Ctrl-C (process.exit at once) releases the lock too.
  const again = start(['train', '--resume', 'busy', '--quiet']);
  await until('the lock', () => fs.existsSync(lockOf('busy')), again.child);
  again.child.kill('SIGINT');
  again.child.kill('SIGINT');
  assert.equal(await again.exited, 130, again.stderr());
  assert.equal(fs.existsSync(lockOf('busy')), false, 'the lock is released on a second Ctrl-C');
});

test('a lock left by a kill -9 is detected and taken over by --resume', async () => {
  const first = start(['train', ...TINY, '--set', 'train.epochs=1000', '--out', 'killed']);
  await until('a checkpoint', () => fs.existsSync(path.join(work, 'killed', 'checkpoint.json')), first.child);
  first.child.kill('SIGKILL');
  await first.exited;
  assert.equal(JSON.parse(fs.readFileSync(lockOf('killed'), 'utf8')).pid, first.child.pid, 'kill -9 leaves the lock');
  const epoch = JSON.parse(fs.readFileSync(path.join(work, 'killed', 'checkpoint.json'), 'utf8')).meta.epoch;
  const r = vae(['train', '--resume', 'killed', '--set', `train.epochs=${epoch + 1}`, '--backend', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`took over the lock that an earlier vae train \\(pid ${first.child.pid}, no longer running\\) left in the run`));
  assert.equal(fs.existsSync(lockOf('killed')), false);
});

test('two trainers started together on the same --out: one trains, the other is refused, and the run is the one a lone trainer makes', async () => {
  const args = ['train', ...TINY, '--set', 'train.epochs=4'];
  const alone = vae([...args, '--out', 'alone']);
  assert.equal(alone.code, 0, alone.stderr);
  const a = start([...args, '--out', 'raced']);
  const b = start([...args, '--out', 'raced']);
  const codes = [await a.exited, await b.exited];
  const lost = codes[0] === 0 ? b : a;
  assert.deepEqual([...codes].sort(), [0, 2], `${a.stderr()}\n${b.stderr()}`);
  assert.match(lost.stderr(), /^vae: raced (is being trained by another vae \(pid \d+|already holds a run)/);
  assert.equal(lost.stderr().trim().split('\n').length, 1, lost.stderr());
  assert.deepEqual(runMetrics(path.join(work, 'raced')), runMetrics(path.join(work, 'alone')));
  const sha = (run: string) => JSON.parse(fs.readFileSync(path.join(work, run, 'checkpoint.json'), 'utf8')).sha256;
  assert.equal(sha('raced'), sha('alone'));
  assert.equal(fs.existsSync(lockOf('raced')), false);
});
