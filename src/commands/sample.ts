import type { Command } from 'commander';
import { tf } from '../tf.js';
import { Rng } from '../random.js';
import { loadRun, resolveRun } from '../run/run.js';
import { decodeMean } from '../model/vae.js';
import { gridPng } from '../image/grid.js';
import { writeFileAtomic } from '../run/atomic.js';
import { addBackendOption, checkOutputPath, intArg, makeLog, refuseTerminal, startBackend, writeStdout, type CommonOptions } from './options.js';

export const MAX_SAMPLES = 4096;

interface SampleOptions extends CommonOptions {
  run?: string;
  n: number;
  cols?: number;
  seed: number;
  out?: string;
  best?: boolean;
}

export function registerSample(program: Command): void {
  const cmd = program
    .command('sample')
    .description('draw z ~ N(0, I) and write a PNG grid of decoder means (to stdout, or --out FILE)')
    .option('-r, --run <dir>', 'run directory (default: the latest run under ./runs)')
    .option('-n, --n <count>', `number of samples (1 to ${MAX_SAMPLES})`, intArg('--n', 1, MAX_SAMPLES), 64)
    .option('--cols <count>', 'grid columns (default: a square grid)', intArg('--cols', 1, MAX_SAMPLES))
    .option('--seed <int>', 'random seed for z', intArg('--seed', 0, 2 ** 31 - 1), 0)
    .option('-o, --out <file>', 'write the PNG here instead of stdout')
    .option('--best', "use the run's best checkpoint (by validation ELBO) instead of its last")
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText('after', '\nExamples:\n  vae sample --n 64 > grid.png\n  vae sample --run runs/mnist-20261124-120000 --n 100 --cols 10 --out grid.png\n');
  addBackendOption(cmd).action(async (opts: SampleOptions) => {
    if (opts.out) checkOutputPath(opts.out);
    else refuseTerminal('PNG bytes', `vae sample --n ${opts.n} > grid.png`);
    const log = makeLog(opts);
    const dir = resolveRun(opts.run);
    await startBackend(opts.backend, log);
    const run = loadRun(dir, opts.best ? 'best' : 'last');
    const J = run.vae.spec.latentDim;
    const z = Rng.derive(opts.seed, 'sample').fillNormal(new Float32Array(opts.n * J));
    const means = tf.tidy(() => decodeMean(run.vae, tf.tensor2d(z, [opts.n, J])));
    const pixels = (await means.data()) as Float32Array;
    means.dispose();
    const png = await gridPng(pixels, opts.n, run.meta.dataShape, { cols: opts.cols });
    if (opts.out) {
      writeFileAtomic(opts.out, png);
      log.info(`wrote ${opts.n} samples from ${dir} (epoch ${run.meta.epoch}) to ${opts.out}`);
    } else {
      await writeStdout(png);
      log.info(`wrote ${opts.n} samples from ${dir} (epoch ${run.meta.epoch}) to stdout`);
    }
  });
}
