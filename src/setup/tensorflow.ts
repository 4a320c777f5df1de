/**
 * `vae setup tensorflow`: the steps in order, each working in a staging folder that is renamed
 * into place only when complete, so that a failure or Ctrl-C leaves nothing half-installed and a
 * rerun starts clean. The big parts (libraries, headers, the compiled binding) are shared by all
 * of the user's vae installations; each installation gets its own small tfjs-node folder linked
 * to its own tfjs. Layout: src/backend/tensorflow-home.ts and docs/backends.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RuntimeFailure } from '../errors.js';
import { formatDuration, type Log } from '../ui/log.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { TF_WHEEL, TFJS_NODE_VERSION, readManifest, tensorflowLayout, vaeRoot, type SetupManifest, type TensorflowLayout } from '../backend/tensorflow-home.js';
import { checkTools, type Tools } from './prereqs.js';
import { checkWheel, downloadWheel } from './wheel.js';
import { extractWheel } from './extract.js';
import { buildBinding } from './binding.js';
import { bindingDir, installTfjsNode, linkInstall } from './link.js';
import { verifyTensorflow, type Verified } from './verify.js';

export interface SetupOptions {
  wheel?: string;
  force?: boolean;
  log: Log;
  signal: AbortSignal;
}

/** Bytes on disk under `p`, not following links. */
function diskBytes(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.isSymbolicLink() ? 0 : st.blocks * 512;
  return fs.readdirSync(p).reduce((s, n) => s + diskBytes(path.join(p, n)), 0);
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1e6).toLocaleString('en-US')} MB`;
}

function tilde(p: string): string {
  const home = os.homedir();
  return p.startsWith(`${home}/`) ? `~/${p.slice(home.length + 1)}` : p;
}

/** A fresh staging folder beside `final`; removed by `cleanup` unless renamed into place. */
class Staging {
  private readonly dirs: string[] = [];
  make(final: string): string {
    fs.mkdirSync(path.dirname(final), { recursive: true });
    const dir = `${path.join(path.dirname(final), `.staging-${path.basename(final)}`)}-${process.pid}`;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    this.dirs.push(dir);
    return dir;
  }
  /** Replace `final` with the complete `dir`. */
  commit(dir: string, final: string): void {
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(dir, final);
    this.dirs.splice(this.dirs.indexOf(dir), 1);
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** Leftovers of runs that were killed outright (kill -9, power loss). */
function removeStale(layout: TensorflowLayout): void {
  for (const dir of [layout.home, path.dirname(layout.install)]) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const pid = Number(/^\.staging-.*-(\d+)$/.exec(n)?.[1]);
      if (!pid) continue;
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = pid !== process.pid;
      } catch {
        /* gone */
      }
      if (!alive) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
    }
  }
}

const timers = new Set<NodeJS.Timeout>();

/** A live status line with the elapsed time, and every tool line under --verbose. */
function progress(log: Log, label: string): { onLine: (line: string) => void; set: (detail: string) => void; done: (what: string) => void } {
  const t0 = Date.now();
  let detail = '';
  const show = () => log.status(`${label} ${formatDuration((Date.now() - t0) / 1000)}${detail ? `  ${detail}` : ''}`);
  const timer = setInterval(show, 250);
  timer.unref();
  timers.add(timer);
  show();
  return {
    onLine: (line) => {
      log.debug(`  ${line}`);
      const pct = /(\d[\d.]*\/\d[\d.]* [kMG]B)/.exec(line)?.[1];
      if (pct) detail = pct;
      else if (/^\s*(CXX|SOLINK|LINK|COPY)/.test(line)) detail = line.trim();
      show();
    },
    set: (d) => {
      detail = d;
      show();
    },
    done: (what) => {
      clearInterval(timer);
      timers.delete(timer);
      log.stopStatus();
      log.info(`${what} (${formatDuration((Date.now() - t0) / 1000)})`);
    },
  };
}

async function libraries(tools: Tools, opts: SetupOptions, layout: TensorflowLayout, staging: Staging): Promise<string> {
  const { log, signal } = opts;
  if (!opts.force && fs.existsSync(path.join(layout.tf, 'wheel.json'))) {
    log.info(`TensorFlow ${TF_WHEEL.version} libraries: already in ${tilde(layout.tf)}`);
    return (JSON.parse(fs.readFileSync(path.join(layout.tf, 'wheel.json'), 'utf8')) as { source: string }).source;
  }
  const tf = staging.make(layout.tf);
  let wheel: string;
  let source: string;
  if (opts.wheel) {
    wheel = opts.wheel;
    source = wheel;
    log.info(`wheel: ${opts.wheel} is ${TF_WHEEL.file}`);
  } else {
    const p = progress(log, `downloading ${TF_WHEEL.file} (${mb(TF_WHEEL.bytes)}) with pip`);
    const dl = path.join(tf, 'download');
    fs.mkdirSync(dl);
    wheel = await downloadWheel(tools.pip ?? [], dl, { signal, onLine: p.onLine });
    source = `${TF_WHEEL.file} (pip download ${TF_WHEEL.project}==${TF_WHEEL.version})`;
    p.done(`downloaded ${TF_WHEEL.file}`);
  }
  const p = progress(log, 'extracting the libraries and headers');
  await extractWheel(wheel, tf, { signal, onBytes: (done) => p.set(`${mb(done)} written`) });
  fs.rmSync(path.join(tf, 'download'), { recursive: true, force: true });
  fs.writeFileSync(path.join(tf, 'wheel.json'), `${JSON.stringify({ wheel: TF_WHEEL.file, sha256: TF_WHEEL.sha256, source }, null, 2)}\n`);
  staging.commit(tf, layout.tf);
  p.done(`extracted 2 libraries and 14 headers into ${tilde(layout.tf)}`);
  return source;
}

async function install(tools: Tools, opts: SetupOptions, layout: TensorflowLayout, root: string, staging: Staging): Promise<void> {
  const { log, signal } = opts;
  const dir = staging.make(layout.install);
  let p = progress(log, `npm install @tensorflow/tfjs-node@${TFJS_NODE_VERSION} (no install script)`);
  await installTfjsNode(tools.npm, dir, { signal, onLine: p.onLine });
  linkInstall(dir, layout, root);
  p.done(`installed @tensorflow/tfjs-node ${TFJS_NODE_VERSION}, linked to this vae's @tensorflow/tfjs-core`);
  const pkgDir = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
  const target = path.join(bindingDir(pkgDir), 'tfjs_binding.node');
  if (opts.force || !fs.existsSync(layout.binding)) {
    p = progress(log, 'building the binding');
    const built = await buildBinding(tools, pkgDir, { signal, onLine: p.onLine });
    const tmp = `${layout.binding}.tmp-${process.pid}`;
    fs.copyFileSync(built, tmp);
    fs.renameSync(tmp, layout.binding);
    p.done(`built the binding against TensorFlow ${TF_WHEEL.version}'s headers and Node.js's in ${tools.nodeDir}/include/node`);
  } else {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(layout.binding, target);
    log.info(`binding: already built (${tilde(layout.binding)})`);
  }
  staging.commit(dir, layout.install);
}

function report(log: Log, layout: TensorflowLayout, m: SetupManifest, v: Verified, fresh: boolean): void {
  log.info(
    [
      `tensorflow is ${fresh ? 'set up' : 'already set up (--force redoes it)'}: ${v.device}`,
      `  libraries: ${m.wheel}, in ${tilde(layout.tf)}`,
      `  @tensorflow/tfjs-node ${m.tfjsNode}: ${tilde(layout.install)}`,
      `  disk: ${mb(m.bytes)}${fresh ? `; took ${formatDuration(m.seconds)}` : ''}`,
      `  check: one training step of a small VAE matches cpu (loss ${v.loss.toFixed(4)}, largest difference ${v.maxDiff.toExponential(1)})`,
      '  use it: vae train --config mnist.json --backend tensorflow',
    ].join('\n'),
  );
}

export async function setupTensorflow(opts: SetupOptions): Promise<void> {
  const { log } = opts;
  const t0 = Date.now();
  const layout = tensorflowLayout();
  const root = vaeRoot();
  removeStale(layout);
  const existing = readManifest(layout);
  if (existing && !opts.force) {
    report(log, layout, existing, await verifyTensorflow(), false);
    return;
  }
  const haveLibs = !opts.force && fs.existsSync(path.join(layout.tf, 'wheel.json'));
  // a wrong --wheel is reported before anything else
  const wheel = opts.wheel && !haveLibs ? await checkWheel(opts.wheel, opts.signal) : undefined;
  const { tools, missing } = checkTools({ needPip: !opts.wheel && !haveLibs });
  if (!tools) {
    for (const m of missing) process.stderr.write(`vae: setup tensorflow needs ${m.what}: ${m.how}\n`);
    throw new RuntimeFailure(`cannot set up tensorflow: ${missing.length} prerequisite${missing.length === 1 ? '' : 's'} missing (listed above)`);
  }
  // a previous setup of this installation is replaced as a whole
  fs.rmSync(layout.manifest, { force: true });
  const staging = new Staging();
  try {
    const source = await libraries(tools, { ...opts, wheel }, layout, staging);
    await install(tools, opts, layout, root, staging);
    const p = progress(log, 'loading the backend and checking one training step against cpu');
    const v = await verifyTensorflow();
    opts.signal.throwIfAborted();
    p.done('verified');
    const manifest: SetupManifest = {
      vaeRoot: root,
      tensorflow: TF_WHEEL.version,
      tfjsNode: TFJS_NODE_VERSION,
      wheel: source,
      bytes: diskBytes(layout.tf) + diskBytes(layout.install),
      seconds: (Date.now() - t0) / 1000,
      date: new Date().toISOString(),
    };
    writeJsonAtomic(layout.manifest, manifest);
    report(log, layout, manifest, v, true);
  } catch (err) {
    for (const t of timers) clearInterval(t);
    timers.clear();
    log.stopStatus();
    staging.cleanup();
    // an installation that did not verify is not kept
    if (!fs.existsSync(layout.manifest)) fs.rmSync(layout.install, { recursive: true, force: true });
    throw err;
  }
}

/** `--remove`: this installation's folder, and the shared files once no installation uses them. */
export function removeTensorflow(log: Log): void {
  const layout = tensorflowLayout();
  removeStale(layout);
  const freed = diskBytes(layout.install);
  const had = fs.existsSync(layout.install);
  fs.rmSync(layout.install, { recursive: true, force: true });
  const installs = path.dirname(layout.install);
  const others = fs.existsSync(installs) ? fs.readdirSync(installs).filter((n) => !n.startsWith('.')) : [];
  let shared = 0;
  if (others.length === 0 && fs.existsSync(layout.home)) {
    shared = diskBytes(layout.home);
    fs.rmSync(layout.home, { recursive: true, force: true });
  }
  if (!had && !shared) {
    log.info('tensorflow is not set up here: nothing to remove');
    return;
  }
  const kept = others.length ? `; the shared libraries in ${tilde(layout.tf)} stay for ${others.length} other vae installation${others.length === 1 ? '' : 's'}` : '';
  log.info(`removed the tensorflow backend (${mb(freed + shared)} freed)${kept}`);
}
