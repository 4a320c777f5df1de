import path from 'node:path';
import type { Command } from 'commander';
import { VaeError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { trainVae } from '../train/train-vae.js';
import { outOfPatience } from '../train/early-stop.js';
import { resumeConfig } from '../train/resume.js';
import { hasCheckpoint } from '../run/checkpoint.js';
import { refuseIfLocked } from '../run/lock.js';
import { checkNewRunDir, lastBackend, readRunConfig, readRunInfo, readRunMeta, resolveRun } from '../run/run.js';
import { fmt } from '../ui/table.js';
import { EXIT_ON, takeSignals, type StopSignal } from '../ui/signals.js';
import { addBackendOption, collect, makeLog, startBackend, type CommonOptions } from './options.js';

interface TrainOptions extends CommonOptions {
  config?: string;
  set?: string[];
  out?: string;
  resume?: string | boolean;
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a VAE; writes a run directory with checkpoints, metrics and sample PNGs')
    .option('-c, --config <file>', 'JSON config: a path, or the name of a shipped config (e.g. mnist.json)')
    .option('-s, --set <key=value>', 'override a config key, e.g. --set train.epochs=5 (repeatable)', collect, [])
    .option('-o, --out <dir>', 'run directory (default: runs/<config-name>-<timestamp>)')
    .option('--resume [run]', 'continue a run from its last checkpoint (default: the latest run); --set train.epochs=N trains longer')
    .option('-q, --quiet', 'no progress display or tables on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText(
      'after',
      '\nCtrl-C (SIGINT) or SIGTERM stops after the current step and saves a checkpoint to resume from;\na second Ctrl-C quits at once (the last checkpoint stays intact).\n\nExamples:\n  vae train --config mnist.json\n  vae train --config configs/mnist.json --set train.epochs=2 --set data.limit=5000\n  vae train --resume runs/mnist-20261124-201441 --set train.epochs=20\n',
    );
  addBackendOption(cmd).action(async (opts: TrainOptions, command: Command) => {
    const log = makeLog(opts);
    let resumeDir: string | undefined;
    let config;
    let name = 'default';
    let configFile: string | null = null;
    if (opts.resume !== undefined) {
      if (opts.out) throw new VaeError('--out and --resume cannot be used together', { hint: '--resume continues the run in its own directory' });
      resumeDir = resolveRun(typeof opts.resume === 'string' ? opts.resume : undefined, { unstarted: true });
      // Another trainer on this run is refused before anything else (trainVae takes the lock).
      refuseIfLocked(resumeDir);
      config = resumeConfig(readRunConfig(resumeDir), { config: opts.config, set: opts.set }, resumeDir);
      // A run with no checkpoint yet starts again from the beginning (trainVae).
      const meta = hasCheckpoint(resumeDir) ? readRunMeta(resumeDir) : { epoch: 0, partial: null, best: null };
      if (meta.epoch >= config.train.epochs && !meta.partial) {
        throw new VaeError(`${resumeDir} has already trained ${meta.epoch} of ${config.train.epochs} epochs`, {
          hint: `to train longer: vae train --resume ${resumeDir} --set train.epochs=${meta.epoch + 10}`,
        });
      }
      const patience = config.train.patience;
      if (!meta.partial && meta.best && outOfPatience(meta.epoch, meta.best, patience)) {
        const since = meta.epoch - meta.best.epoch;
        throw new VaeError(`${resumeDir} stopped early after epoch ${meta.epoch}: no better validation ELBO for ${since} epochs (train.patience is ${patience})`, {
          hint: `to continue anyway: vae train --resume ${resumeDir} --set train.patience=${since + patience!} (or =null)`,
        });
      }
    } else {
      if (opts.out) checkNewRunDir(opts.out);
      const loaded = loadConfig({ config: opts.config, set: opts.set });
      config = loaded.config;
      name = loaded.name;
      configFile = loaded.file;
      log.info(`config: ${loaded.file ?? 'defaults'}${opts.set?.length ? ` with ${opts.set.map((s) => `--set ${s}`).join(' ')}` : ''}`);
    }
    let backendName = opts.backend;
    if (resumeDir && command.getOptionValueSource('backend') === 'default') {
      // Continue on the backend the run was trained with: backends round differently, and only
      // the same backend continues the run exactly.
      const used = lastBackend(readRunInfo(resumeDir));
      if (used) backendName = used;
    }
    let backend;
    try {
      backend = await startBackend(backendName, log);
    } catch (err) {
      if (backendName === opts.backend) throw err;
      log.warn(`the run was trained on '${backendName}', which cannot load here; continuing with --backend ${opts.backend} (numbers will not match an uninterrupted run exactly)`);
      backend = await startBackend(opts.backend, log);
    }

    let signal: StopSignal | null = null;
    const onSignal = (sig: StopSignal) => {
      if (signal) {
        process.stderr.write(`\nvae: ${sig} again: quitting now; the last checkpoint is intact\n`);
        process.exit(EXIT_ON[sig]);
      }
      signal = sig;
      log.stopStatus();
      process.stderr.write(`\nvae: ${sig}: finishing the current step and saving a checkpoint (press Ctrl-C again to quit at once)\n`);
    };
    const release = takeSignals(onSignal);
    try {
      const result = await trainVae({ config, name, configFile, out: opts.out, resumeDir, backend, log, argv: process.argv.slice(2), shouldStop: () => signal !== null });
      const run = path.relative(process.cwd(), result.dir) || '.';
      if (result.stopped && signal) {
        const at = result.stopped;
        process.stderr.write(
          `vae: stopped by ${signal} in epoch ${at.epoch + 1}, step ${at.stepInEpoch} of ${at.stepsInEpoch}; checkpoint saved in ${run}\n  resume with: vae train --resume ${run}\n`,
        );
        process.exitCode = EXIT_ON[signal];
        return;
      }
      const last = result.metrics[result.metrics.length - 1];
      if (last && !result.earlyStop) log.info(`done: validation ELBO ${last.val ? fmt(last.val.elbo) : '-'} nats after ${last.epoch} epoch${last.epoch === 1 ? '' : 's'}`);
      log.info(`run saved in ${run}\n  vae sample --run ${run} --n 64 > grid.png\n  vae eval --run ${run}`);
    } finally {
      release();
    }
  });
}
