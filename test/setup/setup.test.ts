/**
 * `vae setup tensorflow` through the real binary, each in its own cache folder (VAE_CACHE_DIR):
 * missing prerequisites, a corrupt wheel, Ctrl-C during the build (nothing left behind, a rerun
 * succeeds), idempotence and --remove. The build test reuses the TensorFlow libraries of this
 * user's own setup (so as not to download 274 MB again), and skips, saying so, without one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tensorflowLayout, TF_WHEEL } from '../../src/backend/tensorflow-home.js';
import { BIN, runVae } from '../support/bin.js';

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vae-setup-${prefix}-`));
}

/** Everything under `dir`, as relative paths. */
function contents(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

// tools found through the environment, cleared so that each test controls them
const CLEAR = { npm_execpath: '', npm_config_node_gyp: '', npm_config_nodedir: '', CXX: '', PYTHON: '', VAE_PIP: '' };

test('missing prerequisites: one line each saying how to get it, exit 1, nothing written', () => {
  const cache = tmp('cache');
  const emptyBin = tmp('bin');
  const r = runVae(['setup', 'tensorflow'], { cwd: cache, env: { ...CLEAR, VAE_CACHE_DIR: cache, PATH: emptyBin } });
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.match(r.stderr, /^vae: setup tensorflow needs pip: install it \(Debian: apt-get install -y python3-pip\), or .* --wheel FILE$/m);
  assert.match(r.stderr, /^vae: setup tensorflow needs npm: /m);
  assert.match(r.stderr, /^vae: setup tensorflow needs a C\+\+ compiler: apt-get install -y g\+\+ make/m);
  assert.match(r.stderr, /^vae: setup tensorflow needs make: /m);
  assert.match(lines.at(-1) ?? '', /^vae: cannot set up tensorflow: \d+ prerequisites missing \(listed above\)$/);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  assert.deepEqual(contents(cache), []);
});

test('a corrupt wheel: one line naming what it expected and how to get it, exit 2, nothing written', () => {
  const cache = tmp('cache');
  const wheel = path.join(cache, '..', `${path.basename(cache)}-${TF_WHEEL.file}`);
  fs.writeFileSync(wheel, Buffer.alloc(4096, 7));
  try {
    const r = runVae(['setup', 'tensorflow', '--wheel', wheel], { cwd: cache, env: { VAE_CACHE_DIR: cache } });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^vae: --wheel .* is not tensorflow_cpu-2\.21\.0-cp311-cp311-manylinux_2_27_x86_64\.whl \(SHA-256 .*4096 bytes; expected .*\): corrupt, truncated or another file \(download it again: pip download /);
    assert.deepEqual(contents(cache), []);
    const none = runVae(['setup', 'tensorflow', '--wheel', path.join(cache, 'nope.whl')], { cwd: cache, env: { VAE_CACHE_DIR: cache } });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^vae: --wheel .*nope\.whl: no such file/);
  } finally {
    fs.rmSync(wheel, { force: true });
  }
});

test('vae setup cuda and unknown names: refused with the reason, exit 2', () => {
  const r = runVae(['setup', 'cuda'], { cwd: os.tmpdir() });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^vae: vae setup cuda is not available: no GPU TensorFlow wheel built for CUDA 12/);
  assert.equal(runVae(['setup', 'tensorflo'], { cwd: os.tmpdir() }).code, 2);
});

const real = tensorflowLayout();
const haveLibs = fs.existsSync(path.join(real.tf, 'wheel.json'));

/** Run setup, sending SIGINT once `when` holds (polled); resolves with its exit code and stderr. */
function setupInterruptedWhen(env: NodeJS.ProcessEnv, when: () => boolean): Promise<{ code: number | null; stderr: string; interrupted: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'setup', 'tensorflow'], { env: { ...process.env, ...env } });
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      if (!interrupted && when()) {
        interrupted = true;
        child.kill('SIGINT');
      }
    }, 50);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code, stderr, interrupted });
    });
  });
}

test(
  'Ctrl-C during the build leaves nothing behind; a rerun succeeds, a third run says it is set up, --remove removes it',
  { skip: haveLibs ? false : `needs the libraries of a previous vae setup tensorflow in ${real.tf} (not downloaded again here)` },
  async () => {
    const cache = tmp('cache');
    const layout = tensorflowLayout({ VAE_CACHE_DIR: cache });
    // this cache shares the user's extracted libraries (a link), but has no binding and no installation
    fs.mkdirSync(layout.tf, { recursive: true });
    fs.symlinkSync(fs.realpathSync(real.lib), layout.lib);
    fs.cpSync(real.include, layout.include, { recursive: true });
    fs.copyFileSync(path.join(real.tf, 'wheel.json'), path.join(layout.tf, 'wheel.json'));
    const env = { VAE_CACHE_DIR: cache };
    const installs = path.dirname(layout.install);
    const building = () => fs.existsSync(installs) && fs.readdirSync(installs).some((n) => fs.existsSync(path.join(installs, n, 'node_modules', '@tensorflow', 'tfjs-node', 'build')));

    const stopped = await setupInterruptedWhen(env, building);
    assert.ok(stopped.interrupted, `the build never started: ${stopped.stderr}`);
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /^vae: setup interrupted: tensorflow is not set up; steps that finished are kept \(run vae setup tensorflow again to continue\)$/m);
    assert.deepEqual(contents(installs), [], 'no installation and no staging folder left');
    assert.ok(!fs.existsSync(layout.binding), 'no binding kept');
    const notSetUp = runVae(['backends', '--json'], { cwd: cache, env });
    const row = (JSON.parse(notSetUp.stdout.toString()) as { name: string; ok: boolean; hint?: string }[]).find((b) => b.name === 'tensorflow');
    assert.equal(row?.ok, false);
    assert.match(row?.hint ?? '', /vae setup tensorflow/);

    const again = runVae(['setup', 'tensorflow'], { cwd: cache, env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^built the binding against TensorFlow 2\.21\.0's headers/m);
    assert.match(again.stderr, /^tensorflow is set up: CPU \(TensorFlow 2\.21\.0 C library\)$/m);
    assert.match(again.stderr, /one training step of a small VAE matches cpu/);
    assert.ok(fs.existsSync(layout.manifest) && fs.existsSync(layout.binding));
    assert.equal(again.stdout.length, 0, 'nothing on stdout');

    const third = runVae(['setup', 'tensorflow'], { cwd: cache, env });
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stderr, /^tensorflow is already set up \(--force redoes it\)/m);
    assert.doesNotMatch(third.stderr, /npm install|built the binding/);

    const removed = runVae(['setup', 'tensorflow', '--remove'], { cwd: cache, env });
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stderr, /^removed the tensorflow backend \(\d[\d,]* MB freed\)/m);
    assert.deepEqual(contents(cache), []);
    assert.ok(fs.existsSync(path.join(real.lib, 'libtensorflow_cc.so.2')), "the user's own libraries are untouched");
    fs.rmSync(cache, { recursive: true, force: true });
  },
);
