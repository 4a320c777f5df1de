/**
 * The command-line program (a factory, so tests can drive it) and the one place where errors
 * become a line on stderr and an exit code: 2 for usage and input errors, 1 for runtime
 * failures, with a stack trace only under --verbose.
 */
import { Command, CommanderError } from 'commander';
import { VaeError, formatError } from './errors.js';
import { VERSION } from './version.js';
import { exitOnSignals } from './ui/signals.js';
import { registerTrain } from './commands/train.js';
import { registerSample } from './commands/sample.js';
import { registerEval } from './commands/eval.js';
import { registerBackends } from './commands/backends.js';
import { registerEncode } from './commands/encode.js';
import { registerDecode } from './commands/decode.js';
import { registerReconstruct } from './commands/reconstruct.js';
import { registerBench } from './commands/bench.js';
import { registerExport } from './commands/export.js';
import { registerExplore } from './commands/explore.js';
import { checkSlips } from './commands/slips.js';
import { registerSetup } from './commands/setup.js';
import { tuneGcForTraining } from './util/gc-tuning.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('vae')
    .description('Train, sample and evaluate variational autoencoders on TensorFlow.js')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Commander's own errors, e.g. "error: unknown option '--ouy'\n(Did you mean --out?)", on one line.
      outputError: (str, write) => write(`vae: ${str.trim().replace(/^error: /, '').replace(/\s*\n\(Did you mean (.+)\?\)/, ' (did you mean $1?)')}\n`),
    })
    .addHelpText('after', '\nQuick start:\n  vae train --config mnist.json\n  vae sample --n 64 > grid.png\n  vae eval\n');
  registerTrain(program);
  registerSample(program);
  registerEval(program);
  registerEncode(program);
  registerDecode(program);
  registerReconstruct(program);
  registerBackends(program);
  registerBench(program);
  registerExport(program);
  registerExplore(program);
  registerSetup(program);
  return program;
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  // Ctrl-C and SIGTERM stop any command (exit 130 / 143); training takes them over to save first.
  exitOnSignals();
  tuneGcForTraining();
  const program = buildProgram();
  if (argv.length === 0) {
    // A bare `vae` is a usage error: the command list on stderr, exit 2.
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    checkSlips(program, argv);
    await program.parseAsync(argv, { from: 'user' });
    // A command may set a non-zero exit code without failing (e.g. 130 after a clean Ctrl-C stop).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      if (err.code === 'commander.executeSubCommandAsync') return err.exitCode;
      // Errors thrown by our option parsers arrive wrapped; commander has printed them already.
      return 2;
    }
    if (err instanceof VaeError) {
      process.stderr.write(`vae: ${formatError(err)}\n`);
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(`vae: internal error: ${e?.message ?? String(err)}${verbose ? '' : ' (run with --verbose for the stack trace)'}\n`);
    if (verbose && e?.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
