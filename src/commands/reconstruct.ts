import type { Command } from 'commander';
import { convertStill } from '../image/convert.js';
import { formatForOutput } from './output-format.js';
import { decodeArrays, encodeArrays } from '../model/arrays.js';
import { gridPng, pairRows } from '../image/grid.js';
import { checkPrepare, readInputs } from './inputs.js';
import { addBackendOption, addRunOptions, openRun, addPictureOptions, emit, intArg, makeLog, preflightOutput, type CommonOptions } from './options.js';

interface ReconstructOptions extends CommonOptions {
  run?: string;
  split?: string;
  limit?: number;
  out?: string;
  cols?: number;
  scale: number;
  padding: number;
  best?: boolean;
  prepare: string;
}

export function registerReconstruct(program: Command): void {
  const cmd = program
    .command('reconstruct')
    .description('inputs above their reconstructions (decoder mean at z = E[z|x]) as a PNG grid')
    .argument('[files...]', 'image files')
    .option('--split <name>', 'use a data set split instead of files: test, val or train')
    .option('--limit <n>', 'with --split: the first n images (default 16)', intArg('--limit', 1, 4096))
    .option('-o, --out <file>', 'write the picture here instead of stdout (PNG): .png, .jpg or .webp')
    .option('--prepare <how>', "image files: auto (prepared as the run's data set was, e.g. MNIST's centring) or none (resized only)", 'auto')
    .option('-q, --quiet', 'no messages on stderr')
    .option('-v, --verbose', 'more detail, and stack traces on errors')
    .addHelpText('after', '\nExamples:\n  vae reconstruct --split test --limit 32 > recon.png\n  vae reconstruct my-digit.png --scale 4 --out recon.png\n');
  addPictureOptions(cmd);
  addBackendOption(addRunOptions(cmd)).action(async (files: string[], opts: ReconstructOptions) => {
    const format = formatForOutput(opts.out, { can: ['png', 'jpeg', 'webp'], what: 'vae reconstruct' });
    preflightOutput(opts.out, { binary: true, label: 'PNG bytes', instead: 'vae reconstruct --split test > recon.png' });
    const prepare = checkPrepare(opts.prepare);
    const log = makeLog(opts);
    const { dir, run } = await openRun(opts, log);
    const inputs = await readInputs(run, { files, split: opts.split, limit: opts.limit, defaultLimit: 16, prepare });
    const { mu } = await encodeArrays(run.vae, inputs.images, inputs.n);
    const cols = opts.cols ?? Math.min(8, inputs.n);
    const { tiles, count } = pairRows(inputs.images, await decodeArrays(run.vae, mu, inputs.n), inputs.n, run.vae.spec.inputDim, cols);
    await emit(await convertStill(await gridPng(tiles, count, run.meta.dataShape, { cols, scale: opts.scale, padding: opts.padding }), format), opts.out);
    log.info(`reconstructed ${inputs.n} image${inputs.n === 1 ? '' : 's'} with ${dir}${opts.out ? ` to ${opts.out}` : ''}`);
  });
}
