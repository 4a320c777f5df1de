/** Shared option parsing and set-up for commands. */
import fs from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { VaeError } from '../errors.js';
import { BACKEND_NAMES, parseBackendName, selectBackend, type BackendName, type BackendReport } from '../backend/index.js';
import { Log } from '../ui/log.js';
import { dawnProbeLog } from '../backend/webgpu/probe.js';
import { writeFileAtomic } from '../util/atomic.js';
import { loadRun, requireCheckpoint, resolveRun, type LoadedRun } from '../run/run.js';

export interface CommonOptions {
  backend: string;
  quiet?: boolean;
  verbose?: boolean;
}

/** An integer option within [min, max], with a message naming the flag. */
export function intArg(flag: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new VaeError(`${flag} must be a whole number, got '${value}'`);
    const n = Number(value);
    if (n < min || n > max) throw new VaeError(`${flag} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function addBackendOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--backend <name>', `compute backend: ${BACKEND_NAMES.join(', ')}`).default('auto').env('VAE_BACKEND'),
  );
}

export function makeLog(opts: { quiet?: boolean; verbose?: boolean }): Log {
  return new Log({ quiet: opts.quiet, verbose: opts.verbose });
}

/** Dawn's own lines from the adapter probe, under --verbose only. */
export function showDawnLog(log: Log): void {
  const lines = dawnProbeLog();
  if (lines) log.debug(`Dawn (webgpu) said while looking for an adapter:\n${lines.replace(/^/gm, '  ')}`);
}

/** Select the backend and say which on stderr. */
export async function startBackend(name: string, log: Log): Promise<BackendReport> {
  const requested: BackendName = parseBackendName(name);
  let report: BackendReport;
  try {
    report = await selectBackend(requested);
  } finally {
    showDawnLog(log);
  }
  const why = report.skipped.length ? ` (auto; skipped ${report.skipped.map((s) => s.name).join(', ')})` : '';
  log.info(`backend: ${report.name} - ${report.device}${why}`);
  for (const s of report.skipped) log.debug(`  ${s.name}: ${s.reason}`);
  return report;
}

/** Check before any work that an output file can be written: its folder exists and is writable. */
export function checkOutputPath(file: string): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new VaeError(`cannot write ${file}: the folder ${dir} does not exist`, { hint: 'create it first or choose another path' });
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new VaeError(`cannot write ${file}: the folder ${dir} is not writable`, { hint: 'choose a folder you can write to' });
  }
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new VaeError(`cannot write ${file}: it is a directory`);
}

/** Refuse binary output to a terminal, naming the command to use instead. */
export function refuseTerminal(what: string, instead: string): void {
  if (process.stdout.isTTY) {
    throw new VaeError(`refusing to write ${what} to the terminal`, { hint: `redirect it, e.g. \`${instead}\`, or use --out FILE` });
  }
}

/** Write bytes to stdout and wait until they are handed to the OS. */
export function writeStdout(data: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Before any work: check that output can go where it is asked to (--out's folder exists and is
 * writable), or that binary output is not about to land on a terminal.
 */
export function preflightOutput(out: string | undefined, what: { binary: boolean; label: string; instead: string }): void {
  if (out) checkOutputPath(out);
  else if (what.binary) refuseTerminal(what.label, what.instead);
}

/** Write the result to --out (atomically) or to stdout. */
export async function emit(data: Uint8Array | string, out: string | undefined): Promise<void> {
  if (out) writeFileAtomic(out, data);
  else await writeStdout(data);
}

/** The PNG options every picture-making command shares. */
export function addPictureOptions(cmd: Command): Command {
  return cmd
    .option('--cols <count>', 'grid columns', intArg('--cols', 1, 4096))
    .option('--scale <factor>', 'integer upscaling with crisp pixels', intArg('--scale', 1, 32), 1)
    .option('--padding <px>', 'pixels between tiles', intArg('--padding', 0, 64), 2);
}

/** --run and --best, for commands that read a trained run. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('-r, --run <dir>', 'run directory (default: the latest run under ./runs)')
    .option('--best', "use the run's best checkpoint (by validation ELBO) instead of its last");
}

/** Find the run (--run or the latest), start the backend, and load the run's model. */
export async function openRun(opts: CommonOptions & { run?: string; best?: boolean }, log: Log): Promise<{ dir: string; run: LoadedRun }> {
  const dir = resolveRun(opts.run);
  requireCheckpoint(dir, opts.best ? 'best' : 'last');
  await startBackend(opts.backend, log);
  return { dir, run: loadRun(dir, opts.best ? 'best' : 'last') };
}
