import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { trainVae } from '../train/train-vae.js';
import { fmt } from '../ui/table.js';
import { addBackendOption, collect, makeLog, startBackend, type CommonOptions } from './options.js';

interface TrainOptions extends CommonOptions {
  config?: string;
  set?: string[];
  out?: string;
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a VAE; writes a run directory with checkpoints, metrics and sample PNGs')
    .option('-c, --config <file>', 'JSON config: a path, or the name of a shipped config (e.g. mnist.json)')
    .option('-s, --set <key=value>', 'override a config key, e.g. --set train.epochs=5 (repeatable)', collect, [])
    .option('-o, --out <dir>', 'run directory (default: runs/<config-name>-<timestamp>)')
    .option('-q, --quiet', 'no progress display or tables on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText('after', '\nExamples:\n  vae train --config mnist.json\n  vae train --config configs/mnist.json --set train.epochs=2 --set data.limit=5000\n');
  addBackendOption(cmd).action(async (opts: TrainOptions) => {
    const log = makeLog(opts);
    const loaded = loadConfig({ config: opts.config, set: opts.set });
    log.info(`config: ${loaded.file ?? 'defaults'}${opts.set?.length ? ` with ${opts.set.map((s) => `--set ${s}`).join(' ')}` : ''}`);
    const backend = await startBackend(opts.backend, log);
    const result = await trainVae({ loaded, out: opts.out, backend, log, argv: process.argv.slice(2) });
    const last = result.metrics[result.metrics.length - 1];
    const run = path.relative(process.cwd(), result.dir) || '.';
    if (last) log.info(`done: validation ELBO ${last.val ? fmt(last.val.elbo) : '-'} nats after ${last.epoch} epochs`);
    log.info(`run saved in ${run}\n  vae sample --run ${run} --n 64 > grid.png\n  vae eval --run ${run}`);
  });
}
